"""Signed URLs: what verifies, and key rotation (old keys verify until retired)."""

import pytest

from mlmp_server.blobs.signing import SignatureRefused, SigningKey, UrlSigner, parse_signing_keys
from mlmp_server.core.clock import ManualClock

OLD = SigningKey("k1", b"o" * 32)
NEW = SigningKey("k2", b"n" * 32)


def query_of(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split("&"))


def test_a_url_verifies_for_its_method_and_path_until_it_expires():
    clock = ManualClock()
    signer = UrlSigner([OLD], clock)
    query, expires = signer.sign("GET", "/blobs/a.csv", 60)
    assert expires == int(clock.now) + 60
    signer.verify("GET", "/blobs/a.csv", query_of(query))
    signer.verify("HEAD", "/blobs/a.csv", query_of(query))  # HEAD probes a GET link
    for method, path in (("POST", "/blobs/a.csv"), ("GET", "/blobs/b.csv"), ("GET", "/blobs/a.csv/")):
        with pytest.raises(SignatureRefused):
            signer.verify(method, path, query_of(query))
    clock.advance(60)
    with pytest.raises(SignatureRefused, match="expired"):
        signer.verify("GET", "/blobs/a.csv", query_of(query))


def test_rotation_old_links_verify_until_their_key_is_retired():
    old_link, _ = UrlSigner([OLD]).sign("GET", "/blobs/a.csv", 600)
    rotated = UrlSigner([NEW, OLD])  # the new key signs; the old one still verifies
    rotated.verify("GET", "/blobs/a.csv", query_of(old_link))
    new_link, _ = rotated.sign("GET", "/blobs/a.csv", 600)
    assert query_of(new_link)["kid"] == "k2"
    retired = UrlSigner([NEW])
    retired.verify("GET", "/blobs/a.csv", query_of(new_link))
    with pytest.raises(SignatureRefused, match="retired key"):
        retired.verify("GET", "/blobs/a.csv", query_of(old_link))


def test_signing_keys_setting_is_checked():
    assert [k.key_id for k in parse_signing_keys(f"k2:{'n' * 32},k1:{'o' * 32}")] == ["k2", "k1"]
    for bad in ("k1", "k1:short", f":{'x' * 32}"):
        with pytest.raises(ValueError, match="MP_SIGNING_KEYS"):
            parse_signing_keys(bad)


@pytest.mark.parametrize("signature", ["\u00e9" * 43, "\u00b3", "", "\udcff"])
def test_a_non_ascii_or_odd_signature_is_refused_not_a_crash(signature):
    signer = UrlSigner([OLD])
    query = query_of(signer.sign("GET", "/blobs/a.csv", 60)[0])
    with pytest.raises(SignatureRefused):
        signer.verify("GET", "/blobs/a.csv", {**query, "sig": signature})
    with pytest.raises(SignatureRefused):
        signer.verify("GET", "/blobs/a.csv", {**query, "kid": "\u00e9"})


@pytest.mark.parametrize("spelling", ["0{}", " {}", "{} ", "+{}", "{}.0", "{}_0", "\u0661{}", "-{}"])
def test_the_expiry_is_read_strictly(spelling):
    """The MAC covers the expiry's digits as signed: another spelling of the same number is refused."""
    signer = UrlSigner([OLD])
    query = query_of(signer.sign("GET", "/blobs/a.csv", 60)[0])
    signer.verify("GET", "/blobs/a.csv", query)
    with pytest.raises(SignatureRefused, match="malformed"):
        signer.verify("GET", "/blobs/a.csv", {**query, "expires": spelling.format(query["expires"])})
