"""One command's way to the marketplace: the session, opened on first use, and a stub per service.

Click hands it to each command (`@pass_context`); the root group closes it when the command ends.
Nothing here imports grpc or the generated code until a command calls out, so `mp --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from mlmp_cli.client import Endpoint, Session
    from mlmp_cli.config import Credentials
    from mlmp_marketplace.v1 import (
        auth_pb2_grpc,
        catalog_pb2_grpc,
        datasets_pb2_grpc,
        deployments_pb2_grpc,
        market_pb2_grpc,
        signals_pb2_grpc,
        training_pb2_grpc,
    )

DEFAULT_TIMEOUT = 30.0


class Context:
    def __init__(self, credentials: Credentials | None = None) -> None:
        self._credentials = credentials  # None: the stored ones, with MP_API_URL / MP_TOKEN on top
        self._session: Session | None = None
        self._stubs: dict[str, Any] = {}

    @property
    def session(self) -> Session:
        if self._session is None:
            from mlmp_cli.client import connect

            self._session = connect(self._credentials)
        return self._session

    @property
    def endpoint(self) -> Endpoint:
        return self.session.endpoint

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The token, for streaming calls made on a stub directly."""
        return self.session.metadata

    def call(self, method: Any, request: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """A unary (or client-streaming) call with the token and a deadline; failures in words."""
        return self.session.call(method, request, timeout)

    def translate_errors(self) -> Any:
        """For streams read by the command: gRPC failures while iterating, in words."""
        from mlmp_cli.client import translate_errors

        return translate_errors(self.endpoint)

    def _stub(self, module: str, name: str) -> Any:
        if name not in self._stubs:
            generated = importlib.import_module(f"mlmp_marketplace.v1.{module}")
            self._stubs[name] = getattr(generated, name)(self.session.channel)
        return self._stubs[name]

    @property
    def auth(self) -> auth_pb2_grpc.AuthServiceStub:
        return self._stub("auth_pb2_grpc", "AuthServiceStub")

    @property
    def datasets(self) -> datasets_pb2_grpc.DatasetServiceStub:
        return self._stub("datasets_pb2_grpc", "DatasetServiceStub")

    @property
    def training(self) -> training_pb2_grpc.TrainingServiceStub:
        return self._stub("training_pb2_grpc", "TrainingServiceStub")

    @property
    def deployments(self) -> deployments_pb2_grpc.DeploymentServiceStub:
        return self._stub("deployments_pb2_grpc", "DeploymentServiceStub")

    @property
    def signals(self) -> signals_pb2_grpc.SignalServiceStub:
        return self._stub("signals_pb2_grpc", "SignalServiceStub")

    @property
    def catalog(self) -> catalog_pb2_grpc.CatalogServiceStub:
        return self._stub("catalog_pb2_grpc", "CatalogServiceStub")

    @property
    def market(self) -> market_pb2_grpc.MarketServiceStub:
        return self._stub("market_pb2_grpc", "MarketServiceStub")

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session, self._stubs = None, {}

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# The command's Context as its first argument; one is made if the command runs outside the `mp` group.
pass_context = click.make_pass_decorator(Context, ensure=True)
