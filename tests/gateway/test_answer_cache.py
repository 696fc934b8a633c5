"""The gateway keeps the JSON of repeated read answers, and never the answers of writes (which may carry secrets)."""

import httpx


def test_get_answers_are_kept_and_write_answers_are_not(gateway):
    secret = "mpk_never_kept_after_answering"
    created = httpx.post(gateway.url + "/v1/things", json={"id": "t-secret", "name": secret})
    assert created.status_code == 200
    assert secret in created.text
    assert not [body for body in gateway.gateway.kept_answers() if secret.encode() in body]
    read = httpx.get(gateway.url + "/v1/things/t-kept")
    assert read.status_code == 200
    assert read.content in gateway.gateway.kept_answers()
