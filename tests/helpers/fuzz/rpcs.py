"""Every RPC of the contract, callable with any request (or raw bytes), and the judgement of an outcome:
a status that says the server broke (INTERNAL, UNKNOWN, UNAVAILABLE) or an error carrying a token fails."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf.descriptor import MethodDescriptor
from hypothesis import HealthCheck, settings

from mlmp_server.grpc_server import SERVICES

BROKEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE}
CALL_TIMEOUT = 20.0
STREAM_READ = 0.3  # how long a server stream is read before the call is cancelled

# Deterministic in CI; `MP_FUZZ_PROFILE=long` (or a number of examples) for a longer local hunt.
settings.register_profile(
    "fuzz-ci",
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
settings.register_profile("fuzz-long", parent=settings.get_profile("fuzz-ci"), max_examples=300, derandomize=False)
_PROFILE = os.environ.get("MP_FUZZ_PROFILE", "ci")
FUZZ = (
    settings(settings.get_profile("fuzz-ci"), max_examples=int(_PROFILE))
    if _PROFILE.isdigit()
    else settings.get_profile(f"fuzz-{_PROFILE}")
)
STREAMS = settings(FUZZ, max_examples=max(2, FUZZ.max_examples // 2))


@dataclass(frozen=True)
class Rpc:
    method: MethodDescriptor

    @property
    def path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def name(self) -> str:
        return f"{self.method.containing_service.name}.{self.method.name}"

    @property
    def arity(self) -> str:
        client, server = self.method.client_streaming, self.method.server_streaming
        return {(False, False): "unary_unary", (False, True): "unary_stream",
                (True, False): "stream_unary", (True, True): "stream_stream"}[(client, server)]  # fmt: skip

    def __str__(self) -> str:
        return self.name


RPCS: tuple[Rpc, ...] = tuple(Rpc(method) for service in SERVICES for method in service.methods)
CALLERS = ("admin", "vendor", "deployment")


def call(channel: grpc.Channel, rpc: Rpc, messages: Sequence[bytes], token: str) -> grpc.RpcError | None:
    """Sends serialized request(s) the way the RPC's arity wants; the error it ended with, if any.

    A server stream (the endless watch and subscribe) is read until a short deadline ends it."""
    metadata = (("authorization", f"Bearer {token}"),)
    stub = getattr(channel, rpc.arity)(rpc.path, request_serializer=None, response_deserializer=None)
    try:
        if rpc.arity == "unary_unary":
            stub(messages[0], metadata=metadata, timeout=CALL_TIMEOUT)
        elif rpc.arity == "stream_unary":
            stub(iter(messages), metadata=metadata, timeout=CALL_TIMEOUT)
        elif rpc.arity == "stream_stream":
            _drain(stub(iter(messages), metadata=metadata, timeout=CALL_TIMEOUT))
        else:
            _drain(stub(messages[0], metadata=metadata, timeout=STREAM_READ))
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED and rpc.arity == "unary_stream":
            return None  # still streaming: what an endless stream does
        return error
    return None


def _drain(responses: Iterator[bytes]) -> None:
    for _ in responses:
        pass


def verdict(rpc: Rpc, caller: str, error: grpc.RpcError | None, described: str, secrets: Sequence[str]) -> None:
    if error is None:
        return
    code, details = error.code(), error.details() or ""
    assert code not in BROKEN, f"{rpc} as {caller}: {code.name} {details[:300]!r} for {described}"
    leaked = [secret[:8] + "…" for secret in secrets if secret in details]
    assert not leaked, f"{rpc} as {caller}: the error's details carry tokens {leaked}: {details[:300]!r}"
