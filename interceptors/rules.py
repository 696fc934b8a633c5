"""Access rules per method, read once from the services' descriptors (the `access` method option)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.descriptor import ServiceDescriptor

from marketplace.v1 import options_pb2
from marketplace.v1.options_pb2 import PrincipalKind, RateClass

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
_DEFAULT_CALLERS = frozenset(
    {PrincipalKind.PRINCIPAL_KIND_ADMIN, PrincipalKind.PRINCIPAL_KIND_VENDOR, PrincipalKind.PRINCIPAL_KIND_SERVICE}
)


@dataclass(frozen=True)
class MethodRule:
    method: str  # "/marketplace.v1.AuthService/WhoAmI"
    public: bool
    scopes: tuple[str, ...]
    callers: frozenset[PrincipalKind.ValueType]
    rate_class: str  # "" for unlimited

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
                access = options.Extensions[options_pb2.access]
                rules[name] = MethodRule(
                    method=name,
                    public=access.public,
                    scopes=tuple(access.scopes),
                    callers=frozenset(access.callers) or _DEFAULT_CALLERS,
                    rate_class=_RATE_CLASS_NAMES[access.rate_class],
                )
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
