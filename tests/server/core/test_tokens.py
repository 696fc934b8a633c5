from mlmp_server.core.tokens import TokenDigester, TokenType, hint, new_token, token_type_of


def test_new_tokens_carry_their_type_prefix_and_pass_their_checksum():
    for token_type in TokenType:
        token = new_token(token_type)
        assert token.startswith(f"{token_type.value}_")
        assert token_type_of(token) is token_type


def test_a_mistyped_character_fails_the_checksum():
    token = new_token(TokenType.API)
    middle = len(token) // 2
    typo = token[:middle] + ("a" if token[middle] != "a" else "b") + token[middle + 1 :]
    assert token_type_of(typo) is None


def test_foreign_or_truncated_strings_are_not_tokens():
    token = new_token(TokenType.API)
    for text in ("", "mpat_", token[:-1], "xxxx_" + token[5:], "ghp_abcdef", token + "0"):
        assert token_type_of(text) is None


def test_seeded_tokens_repeat_for_the_same_seed_only():
    key = b"k" * 32
    assert new_token(TokenType.API, b"seed-1", key) == new_token(TokenType.API, b"seed-1", key)
    assert new_token(TokenType.API, b"seed-1", key) != new_token(TokenType.API, b"seed-2", key)
    assert new_token(TokenType.API, b"seed-1", key) != new_token(TokenType.API, b"seed-1", b"j" * 32)


def test_digest_depends_on_the_server_key_and_hides_the_token():
    token = new_token(TokenType.API)
    one, other = TokenDigester(b"a" * 32), TokenDigester(b"b" * 32)
    assert one.digest(token) == one.digest(token)
    assert one.digest(token) != other.digest(token)
    assert token not in one.digest(token)


def test_hint_shows_only_prefix_and_last_four():
    token = new_token(TokenType.DEPLOYMENT)
    assert hint(token) == f"mpdt_…{token[-4:]}"
