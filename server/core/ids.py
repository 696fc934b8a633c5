"""Resource ids: a readable type prefix and 80 random bits, e.g. `vnd_k3j9x2m4q8w1p7z5`."""

import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lowercase


def new_id(prefix: str) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(16))
