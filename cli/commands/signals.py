"""`mp signals`: stored signals, and the live stream, each with the vendor and model it came from."""

from __future__ import annotations

import json

import click

from cli import output
from cli.output import json_option


def _stub(session):
    from marketplace.v1 import signals_pb2_grpc

    return signals_pb2_grpc.SignalServiceStub(session.channel)


def _line(signal) -> str:
    from marketplace.v1 import signals_pb2

    action = signals_pb2.Action.Name(signal.action).removeprefix("ACTION_").lower() if signal.action else "-"
    score = f"{signal.score:+.3f}" if signal.HasField("score") else "-"
    when = signal.generate_time.ToDatetime().strftime("%H:%M:%S")
    by = signal.attribution
    return (f"{when}  {signal.symbol:<10} {action:<5} score {score}  conf {signal.confidence:.2f}  "
            f"round {signal.round_number}  {by.vendor_slug}/{by.deployment_id}")  # fmt: skip


@click.group()
def signals() -> None:
    """Trading signals: what deployed models sent, attributed to their vendor and deployment."""


@signals.command()
@click.option("--symbol", default="", help="Only this symbol.")
@click.option("--vendor", default="", help="Only this vendor (slug or id).")
@json_option
def tail(symbol: str, vendor: str, as_json: bool) -> None:
    """Print signals as they are stored, until Ctrl-C (--json: one JSON object per line)."""
    import grpc

    from cli.client import open_session
    from marketplace.v1 import signals_pb2

    with open_session() as session:
        request = signals_pb2.SubscribeSignalsRequest(symbol=symbol, vendor=vendor)
        stream = _stub(session).SubscribeSignals(request, metadata=session.metadata)
        if not as_json:
            output.note("Waiting for signals (Ctrl-C stops)…")
        try:
            for signal in stream:
                output.echo(json.dumps(output.to_dict(signal), sort_keys=True) if as_json else _line(signal))
        except KeyboardInterrupt:
            stream.cancel()
        except grpc.RpcError as error:
            from cli.client import translate_errors

            with translate_errors(session.endpoint):
                raise error from None


@signals.command("list")
@click.option("--symbol", default="", help="Only this symbol.")
@click.option("--vendor", default="", help="Only this vendor (slug or id).")
@click.option("--deployment", "deployment_id", default="", help="Only this deployment.")
@click.option("--round", "round_number", type=click.IntRange(min=1), help="Only this round.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@json_option
def list_signals(symbol, vendor, deployment_id, round_number, limit, as_json) -> None:  # fmt: skip
    """Stored signals, newest first."""
    from cli.client import open_session
    from marketplace.v1 import signals_pb2

    request = signals_pb2.ListSignalsRequest(symbol=symbol, vendor=vendor, deployment_id=deployment_id,
                                             round_number=round_number or 0, page_size=limit)  # fmt: skip
    with open_session() as session:
        found = session.call(_stub(session).ListSignals, request).signals
    if as_json:
        output.emit_json([output.to_dict(s) for s in found])
    elif not found:
        output.echo("No signals stored yet.")
    else:
        for signal in found:
            output.echo(_line(signal))
