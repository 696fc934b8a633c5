"""`mp admin market`: feed bars to the marketplace (a replay of price files) and see what it holds (operators)."""

from __future__ import annotations

import math
import sys
import threading
import time
from datetime import datetime

import click

from mlmp_cli import output
from mlmp_cli.context import Context, pass_context
from mlmp_cli.exit_codes import ExitCode
from mlmp_cli.output import json_option

REFRESH = 1.0  # seconds between progress lines


@click.group()
def market() -> None:
    """The market feed: replay price files as new bars, list what is stored."""


@market.command()
@click.option(
    "--from-csv",
    "csvs",
    multiple=True,
    required=True,
    metavar="FILE|FOLDER|GLOB",
    help="OHLCV price files (repeatable), read as mp admin rounds publish --from-csv reads them: a file (.csv, "
    ".csv.gz), a folder of them, or a quoted glob; one symbol per file.",
)
@click.option(
    "--speed",
    default="60x",
    show_default=True,
    help="Market time per wall-clock time: 60x sends an hour of bars per minute; max sends as fast as they are stored.",
)
@json_option
@pass_context
def replay(ctx: Context, csvs: tuple[str, ...], speed: str, as_json: bool) -> int:
    """Replay price files into the market feed: their bars, every symbol merged in time order, paced by the
    bars' own time gaps divided by SPEED. Bars the feed already has (up to each symbol's newest) are skipped,
    so after Ctrl-C the same command continues where it stopped. Every bar is checked first: a bad one is
    named by file and time and nothing is sent.

    \b
    Examples:
      mp admin market replay --from-csv prices/ --speed 60x
      mp admin market replay --from-csv 'data/*.csv.gz' --speed max --json
    """
    import grpc

    from mlmp_cli.market.replay import Progress, paced_messages, parse_speed, progress_line, read_steps, skip_stored
    from mlmp_cli.rounds.publish import price_files
    from mlmp_marketplace.v1 import market_pb2

    pace = parse_speed(speed)
    steps, per_symbol = read_steps(price_files(csvs))
    newest = _newest_stored(ctx, set(per_symbol))
    steps, skipped = skip_stored(steps, newest)
    progress = Progress(total=sum(len(step.bars) for step in steps), skipped=skipped)
    if skipped and not as_json:
        output.note(f"{skipped:,} bars are in the feed already: replaying from where it stopped.")
    stop = threading.Event()

    def bar(moment: datetime, symbol: str, *values: float) -> market_pb2.Bar:
        bar = market_pb2.Bar(symbol=symbol, open=values[0], high=values[1], low=values[2], close=values[3],
                             volume=values[4])  # fmt: skip
        bar.time.FromDatetime(moment)
        return bar

    messages = paced_messages(
        steps, pace, progress, stop, bar=bar, message=lambda bars: market_pb2.PublishBarsRequest(bars=bars)
    )
    call = ctx.market.PublishBars.future(messages, metadata=ctx.metadata, timeout=None)
    interrupted = False
    with ctx.translate_errors():
        try:
            while True:
                try:
                    answer = call.result(timeout=REFRESH)
                    break
                except grpc.FutureTimeoutError:
                    if not as_json:
                        _show(progress_line(progress, pace))
        except KeyboardInterrupt:
            interrupted = True
            stop.set()  # the stream ends after the message in flight: the server answers for what it stored
            answer = call.result(timeout=60)
        finally:
            stop.set()  # a failed call: the sending thread stops waiting for the next bar's time
    elapsed = time.monotonic() - progress.started
    if as_json:
        output.emit_json({
            "sent": progress.sent, "stored": answer.stored, "duplicates": answer.duplicates, "skipped": skipped,
            "interrupted": interrupted, "elapsed_seconds": round(elapsed, 3),
            "speed": "max" if math.isinf(pace) else pace,
            "symbols": [output.to_dict(extent) for extent in answer.symbols],
        })  # fmt: skip
    else:
        _show(progress_line(progress, pace), final=True)
        what = "Stopped after" if interrupted else "Replayed"
        output.echo(f"{what} {progress.sent:,} bars of {len(per_symbol)} symbols in {elapsed:.1f}s: "
                    f"{answer.stored:,} stored, {answer.duplicates:,} already there.")  # fmt: skip
        if interrupted:
            output.note("Run the same command again to continue from there.")
    return ExitCode.INTERRUPTED if interrupted else ExitCode.OK


def _newest_stored(ctx: Context, symbols: set[str]) -> dict[str, datetime]:
    """Each of `symbols`' newest stored bar time."""
    from datetime import UTC

    from mlmp_marketplace.v1 import market_pb2

    newest: dict[str, datetime] = {}
    token = ""
    while True:
        page = ctx.call(
            ctx.market.ListMarketSymbols, market_pb2.ListMarketSymbolsRequest(page_size=500, page_token=token)
        )
        newest.update((s.symbol, s.last_bar_time.ToDatetime(tzinfo=UTC)) for s in page.symbols if s.symbol in symbols)
        token = page.next_page_token
        if not token:
            return newest


def _show(line: str, final: bool = False) -> None:
    """A progress line on stderr: rewritten in place on a terminal, one per refresh otherwise."""
    if sys.stderr.isatty():
        click.echo("\r\033[K" + line + ("\n" if final else ""), err=True, nl=False)
    elif not final:
        click.echo(line, err=True)


@market.command("bars")
@click.argument("symbol")
@click.option("--last", type=click.IntRange(1, 500), default=20, show_default=True, help="How many of the newest bars.")
@json_option
@pass_context
def bars(ctx: Context, symbol: str, last: int, as_json: bool) -> None:
    """Show SYMBOL's newest bars as the feed stored them, oldest of them first.

    \b
    Example:
      mp admin market bars AAPL --last 5
    """
    from mlmp_cli.display import when
    from mlmp_marketplace.v1 import market_pb2

    request = market_pb2.ListBarsRequest(symbol=symbol, newest_first=True, page_size=last)
    found = list(reversed(ctx.call(ctx.market.ListBars, request).bars))
    if as_json:
        output.emit_json([output.to_dict(b) for b in found])
        return
    output.table(
        ["TIME", "OPEN", "HIGH", "LOW", "CLOSE", "VOLUME", "RECEIVED"],
        [[when(b.time), f"{b.open:g}", f"{b.high:g}", f"{b.low:g}", f"{b.close:g}", f"{b.volume:g}",
          when(b.receive_time, seconds=True)] for b in found],
        empty=f"(no bars of {symbol})",
    )  # fmt: skip


@market.command("symbols")
@json_option
@pass_context
def symbols(ctx: Context, as_json: bool) -> None:
    """List the feed's symbols with their first and newest bar and how many bars each has.

    \b
    Example:
      mp admin market symbols
    """
    from mlmp_cli.display import when
    from mlmp_marketplace.v1 import market_pb2

    found, token = [], ""
    while True:
        page = ctx.call(
            ctx.market.ListMarketSymbols, market_pb2.ListMarketSymbolsRequest(page_size=500, page_token=token)
        )
        found.extend(page.symbols)
        token = page.next_page_token
        if not token:
            break
    if as_json:
        output.emit_json([output.to_dict(s) for s in found])
        return
    output.table(
        ["SYMBOL", "BARS", "FIRST", "NEWEST", "UPDATED"],
        [[s.symbol, s.bar_count, when(s.first_bar_time), when(s.last_bar_time), when(s.update_time)] for s in found],
        empty="(no bars yet: mp admin market replay --from-csv FILE)",
    )
