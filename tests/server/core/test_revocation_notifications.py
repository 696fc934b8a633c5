"""Revocations and the notification bus: what this replica does is told to the others, what another replica
did is done here without being told on, and missed notifications cost every cached answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.core.errors import Unauthenticated
from mlmp_server.core.notifications import REVOCATIONS, Background
from mlmp_server.core.principal import CallPrincipal, Principal
from mlmp_server.core.revocation import Revocations
from mlmp_server.core.streams import OpenStreams


class Bus:
    """Records what is sent; hands the test the handlers, to play another replica's notifications."""

    connected = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.handlers: dict[str, Callable[[str], None]] = {}
        self.gaps: list[Callable[[], None]] = []

    def on(self, channel: str, handler: Callable[[str], None], on_gap: Callable[[], None] | None = None) -> None:
        self.handlers[channel] = handler
        if on_gap is not None:
            self.gaps.append(on_gap)

    async def send(self, channel: str, payload: str) -> None:
        self.sent.append((channel, payload))

    async def send_in(self, session: object, channel: str, payload: str) -> None:
        self.sent.append((channel, payload))

    def send_soon(self, channel: str, payload: str) -> None:
        self.sent.append((channel, payload))

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


class Cache:
    def __init__(self) -> None:
        self.forgotten: list[str] = []

    def forget_token(self, token_id: str) -> int:
        self.forgotten.append(f"token {token_id}")
        return 1

    def forget_run(self, run_id: str) -> int:
        self.forgotten.append(f"run {run_id}")
        return 1

    def forget_vendor(self, vendor_id: str) -> int:
        self.forgotten.append(f"vendor {vendor_id}")
        return 1

    def forget_deployment(self, deployment_id: str) -> int:
        self.forgotten.append(f"deployment {deployment_id}")
        return 1

    def forget_refusals(self) -> int:
        self.forgotten.append("refusals")
        return 1

    def forget_all(self) -> int:
        self.forgotten.append("all")
        return 1


def vendor_stream(streams: OpenStreams, token_id: str, vendor_id: str = "ven_acme"):
    principal = Principal(token_id, PrincipalKind.PRINCIPAL_KIND_VENDOR, frozenset(), vendor_id=vendor_id)
    return streams.open("/m", CallPrincipal(principal), client_stream=True)


def test_a_local_revocation_acts_here_and_tells_the_other_replicas_once():
    async def scenario() -> None:
        bus, cache, streams = Bus(), Cache(), OpenStreams()
        changes: list[str] = []
        revocations = Revocations(cache, streams, bus, on_vendor_or_deployment_change=lambda: changes.append("x"))
        stream = vendor_stream(streams, "tok_1")
        assert revocations.token_revoked("tok_1") == 1
        revocations.vendor_suspended("ven_acme")
        revocations.vendor_resumed()
        assert isinstance(stream.ending, Unauthenticated)
        assert cache.forgotten == ["token tok_1", "vendor ven_acme", "refusals"]
        assert bus.sent == [
            (REVOCATIONS, "token_revoked tok_1"),
            (REVOCATIONS, "vendor_suspended ven_acme"),
            (REVOCATIONS, "vendor_resumed -"),
        ]
        assert changes == ["x", "x"]  # the catalog's answers went with the vendor's suspension and resumption

    asyncio.run(scenario())


def test_another_replicas_revocation_is_done_here_and_not_told_on():
    async def scenario() -> None:
        bus, cache, streams = Bus(), Cache(), OpenStreams()
        Revocations(cache, streams, bus)
        revoked, other = vendor_stream(streams, "tok_1"), vendor_stream(streams, "tok_2", "ven_other")
        deployment = streams.open(
            "/m", CallPrincipal(Principal("tok_d", PrincipalKind.PRINCIPAL_KIND_DEPLOYMENT, frozenset(),
                                          vendor_id="ven_x", deployment_id="dep_1")), client_stream=True
        )  # fmt: skip
        bus.handlers[REVOCATIONS]("token_rotated tok_1")
        bus.handlers[REVOCATIONS]("deployment_removed dep_1")
        bus.handlers[REVOCATIONS]("no_such_event x")  # a newer replica's kind: ignored, nothing breaks
        await asyncio.sleep(0)
        assert isinstance(revoked.ending, Unauthenticated)
        assert "rotated" in str(revoked.ending)
        assert isinstance(deployment.ending, Unauthenticated)
        assert other.ending is None
        assert cache.forgotten == ["token tok_1", "deployment dep_1"]
        assert bus.sent == []

    asyncio.run(scenario())


def test_missed_notifications_forget_every_cached_answer():
    bus, cache = Bus(), Cache()
    changes: list[str] = []
    Revocations(cache, OpenStreams(), bus, on_vendor_or_deployment_change=lambda: changes.append("x"))
    for gap in bus.gaps:
        gap()
    assert cache.forgotten == ["all"]
    assert changes == ["x"]


def test_after_a_gap_open_streams_on_tokens_no_longer_valid_end_and_the_others_stay():
    async def scenario() -> None:
        bus, streams = Bus(), OpenStreams()
        opened_meanwhile: list = []

        async def still_valid(principals: list[Principal]) -> set[str]:
            # A stream opened while the check runs was let in by a fresh introspection: it is not judged.
            opened_meanwhile.append(vendor_stream(streams, "tok_new"))
            return {"tok_kept"} & {principal.token_id for principal in principals}

        revocations = Revocations(Cache(), streams, bus, still_valid=still_valid)
        revoked, kept = vendor_stream(streams, "tok_revoked"), vendor_stream(streams, "tok_kept")
        assert await revocations.recheck_streams() == 1
        assert isinstance(revoked.ending, Unauthenticated)
        assert "no longer valid" in str(revoked.ending)
        assert kept.ending is None
        assert opened_meanwhile[0].ending is None
        assert bus.sent == []  # nothing to tell: every replica re-checks its own

    asyncio.run(scenario())


def test_a_background_send_that_fails_is_tried_again():
    async def scenario() -> None:
        class Flaky(Bus):
            failures = 2

            async def send(self, channel: str, payload: str) -> None:
                if self.failures:
                    self.failures -= 1
                    raise ConnectionError("lost under it")
                await super().send(channel, payload)

        bus = Flaky()
        sends = Background(bus)
        sends.send(REVOCATIONS, "token_revoked tok_1")
        await sends.drain(timeout=5)
        assert bus.sent == [(REVOCATIONS, "token_revoked tok_1")]

    asyncio.run(scenario())
