"""Redaction: tokens and bearer values never reach a log line or an error message, even glued to other text."""


def test_redaction_hides_tokens_and_bearer_values():
    from mlmp_server.core.redaction import redact
    from mlmp_server.core.tokens import TokenType, new_token

    token = new_token(TokenType.API)
    text = redact(f"no vendor {token!r}; header was Bearer abc.def")
    assert token[5:] not in text
    assert "abc.def" not in text
    assert "mpat_[REDACTED]" in text


def test_redaction_hides_a_token_glued_to_other_text():
    from mlmp_server.core.redaction import redact
    from mlmp_server.core.tokens import TokenType, new_token

    token = new_token(TokenType.DEPLOYMENT)
    for text in (f"x{token}", f"run_{token}", f"{token}suffix", f"0{token}"):
        assert token[5:15] not in redact(f"no training run {text!r}"), text


def test_every_kind_of_token_is_redacted_invitation_codes_included():
    from mlmp_server.core.redaction import redact
    from mlmp_server.core.tokens import TokenType, new_token

    for token_type in TokenType:  # a new kind of secret without redaction fails here
        token = new_token(token_type)
        assert redact(f"POST /api/x?code={token}") == f"POST /api/x?code={token_type.value}_[REDACTED]"
