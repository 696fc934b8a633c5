"""Which round a command means (`--round current` or a number) and fetching it from the marketplace."""

from __future__ import annotations

from typing import Any

import click

from mlmp_cli.context import Context


def parse_round(value: str) -> int:
    """`current` → 0 (the server's "current"), else a positive round number."""
    if value.strip().lower() == "current":
        return 0
    if not value.strip().isdigit() or int(value) < 1:
        raise click.BadParameter(
            f"{value!r} is not a round: use 'current' or a number such as 12", param_hint="--round"
        )
    return int(value)


def fetch_round(ctx: Context, number: int) -> Any:
    """Round `number`, or the current one for 0."""
    from mlmp_marketplace.v1 import datasets_pb2

    if number == 0:
        return ctx.call(ctx.datasets.GetCurrentRound, datasets_pb2.GetCurrentRoundRequest())
    return ctx.call(ctx.datasets.GetRound, datasets_pb2.GetRoundRequest(number=number))
