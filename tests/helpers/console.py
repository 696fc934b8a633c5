"""The console as its tests drive it: the public REST API with a token, and signing in through the page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Api:
    """The public REST API as a test calls it, with the server's admin token by default."""

    base: str
    token: str

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        answer = httpx.request(method, self.base + path, json=body, headers=headers, timeout=10)
        assert answer.status_code == 200, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json()

    def vendor(self, slug: str, display_name: str, scopes: tuple[str, ...] = ("deploy:write",)) -> str:
        """Creates a vendor and returns a token of it with `scopes`."""
        self.call("POST", "/api/admin/vendors", {"slug": slug, "displayName": display_name})
        return self.call("POST", "/api/admin/tokens", {"vendor": slug, "scopes": list(scopes)})["secret"]

    def deployment(self, vendor_token: str, name: str) -> tuple[str, str]:
        created = self.call("POST", "/api/deployments", {"provider": "local", "name": name}, token=vendor_token)
        return created["deployment"]["id"], created["token"]

    def store_signal(self, deployment_token: str, symbol: str, **fields: Any) -> None:
        body = {"signals": [{"symbol": symbol, "action": "ACTION_BUY", "score": 0.42, "confidence": 0.8, **fields}]}
        stored = self.call("POST", "/api/signals/store", body, token=deployment_token)
        assert stored["accepted"] == 1, stored


def sign_in(page: Any, base: str, token: str, path: str = "/marketplace") -> Any:
    """Opens `path`, pastes the token into the sign-in form; returns the page's first response."""
    response = page.goto(base + path)
    page.fill("#token", token)
    page.click(".signin-form button[type=submit]")
    page.wait_for_selector("#sign-out")
    return response
