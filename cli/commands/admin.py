"""`mp admin …`: operator commands (need a token with the admin scope)."""

from __future__ import annotations

import uuid

import click

from cli import output
from cli.commands.rounds_admin import rounds
from cli.output import json_option


def _auth_stub(session):
    from marketplace.v1 import auth_pb2_grpc

    return auth_pb2_grpc.AuthServiceStub(session.channel)


def _all_pages(session, method, request, field: str) -> list:
    items: list = []
    while True:
        response = session.call(method, request)
        items.extend(getattr(response, field))
        if not response.next_page_token:
            return items
        request.page_token = response.next_page_token


def _when(stamp, has: bool) -> str:
    return stamp.ToDatetime().strftime("%Y-%m-%d %H:%M") if has else "-"


@click.group()
def admin() -> None:
    """Operator commands: vendors, API tokens, dataset rounds."""


admin.add_command(rounds)


@admin.group()
def vendors() -> None:
    """Create and list vendors."""


@vendors.command("create")
@click.argument("slug")
@click.option("--display-name", required=True, help='Shown next to every signal, e.g. "Acme Quant".')
@json_option
def vendors_create(slug: str, display_name: str, as_json: bool) -> None:
    """Create a vendor with the handle SLUG (lowercase letters, digits, '-'). Prints its id."""
    from cli.client import open_session
    from marketplace.v1 import auth_pb2

    request = auth_pb2.CreateVendorRequest(request_id=str(uuid.uuid4()), slug=slug, display_name=display_name)
    with open_session() as session:
        vendor = session.call(_auth_stub(session).CreateVendor, request)
    if as_json:
        output.emit_json(output.to_dict(vendor))
    else:
        output.echo(vendor.id)
        output.note(f"Created vendor {vendor.slug} ({vendor.display_name}).")
        output.note(f"Next: mp admin tokens create --vendor {vendor.slug} --scopes catalog:read,data:read,...")


@vendors.command("list")
@json_option
def vendors_list(as_json: bool) -> None:
    """List vendors, oldest first."""
    from cli.client import open_session
    from marketplace.v1 import auth_pb2

    with open_session() as session:
        rows = _all_pages(
            session, _auth_stub(session).ListVendors, auth_pb2.ListVendorsRequest(page_size=500), "vendors"
        )
    if as_json:
        output.emit_json([output.to_dict(v) for v in rows])
        return
    output.table(
        ["SLUG", "DISPLAY NAME", "ID", "CREATED"],
        [(v.slug, v.display_name, v.id, _when(v.create_time, v.HasField("create_time"))) for v in rows],
        empty="No vendors yet. Create one: mp admin vendors create SLUG --display-name NAME",
    )


@admin.group()
def tokens() -> None:
    """Create, list and revoke API tokens."""


def _parse_scopes(_ctx, _param, value: str) -> list[str]:
    return [scope.strip() for scope in value.replace(" ", ",").split(",") if scope.strip()]


def _parse_ttl(_ctx, param, value: str | None):
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


@tokens.command("create")
@click.option("--vendor", default="", help="Vendor slug or id. Omit for a platform token (operators: add admin).")
@click.option(
    "--scopes",
    required=True,
    callback=_parse_scopes,
    help="Comma-separated, e.g. catalog:read,data:read,training:write,deploy:write. x:write implies x:read.",
)
@click.option("--name", default="", help="A label shown in token lists.")
@click.option("--expires-in", "ttl", callback=_parse_ttl, help="Lifetime, e.g. 90d or 12h. Default: never expires.")
@json_option
def tokens_create(vendor: str, scopes: list[str], name: str, ttl, as_json: bool) -> None:
    """Issue an API token. The token is printed once; the server keeps only a digest."""
    from cli.client import open_session
    from marketplace.v1 import auth_pb2

    request = auth_pb2.CreateApiTokenRequest(
        request_id=str(uuid.uuid4()), vendor=vendor, scopes=scopes, display_name=name, ttl=ttl
    )
    with open_session() as session:
        response = session.call(_auth_stub(session).CreateApiToken, request)
    if as_json:
        output.emit_json(output.to_dict(response))
        return
    owner = response.token.vendor_slug or "the platform"
    output.echo(response.secret)
    output.note(
        f"Token {response.token.id} for {owner}, scopes {' '.join(response.token.scopes)}. "
        "It is shown only now; store it somewhere safe."
    )


@tokens.command("list")
@click.option("--vendor", default="", help="Only this vendor's tokens (slug or id).")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
@json_option
def tokens_list(vendor: str, include_revoked: bool, as_json: bool) -> None:
    """List API tokens (never their secrets)."""
    from cli.client import open_session
    from marketplace.v1 import auth_pb2

    request = auth_pb2.ListApiTokensRequest(vendor=vendor, include_revoked=include_revoked, page_size=500)
    with open_session() as session:
        rows = _all_pages(session, _auth_stub(session).ListApiTokens, request, "tokens")
    if as_json:
        output.emit_json([output.to_dict(t) for t in rows])
        return
    output.table(
        ["ID", "VENDOR", "SCOPES", "HINT", "NAME", "EXPIRES", "REVOKED"],
        [
            (
                t.id,
                t.vendor_slug or "-",
                ",".join(t.scopes),
                t.hint,
                t.display_name,
                _when(t.expire_time, t.HasField("expire_time")),
                _when(t.revoke_time, t.HasField("revoke_time")),
            )
            for t in rows
        ],
    )


@tokens.command("revoke")
@click.argument("token_id")
@json_option
def tokens_revoke(token_id: str, as_json: bool) -> None:
    """Revoke the token TOKEN_ID (tok_…) at once."""
    from cli.client import open_session
    from marketplace.v1 import auth_pb2

    with open_session() as session:
        token = session.call(_auth_stub(session).RevokeApiToken, auth_pb2.RevokeApiTokenRequest(token_id=token_id))
    if as_json:
        output.emit_json(output.to_dict(token))
    else:
        output.echo(f"Revoked {token.id}.")
