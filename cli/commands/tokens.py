"""`mp tokens …`: a vendor's own API tokens (the calling token needs `tokens:read` / `tokens:write`);
and the option parsers and table that `mp admin tokens` shares."""

from __future__ import annotations

import uuid

import click

from mlmp_cli import output
from mlmp_cli.context import Context, pass_context
from mlmp_cli.display import when
from mlmp_cli.output import json_option


def all_pages(ctx: Context, method, request, field: str) -> list:
    items: list = []
    while True:
        response = ctx.call(method, request)
        items.extend(getattr(response, field))
        if not response.next_page_token:
            return items
        request.page_token = response.next_page_token


def parse_scopes(_ctx, _param, value: str) -> list[str]:
    return [scope.strip() for scope in value.replace(" ", ",").split(",") if scope.strip()]


def parse_ttl(_ctx, param, value: str | None):
    if value is None:
        return None
    from google.protobuf.duration_pb2 import Duration

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = value.strip().lower()
    try:
        seconds = int(float(text[:-1]) * units[text[-1]]) if text[-1:] in units else int(text)
    except (ValueError, KeyError):
        raise click.BadParameter(f"{value!r} is not a duration; use e.g. 90d, 12h or 3600", param=param) from None
    if seconds <= 0:
        raise click.BadParameter("must be positive", param=param)
    return Duration(seconds=seconds)


def token_table(rows: list, *, with_vendor: bool) -> None:
    headers = ["ID", *(["VENDOR"] if with_vendor else []), "SCOPES", "HINT", "NAME", "EXPIRES", "REVOKED"]
    output.table(
        headers,
        [
            (
                t.id,
                *([t.vendor_slug or "-"] if with_vendor else []),
                ",".join(t.scopes),
                t.hint,
                t.display_name + (f" (session of {t.parent_token_id})" if t.parent_token_id else ""),
                when(t.expire_time),
                when(t.revoke_time),
            )
            for t in rows
        ],
    )


@click.group()
def tokens() -> None:
    """Your vendor's API tokens: list, create (with scopes your token has) and revoke.

    The token you are logged in with needs the scope tokens:write (tokens:read to list);
    an operator gives it with `mp admin tokens create --vendor ... --scopes ...,tokens:write`.
    """


@tokens.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
@json_option
@pass_context
def tokens_list(ctx: Context, include_revoked: bool, as_json: bool) -> None:
    """List your vendor's API tokens, browser sessions included (never their secrets).

    \b
    Examples:
      mp tokens list
      mp tokens list --all --json
    """
    from mlmp_marketplace.v1 import auth_pb2

    request = auth_pb2.ListMyApiTokensRequest(include_revoked=include_revoked, page_size=500)
    rows = all_pages(ctx, ctx.auth.ListMyApiTokens, request, "tokens")
    if as_json:
        output.emit_json([output.to_dict(t) for t in rows])
    else:
        token_table(rows, with_vendor=False)


@tokens.command("create")
@click.option(
    "--scopes",
    required=True,
    callback=parse_scopes,
    help="Comma-separated, only scopes your own token has, e.g. catalog:read,data:read. x:write implies x:read.",
)
@click.option("--name", default="", help="A label shown in token lists.")
@click.option(
    "--expires-in",
    "ttl",
    callback=parse_ttl,
    help="Lifetime, e.g. 30d or 12h; at most 365d and never past your own token. Default: 90d.",
)
@json_option
@pass_context
def tokens_create(ctx: Context, scopes: list[str], name: str, ttl, as_json: bool) -> None:
    """Create a token of your vendor. It is printed once; the server keeps only a digest.

    \b
    Examples:
      mp tokens create --scopes catalog:read,data:read --name ci --expires-in 30d
      mp tokens create --scopes deploy:write --json
    """
    from mlmp_marketplace.v1 import auth_pb2

    request = auth_pb2.CreateMyApiTokenRequest(request_id=str(uuid.uuid4()), scopes=scopes, display_name=name, ttl=ttl)
    response = ctx.call(ctx.auth.CreateMyApiToken, request)
    if as_json:
        output.emit_json(output.to_dict(response))
        return
    output.echo(response.secret)
    output.note(
        f"Token {response.token.id}, scopes {' '.join(response.token.scopes)}, expires "
        f"{when(response.token.expire_time)}. It is shown only now; store it somewhere safe."
    )


@tokens.command("revoke")
@click.argument("token_id")
@json_option
@pass_context
def tokens_revoke(ctx: Context, token_id: str, as_json: bool) -> None:
    """Revoke your vendor's token TOKEN_ID (tok_…) at once, with the browser sessions signed in with it.

    \b
    Example:
      mp tokens revoke tok_123
    """
    from mlmp_marketplace.v1 import auth_pb2

    token = ctx.call(ctx.auth.RevokeMyApiToken, auth_pb2.RevokeApiTokenRequest(token_id=token_id))
    if as_json:
        output.emit_json(output.to_dict(token))
    else:
        output.echo(f"Revoked {token.id}.")
