"""`mp admin …`: operator commands (need a token with the admin scope)."""

from __future__ import annotations

import uuid

import click

from mlmp_cli import output
from mlmp_cli.commands.market import market
from mlmp_cli.commands.rounds_admin import rounds
from mlmp_cli.commands.tokens import all_pages as _all_pages
from mlmp_cli.commands.tokens import parse_scopes as _parse_scopes
from mlmp_cli.commands.tokens import parse_ttl as _parse_ttl
from mlmp_cli.context import Context, pass_context
from mlmp_cli.display import when
from mlmp_cli.output import json_option


@click.group()
def admin() -> None:
    """Operator commands: vendors, API tokens, dataset rounds, the market feed."""


admin.add_command(rounds)
admin.add_command(market)


@admin.group()
def vendors() -> None:
    """Create, invite, list, suspend and resume vendors."""


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
    from mlmp_marketplace.v1 import auth_pb2

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
    from mlmp_marketplace.v1 import auth_pb2

    rows = _all_pages(ctx, ctx.auth.ListVendors, auth_pb2.ListVendorsRequest(page_size=500), "vendors")
    if as_json:
        output.emit_json([output.to_dict(v) for v in rows])
        return
    output.table(
        ["SLUG", "DISPLAY NAME", "ID", "CREATED", "SUSPENDED"],
        [(v.slug, v.display_name, v.id, when(v.create_time), when(v.suspend_time)) for v in rows],
        empty="No vendors yet. Create one: mp admin vendors create SLUG --display-name NAME",
    )


@vendors.command("invite")
@click.option("--ttl", default="7d", callback=_parse_ttl, help="How long the link works, e.g. 48h; at most 30d.")
@click.option("--note", default="", help="A label shown in `mp admin vendors invitations`, e.g. who it is for.")
@json_option
@pass_context
def vendors_invite(ctx: Context, ttl, note: str, as_json: bool) -> None:
    """Make a single-use invitation link to register a new vendor. Prints the link, shown only now.

    Whoever opens the link in the web console picks the vendor's slug and display name, and gets the
    vendor's first token. Send it privately: the link is the credential until it is used or expires.

    \b
    Examples:
      mp admin vendors invite
      mp admin vendors invite --ttl 48h --note "for Acme Quant"
      mp admin vendors invite --json
    """
    from mlmp_marketplace.v1 import auth_pb2

    request = auth_pb2.CreateInvitationRequest(request_id=str(uuid.uuid4()), ttl=ttl, note=note)
    response = ctx.call(ctx.auth.CreateInvitation, request)
    if as_json:
        output.emit_json(output.to_dict(response))
        return
    output.echo(response.url)
    output.note(
        f"Invitation {response.invitation.id}, single use, valid until {when(response.invitation.expire_time)}. "
        "The link is shown only now; send it privately. Withdraw it with "
        f"mp admin vendors revoke-invitation {response.invitation.id}"
    )


@vendors.command("invitations")
@click.option("--all", "include_closed", is_flag=True, help="Include used, withdrawn and expired invitations.")
@json_option
@pass_context
def vendors_invitations(ctx: Context, include_closed: bool, as_json: bool) -> None:
    """List invitations, newest first (open ones only, unless --all). Never their links.

    \b
    Examples:
      mp admin vendors invitations
      mp admin vendors invitations --all --json
    """
    from mlmp_marketplace.v1 import auth_pb2

    request = auth_pb2.ListInvitationsRequest(include_closed=include_closed, page_size=500)
    rows = _all_pages(ctx, ctx.auth.ListInvitations, request, "invitations")
    if as_json:
        output.emit_json([output.to_dict(i) for i in rows])
        return
    output.table(
        ["ID", "HINT", "NOTE", "EXPIRES", "USED", "VENDOR", "WITHDRAWN"],
        [
            (
                i.id,
                i.hint,
                i.note,
                when(i.expire_time),
                when(i.accept_time),
                i.vendor_slug or "-",
                when(i.revoke_time),
            )  # fmt: skip
            for i in rows
        ],
        empty="No open invitations. Make one: mp admin vendors invite",
    )


@vendors.command("revoke-invitation")
@click.argument("invitation_id")
@json_option
@pass_context
def vendors_revoke_invitation(ctx: Context, invitation_id: str, as_json: bool) -> None:
    """Withdraw the open invitation INVITATION_ID (inv_…): its link stops working at once.

    \b
    Example:
      mp admin vendors revoke-invitation inv_123
    """
    from mlmp_marketplace.v1 import auth_pb2

    invitation = ctx.call(ctx.auth.RevokeInvitation, auth_pb2.RevokeInvitationRequest(invitation_id=invitation_id))
    if as_json:
        output.emit_json(output.to_dict(invitation))
    else:
        output.echo(f"Withdrew {invitation.id}.")


@vendors.command("suspend")
@click.argument("vendor")
@json_option
@pass_context
def vendors_suspend(ctx: Context, vendor: str, as_json: bool) -> None:
    """Suspend the vendor VENDOR (slug or id): all its tokens, sessions, deployment and run tokens are
    refused at once, its open streams end and its models leave the catalog. Nothing is deleted.

    \b
    Examples:
      mp admin vendors suspend acme
      mp admin vendors resume acme
    """
    from mlmp_marketplace.v1 import auth_pb2

    suspended = ctx.call(ctx.auth.SuspendVendor, auth_pb2.SuspendVendorRequest(vendor=vendor))
    if as_json:
        output.emit_json(output.to_dict(suspended))
    else:
        output.echo(f"Suspended {suspended.slug} since {when(suspended.suspend_time)}.")
        output.note(f"Undo with: mp admin vendors resume {suspended.slug}")


@vendors.command("resume")
@click.argument("vendor")
@json_option
@pass_context
def vendors_resume(ctx: Context, vendor: str, as_json: bool) -> None:
    """Lift the suspension of VENDOR (slug or id): its tokens that are neither revoked nor expired work again.

    \b
    Example:
      mp admin vendors resume acme
    """
    from mlmp_marketplace.v1 import auth_pb2

    resumed = ctx.call(ctx.auth.ResumeVendor, auth_pb2.ResumeVendorRequest(vendor=vendor))
    if as_json:
        output.emit_json(output.to_dict(resumed))
    else:
        output.echo(f"Resumed {resumed.slug}.")


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
    from mlmp_marketplace.v1 import auth_pb2

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
    from mlmp_marketplace.v1 import auth_pb2

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
    from mlmp_marketplace.v1 import auth_pb2

    token = ctx.call(ctx.auth.RevokeApiToken, auth_pb2.RevokeApiTokenRequest(token_id=token_id))
    if as_json:
        output.emit_json(output.to_dict(token))
    else:
        output.echo(f"Revoked {token.id}.")
