"""`mp admin …`: operator commands (need a token with the admin scope)."""

from __future__ import annotations

import uuid

import click

from cli import output
from cli.commands.rounds_admin import rounds
from cli.commands.tokens import all_pages as _all_pages
from cli.commands.tokens import parse_scopes as _parse_scopes
from cli.commands.tokens import parse_ttl as _parse_ttl
from cli.context import Context, pass_context
from cli.display import when
from cli.output import json_option


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
@pass_context
def vendors_create(ctx: Context, slug: str, display_name: str, as_json: bool) -> None:
    """Create a vendor with the handle SLUG (lowercase letters, digits, '-'). Prints its id.

    \b
    Example:
      mp admin vendors create acme --display-name "Acme Quant"
    """
    from marketplace.v1 import auth_pb2

    request = auth_pb2.CreateVendorRequest(request_id=str(uuid.uuid4()), slug=slug, display_name=display_name)
    vendor = ctx.call(ctx.auth.CreateVendor, request)
    if as_json:
        output.emit_json(output.to_dict(vendor))
    else:
        output.echo(vendor.id)
        output.note(f"Created vendor {vendor.slug} ({vendor.display_name}).")
        output.note(f"Next: mp admin tokens create --vendor {vendor.slug} --scopes catalog:read,data:read,...")


@vendors.command("list")
@json_option
@pass_context
def vendors_list(ctx: Context, as_json: bool) -> None:
    """List vendors, oldest first.

    \b
    Examples:
      mp admin vendors list
      mp admin vendors list --json
    """
    from marketplace.v1 import auth_pb2

    rows = _all_pages(ctx, ctx.auth.ListVendors, auth_pb2.ListVendorsRequest(page_size=500), "vendors")
    if as_json:
        output.emit_json([output.to_dict(v) for v in rows])
        return
    output.table(
        ["SLUG", "DISPLAY NAME", "ID", "CREATED"],
        [(v.slug, v.display_name, v.id, when(v.create_time)) for v in rows],
        empty="No vendors yet. Create one: mp admin vendors create SLUG --display-name NAME",
    )


@admin.group()
def tokens() -> None:
    """Create, list and revoke API tokens."""


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
@pass_context
def tokens_create(ctx: Context, vendor: str, scopes: list[str], name: str, ttl, as_json: bool) -> None:
    """Issue an API token. The token is printed once; the server keeps only a digest.

    \b
    Examples:
      mp admin tokens create --vendor acme --scopes catalog:read,data:read,training:write,deploy:write
      mp admin tokens create --scopes admin --name ops --expires-in 90d
    """
    from marketplace.v1 import auth_pb2

    request = auth_pb2.CreateApiTokenRequest(
        request_id=str(uuid.uuid4()), vendor=vendor, scopes=scopes, display_name=name, ttl=ttl
    )
    response = ctx.call(ctx.auth.CreateApiToken, request)
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
@pass_context
def tokens_list(ctx: Context, vendor: str, include_revoked: bool, as_json: bool) -> None:
    """List API tokens (never their secrets).

    \b
    Examples:
      mp admin tokens list --vendor acme --all
      mp admin tokens list --json
    """
    from marketplace.v1 import auth_pb2

    request = auth_pb2.ListApiTokensRequest(vendor=vendor, include_revoked=include_revoked, page_size=500)
    rows = _all_pages(ctx, ctx.auth.ListApiTokens, request, "tokens")
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
                when(t.expire_time),
                when(t.revoke_time),
            )
            for t in rows
        ],
    )


@tokens.command("revoke")
@click.argument("token_id")
@json_option
@pass_context
def tokens_revoke(ctx: Context, token_id: str, as_json: bool) -> None:
    """Revoke the token TOKEN_ID (tok_…) at once.

    \b
    Example:
      mp admin tokens revoke tok_123
    """
    from marketplace.v1 import auth_pb2

    token = ctx.call(ctx.auth.RevokeApiToken, auth_pb2.RevokeApiTokenRequest(token_id=token_id))
    if as_json:
        output.emit_json(output.to_dict(token))
    else:
        output.echo(f"Revoked {token.id}.")
