"""Authentication and authorisation of every call, from the method's `access` option.

bearer token → introspection (cached) → caller kind and scopes checked → principal set for the call.
Missing, malformed, unknown, expired or revoked tokens (and a suspended vendor's) are UNAUTHENTICATED; a
valid token that may not call the method is PERMISSION_DENIED.
"""

from __future__ import annotations

from typing import Any

import grpc

from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.core.contract import MethodRules
from mlmp_server.core.errors import PermissionDenied, Unauthenticated
from mlmp_server.core.principal import Introspector, set_principal


def bearer_token(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("the authorization header must be `Bearer <token>`")
            return token.strip()
    return None


def kind_name(kind: PrincipalKind.ValueType) -> str:
    return PrincipalKind.Name(kind).removeprefix("PRINCIPAL_KIND_").lower()


def _kinds(kinds: frozenset[PrincipalKind.ValueType]) -> str:
    names = [kind_name(kind) for kind in sorted(kinds)]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f"{'an' if listed[0] in 'aeiou' else 'a'} {listed} token"


class AuthCheck:
    def __init__(self, rules: MethodRules, introspector: Introspector) -> None:
        self._rules = rules
        self._introspector = introspector

    async def __call__(self, method: str, context: grpc.aio.ServicerContext) -> None:
        rule = self._rules.get(method)
        if rule is None:
            raise PermissionDenied(f"{method} has no access rule, so nobody may call it")
        if rule.public:
            return
        token = bearer_token(context.invocation_metadata())
        if token is None:
            raise Unauthenticated("this call needs a token: send the metadata `authorization: Bearer <token>`")
        principal = await self._introspector.introspect(token)
        if principal is None:
            raise Unauthenticated("the token is not valid: unknown, expired or revoked, or its vendor is suspended")
        set_principal(principal)  # before the checks, so a refusal is logged with who was refused
        reasons = []  # both, when both apply: a token of the right kind still needs the scope
        if principal.kind not in rule.callers:
            kind = kind_name(principal.kind)
            article = "an" if kind[0] in "aeiou" else "a"
            reasons.append(f"{article} {kind} token cannot call {rule.short_name}: it takes {_kinds(rule.callers)}")
        missing = principal.missing_scopes(rule.scopes)
        if missing:
            reasons.append(f"{rule.short_name} needs the scope {', '.join(missing)}, which this token lacks")
        if reasons:
            raise PermissionDenied("; ".join(reasons))
