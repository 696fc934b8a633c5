"""`mp catalog`: the vendors on the marketplace and their models, with each model's live score."""

from __future__ import annotations

from typing import Any

import click

from mlmp_cli import output
from mlmp_cli.context import Context, pass_context
from mlmp_cli.display import when
from mlmp_cli.output import json_option
from mlmp_cli.serving.view import state_name

ORDERS = ("score", "activity", "name")


@click.command()
@click.argument("vendor", required=False)
@click.option("--query", "-q", default="", help="Words that must each appear in a vendor's or model's name.")
@click.option("--order", type=click.Choice(ORDERS), default=None, help="Best live score, latest signal or name first.")
@click.option("--limit", "-n", type=click.IntRange(1, 500), default=50, show_default=True, help="Vendors to show.")
@json_option
@pass_context
def catalog(ctx: Context, vendor: str | None, query: str, order: str | None, limit: int, as_json: bool) -> None:
    """The catalog's models with their live scores; VENDOR (slug or id): that vendor's only.

    LIVE is the Spearman rank correlation of a model's views with the realised returns over its latest
    scored signals (at most WINDOW), HITS the share whose view had the return's sign, SCORED how many
    signals it rests on; ROUNDS the mean of its resolved rounds' scores. README.md, "Live scores", defines
    them exactly.

    \b
    Examples:
      mp catalog
      mp catalog --order score -n 10
      mp catalog acme --json
    """
    from mlmp_marketplace.v1 import catalog_pb2

    if vendor:
        entries = [ctx.call(ctx.catalog.GetCatalogEntry, catalog_pb2.GetCatalogEntryRequest(vendor=vendor))]
    else:
        order_by = catalog_pb2.CATALOG_ORDER_UNSPECIFIED
        if order:
            order_by = catalog_pb2.CatalogOrder.Value(f"CATALOG_ORDER_{order.upper()}")
        request = catalog_pb2.ListCatalogRequest(query=query, order_by=order_by, page_size=limit)
        entries = list(ctx.call(ctx.catalog.ListCatalog, request).entries)
    if as_json:
        output.emit_json([output.to_dict(entry) for entry in entries])
        return
    output.table(
        ["VENDOR", "MODEL", "STATE", "LIVE", "HITS", "SCORED", "WINDOW", "ROUNDS", "SIGNALS", "LAST SIGNAL"],
        [(entry.vendor.slug, model.name or model.deployment_id, state_name(model), *live_columns(model),
          f"{model.live_score:+.3f}" if model.HasField("live_score") else "-", model.signal_count,
          when(model.last_signal_time, seconds=True))
         for entry in entries for model in entry.models],
        empty="No models in the catalog yet.",
    )  # fmt: skip


def live_columns(model: Any) -> tuple[str, str, str, str]:
    """LIVE, HITS, SCORED and WINDOW of a catalog model ("-" before any of its signals is scored)."""
    if not model.HasField("score"):
        return "-", "-", "0", "-"
    score = model.score
    rank = f"{score.rank_correlation:+.3f}" if score.HasField("rank_correlation") else "-"
    hits = f"{score.hit_rate:.1%}" if score.HasField("hit_rate") else "-"
    return rank, hits, str(score.scored_signals), str(score.window)


def live_score_text(ctx: Context, deployment: Any) -> str | None:
    """A deployment's live score in words, from its catalog entry; None when the token may not read the
    catalog (or the deployment is not in it)."""
    from mlmp_marketplace.v1 import catalog_pb2

    try:
        entry = ctx.call(ctx.catalog.GetCatalogEntry, catalog_pb2.GetCatalogEntryRequest(vendor=deployment.vendor_id))
    except click.ClickException:
        return None
    model = next((m for m in entry.models if m.deployment_id == deployment.id), None)
    if model is None:
        return None
    if not model.HasField("score"):
        return "not scored yet (no signal of it has reached its horizon in the market feed)"
    rank, hits, scored, window = live_columns(model)
    return f"rank correlation {rank}, hit rate {hits}, over its latest {scored} scored signals (window {window})"
