"""Every RPC of every service, as an admin, a vendor and a deployment, with requests built from its
descriptor (valid-shaped and hostile) and with raw bytes that may not parse at all: the server never
answers INTERNAL, UNKNOWN or UNAVAILABLE and never hands a token back in an error."""

from __future__ import annotations

import random

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers.fuzz.rpcs import CALLERS, FUZZ, RPCS, STREAMS, Rpc, call, verdict
from tests.helpers.fuzz.strategies import Drawn, requests
from tests.helpers.fuzz.world import World

pytestmark = [
    pytest.mark.e2e,
    # Hostile requests are large by design; hypothesis warns when it prints one.
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("rpc", RPCS, ids=str)
def test_fuzzed_requests_never_break_the_server(rpc: Rpc, caller: str, fuzz_channel: grpc.Channel, world: World):
    single = requests(rpc.method.input_type, world.pools)
    drawn = st.lists(single, min_size=1, max_size=3) if rpc.method.client_streaming else single.map(lambda d: [d])

    @(STREAMS if rpc.method.client_streaming or rpc.method.server_streaming else FUZZ)
    @given(drawn)
    def send(batch: list[Drawn]) -> None:
        error = call(fuzz_channel, rpc, [d.message.SerializeToString() for d in batch], world.callers[caller])
        verdict(rpc, caller, error, repr(batch), world.secrets)

    send()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


# Bytes that are not a message of the method, or not a message at all: protobuf's own edge cases.
GARBAGE: tuple[tuple[str, bytes], ...] = (
    ("empty", b""),
    ("all ones", b"\xff" * 16),
    ("field 1 invalid UTF-8", b"\x0a\x04\xff\xfe\xc0\x80"),
    ("field 2 invalid UTF-8", b"\x12\x02\xc3\x28"),
    ("length past the end", b"\x0a" + _varint(2**31) + b"abc"),
    ("unterminated varint", b"\x08" + b"\xff" * 11),
    ("wire type 7", b"\x0f\x00"),
    ("field number 0", b"\x00\x01"),
    ("open groups", b"\x0b" * 2000),
    ("nested 200 deep", b"".join(b"\x12" + _varint(2 * (199 - i)) for i in range(200))),
    ("unknown field of 1 MB", _varint(999 << 3 | 2) + _varint(1_000_000) + b"\x00" * 1_000_000),
    ("field 1 as fixed64", b"\x09" + b"\xff" * 8),
    ("random", random.Random(20261201).randbytes(512)),
)


@pytest.mark.parametrize("rpc", RPCS, ids=str)
def test_raw_garbage_never_breaks_the_server(rpc: Rpc, fuzz_channel: grpc.Channel, world: World):
    failures = []
    for name, garbage in GARBAGE:
        error = call(fuzz_channel, rpc, [garbage], world.callers["admin"])
        try:
            verdict(rpc, "admin", error, f"raw bytes: {name}", world.secrets)
        except AssertionError as failure:
            failures.append(str(failure))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("rpc", RPCS, ids=str)
@STREAMS
@given(garbage=st.binary(min_size=1, max_size=300))
def test_random_bytes_never_break_the_server(rpc: Rpc, garbage: bytes, fuzz_channel: grpc.Channel, world: World):
    error = call(fuzz_channel, rpc, [garbage], world.callers["vendor"])
    verdict(rpc, "vendor", error, f"raw bytes {garbage[:40]!r} ({len(garbage)} bytes)", world.secrets)
