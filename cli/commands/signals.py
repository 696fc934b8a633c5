"""`mp signals`: stored signals, and the live stream, each with the vendor and model it came from."""

from __future__ import annotations

import json

import click

from cli import output
from cli.context import Context, pass_context
from cli.display import clock, enum_word
from cli.output import json_option


def _line(signal) -> str:
    from marketplace.v1 import signals_pb2

    action = enum_word(signals_pb2.Action, signal.action) if signal.action else "-"
    score = f"{signal.score:+.3f}" if signal.HasField("score") else "-"
    by = signal.attribution
    return (f"{clock(signal.generate_time)}  {signal.symbol:<10} {action:<5} score {score}  "
            f"conf {signal.confidence:.2f}  round {signal.round_number}  "
            f"{by.vendor_slug}/{by.deployment_id}")  # fmt: skip


@click.group()
def signals() -> None:
    """Trading signals: what deployed models sent, attributed to their vendor and deployment."""


@signals.command()
@click.option("--symbol", default="", help="Only this symbol.")
@click.option("--vendor", default="", help="Only this vendor (slug or id).")
@json_option
@pass_context
def tail(ctx: Context, symbol: str, vendor: str, as_json: bool) -> None:
    """Print signals as they are stored, until Ctrl-C (--json: one JSON object per line).

    \b
    Examples:
      mp signals tail
      mp signals tail --symbol AAPL --json
    """
    import grpc

    from marketplace.v1 import signals_pb2

    request = signals_pb2.SubscribeSignalsRequest(symbol=symbol, vendor=vendor)
    stream = ctx.signals.SubscribeSignals(request, metadata=ctx.metadata)
    if not as_json:
        output.note("Waiting for signals (Ctrl-C stops)…")
    try:
        for signal in stream:
            output.echo(json.dumps(output.to_dict(signal), sort_keys=True) if as_json else _line(signal))
    except KeyboardInterrupt:
        stream.cancel()
    except grpc.RpcError as error:
        with ctx.translate_errors():
            raise error from None


@signals.command("list")
@click.option("--symbol", default="", help="Only this symbol.")
@click.option("--vendor", default="", help="Only this vendor (slug or id).")
@click.option("--deployment", "deployment_id", default="", help="Only this deployment.")
@click.option("--round", "round_number", type=click.IntRange(min=1), help="Only this round.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@json_option
@pass_context
def list_signals(ctx: Context, symbol, vendor, deployment_id, round_number, limit, as_json) -> None:  # fmt: skip
    """Stored signals, newest first.

    \b
    Examples:
      mp signals list --vendor acme --limit 20
      mp signals list --round 12 --json
    """
    from marketplace.v1 import signals_pb2

    request = signals_pb2.ListSignalsRequest(symbol=symbol, vendor=vendor, deployment_id=deployment_id,
                                             round_number=round_number or 0, page_size=limit)  # fmt: skip
    found = ctx.call(ctx.signals.ListSignals, request).signals
    if as_json:
        output.emit_json([output.to_dict(s) for s in found])
    elif not found:
        output.echo("No signals stored yet.")
    else:
        for signal in found:
            output.echo(_line(signal))
