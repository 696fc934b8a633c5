"""Access rules per method, read once from the services' descriptors (the `access` method option).

A contract mistake stops start-up: a method without a rule, a non-public rule naming no callers, an
owner field that is not a string field of the request, or a vendor-owned object open to service tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from mlmp_marketplace.v1 import (
    auth_pb2,
    catalog_pb2,
    datasets_pb2,
    deployments_pb2,
    features_pb2,
    market_pb2,
    options_pb2,
    signals_pb2,
    training_pb2,
)
from mlmp_marketplace.v1.options_pb2 import OwnedKind, PrincipalKind, RateClass

# Standard services we host but do not describe: health checks and reflection are public.
PUBLIC_FOREIGN_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

_RATE_CLASS_NAMES = {
    RateClass.RATE_CLASS_UNSPECIFIED: "read",
    RateClass.RATE_CLASS_READ: "read",
    RateClass.RATE_CLASS_WRITE: "write",
    RateClass.RATE_CLASS_SIGNAL_INGEST: "signal_ingest",
    RateClass.RATE_CLASS_UNLIMITED: "",
}


@dataclass(frozen=True)
class Owner:
    """The vendor-owned object a request addresses: its kind and the path of the field holding its id."""

    kind: OwnedKind.ValueType
    path: tuple[str, ...]  # ("header", "run_id")

    @property
    def field(self) -> str:
        return ".".join(self.path)

    def object_id(self, request: Message | None) -> str:
        """The addressed id; "" when the request (or a client stream's first message) names none."""
        value: object = request
        for name in self.path:
            if value is None:
                return ""
            value = getattr(value, name)
        return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class MethodRule:
    method: str  # "/marketplace.v1.AuthService/WhoAmI"
    public: bool
    scopes: tuple[str, ...]
    callers: frozenset[PrincipalKind.ValueType]
    rate_class: str  # "" for unlimited
    owner: Owner | None = None

    @property
    def short_name(self) -> str:
        return self.method.rsplit("/", 1)[-1]


PUBLIC_RULE = MethodRule("", public=True, scopes=(), callers=frozenset(), rate_class="")


class MethodRules:
    def __init__(self, rules: dict[str, MethodRule]) -> None:
        self._rules = rules

    @classmethod
    def from_services(cls, services: Iterable[ServiceDescriptor]) -> MethodRules:
        rules: dict[str, MethodRule] = {}
        missing: list[str] = []
        for service in services:
            for method in service.methods:
                name = f"/{service.full_name}/{method.name}"
                options = method.GetOptions()
                if not options.HasExtension(options_pb2.access):
                    missing.append(name)
                    continue
                rules[name] = _rule(name, method, options.Extensions[options_pb2.access])
        if missing:
            raise ValueError(f"methods without an (access) option: {', '.join(missing)}")
        return cls(rules)

    def get(self, method: str) -> MethodRule | None:
        """The method's rule; None for a method nobody described (callers must then refuse it)."""
        rule = self._rules.get(method)
        if rule is None and method.startswith(PUBLIC_FOREIGN_SERVICES):
            return PUBLIC_RULE
        return rule

    def __iter__(self):
        return iter(self._rules.values())


def _rule(name: str, method: MethodDescriptor, access: options_pb2.AccessRule) -> MethodRule:
    callers = frozenset(access.callers)
    if not access.public and not callers:
        raise ValueError(f"{name}: its (access) option names no callers; list the token kinds that may call it")
    owner = _owner(name, method, access) if access.HasField("owner") else None
    if owner is not None and PrincipalKind.PRINCIPAL_KIND_SERVICE in callers:
        raise ValueError(f"{name} addresses a vendor's {_kind_name(owner.kind)}, which service tokens never reach")
    return MethodRule(
        method=name,
        public=access.public,
        scopes=tuple(access.scopes),
        callers=callers,
        rate_class=_RATE_CLASS_NAMES[access.rate_class],
        owner=owner,
    )


def _owner(name: str, method: MethodDescriptor, access: options_pb2.AccessRule) -> Owner:
    if access.public:
        raise ValueError(f"{name} is public, so it cannot address a vendor's object")
    if access.owner.kind == OwnedKind.OWNED_KIND_UNSPECIFIED:
        raise ValueError(f"{name}: its owner names no kind of object")
    path = tuple(access.owner.field.split("."))
    message: Descriptor | None = method.input_type
    for position, part in enumerate(path):
        field = message.fields_by_name.get(part) if message is not None else None
        last = position == len(path) - 1
        wanted = FieldDescriptor.TYPE_STRING if last else FieldDescriptor.TYPE_MESSAGE
        if field is None or field.type != wanted or field.is_repeated:
            raise ValueError(
                f"{name}: owner field {access.owner.field!r} is not a string field of {method.input_type.full_name}"
            )
        message = field.message_type
    return Owner(kind=access.owner.kind, path=path)


def _kind_name(kind: OwnedKind.ValueType) -> str:
    return OwnedKind.Name(kind).removeprefix("OWNED_KIND_").lower()


def contract_services() -> tuple[ServiceDescriptor, ...]:
    """Every service of the contract (marketplace.v1), the ones whose (access) rules the server enforces."""
    return tuple(
        service
        for module in (auth_pb2, catalog_pb2, datasets_pb2, training_pb2, deployments_pb2, signals_pb2, market_pb2,
                       features_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
    )
