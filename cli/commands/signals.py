"""`mp signals`: stored signals, and the live stream, each with the vendor and model it came from."""

from __future__ import annotations

import json
import re
import time
from collections import deque
from datetime import UTC, datetime, timedelta

import click

from mlmp_cli import output
from mlmp_cli.context import Context, pass_context
from mlmp_cli.display import clock, enum_word
from mlmp_cli.output import json_option


def _line(signal) -> str:
    from mlmp_marketplace.v1 import signals_pb2

    action = enum_word(signals_pb2.Action, signal.action) if signal.action else "-"
    score = f"{signal.score:+.3f}" if signal.HasField("score") else "-"
    by = signal.attribution
    return (f"{clock(signal.generate_time)}  {signal.symbol:<10} {action:<5} score {score}  "
            f"conf {signal.confidence:.2f}  round {signal.round_number}  "
            f"{by.vendor_slug}/{by.deployment_id}")  # fmt: skip


# Seconds to wait before each attempt to resume a broken subscription; after the last, tail gives up.
_RETRY_SECONDS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
# Ids are numbered before commit, so a batch numbered below the newest signal shown may commit after it:
# a resumed subscription replays from this many ids back, and the ids shown lately are skipped.
_RESUME_MARGIN = 10_000
_REMEMBERED = 2 * _RESUME_MARGIN


@click.group()
def signals() -> None:
    """Trading signals: what deployed models sent, attributed to their vendor and deployment."""


def _since(_ctx, param, text: str | None) -> datetime | None:
    """--since 10m / 2h / 1d (that long ago) or an ISO time (UTC unless it says)."""
    if text is None:
        return None
    if match := re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip().lower()):
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: float(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a duration or time: use e.g. 30s, 10m, 2h, 1d or "
                                 "2026-12-01T09:30", param=param) from None  # fmt: skip
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@signals.command()
@click.option("--symbol", default="", help="Only this symbol.")
@click.option("--vendor", default="", help="Only this vendor (slug or id).")
@click.option("--lines", "-n", "count", type=click.IntRange(0, 500), default=10, show_default=True,
              help="Show this many of the latest stored signals first (0: only new ones).")  # fmt: skip
@click.option("--since", callback=_since, help="Only signals stored since then: 10m, 2h, 1d or an ISO time.")
@json_option
@pass_context
def tail(ctx: Context, symbol: str, vendor: str, count: int, since: datetime | None, as_json: bool) -> None:
    """Print the latest stored signals, then each new one as it is stored, until Ctrl-C
    (--json: one JSON object per line).

    \b
    Examples:
      mp signals tail
      mp signals tail -n 50 --since 1h --symbol AAPL --json
    """
    import grpc

    from mlmp_marketplace.v1 import signals_pb2

    newest = 0  # the highest id shown: a new subscription resumes a little before it
    recent: deque[int] = deque()  # the ids shown lately, oldest first, so none is shown twice
    shown: set[int] = set()

    def show(signal) -> None:
        nonlocal newest
        signal_id = int(signal.id)
        if signal_id in shown:  # stored while the latest were listed, or replayed after a resume
            return
        recent.append(signal_id)
        shown.add(signal_id)
        if len(recent) > _REMEMBERED:
            shown.discard(recent.popleft())
        newest = max(newest, signal_id)
        output.echo(json.dumps(output.to_dict(signal), sort_keys=True) if as_json else _line(signal))

    def subscribe(after_id: int):
        request = signals_pb2.SubscribeSignalsRequest(symbol=symbol, vendor=vendor,
                                                      after_id=str(after_id) if after_id else "")  # fmt: skip
        stream = ctx.signals.SubscribeSignals(request, metadata=ctx.metadata)
        stream.initial_metadata()  # subscribed: what is stored from now on arrives on the stream
        return stream

    # Resumed after (the server dropped a subscriber that fell behind, a replica went away): the new
    # subscription replays what was stored after the newest signal shown, so nothing is missed.
    resumable = {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE}
    stream = subscribe(0)
    failures = 0
    try:
        if count:
            listed = ctx.call(ctx.signals.ListSignals, signals_pb2.ListSignalsRequest(
                symbol=symbol, vendor=vendor, page_size=count)).signals  # fmt: skip
            for signal in reversed(listed):  # listed newest first; shown in the order they were stored
                if since is None or signal.store_time.ToDatetime(UTC) >= since:
                    show(signal)
        output.note("Waiting for new signals (Ctrl-C stops)…")  # stderr: --json's stdout stays JSON
        while True:
            try:
                for message in stream:
                    failures = 0
                    for signal in message.signals:
                        show(signal)
                code = grpc.StatusCode.UNAVAILABLE  # ended without a status: the server stopped
            except grpc.RpcError as error:
                code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNAVAILABLE
                if code not in resumable or failures >= len(_RETRY_SECONDS):
                    raise
            output.note(f"Subscription ended ({code.name.lower()}); resuming after signal {newest}…")
            time.sleep(_RETRY_SECONDS[min(failures, len(_RETRY_SECONDS) - 1)])
            failures += 1
            stream = subscribe(max(0, newest - _RESUME_MARGIN) if newest else 0)
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
    from mlmp_marketplace.v1 import signals_pb2

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
