"""`mp admin rounds`: publish, close and list dataset rounds (operators)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from mlmp_cli import output
from mlmp_cli.commands.data import list_rounds
from mlmp_cli.context import Context, pass_context
from mlmp_cli.output import json_option
from mlmp_cli.rounds.view import print_round

_RELATIVE = re.compile(r"^\+(\d+(?:\.\d+)?)([dhm])$")


def parse_when(text: str, base: datetime) -> datetime:
    """'now', '+7d' / '+12h' / '+30m' (after `base`), or an ISO 8601 date or time (UTC unless given)."""
    text = text.strip()
    if text.lower() == "now":
        return datetime.now(UTC)
    if match := _RELATIVE.match(text):
        unit = {"d": "days", "h": "hours", "m": "minutes"}[match.group(2)]
        return base + timedelta(**{unit: float(match.group(1))})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a time: use now, +7d, +12h or 2026-12-01T00:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.group()
def rounds() -> None:
    """Publish, close and list dataset rounds."""


@rounds.command()
@click.option(
    "--from-csv",
    "csvs",
    multiple=True,
    metavar="FILE|FOLDER|GLOB",
    help="OHLCV price files (repeatable): a file (.csv, or .csv.gz), a folder of them, or a quoted glob; one symbol "
    "per file. Date (or an unnamed first column), Open, High, Low, Close (or Adj Close), Volume in any letter case.",
)
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A prepared file published as it is (repeatable); its name becomes the file's name.",
)
@click.option("--number", type=click.IntRange(min=1), help="Round number. Default: the next one.")
@click.option("--opens", default="now", show_default=True, help="now, +1d, or an ISO date/time (UTC).")
@click.option("--closes", default="+7d", show_default=True, help="+7d (after opening) or an ISO date/time.")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["parquet", "csv"]),
    default="parquet",
    show_default=True,
    help="Format of the files built from --from-csv.",
)
@click.option("--description", default="", help="Shown to vendors with the round.")
@click.option("--dry-run", is_flag=True,
              help="With --from-csv: print each symbol's rows, time range and split, and publish nothing.")  # fmt: skip
@json_option
@pass_context
def publish(ctx: Context, csvs, files, number, opens, closes, file_format, description, dry_run,
            as_json) -> None:  # fmt: skip
    """Publish a round: build train/validation/live files from price CSVs, or upload prepared files.

    \b
    Examples:
      mp admin rounds publish --from-csv AAPL.csv --from-csv MSFT.csv --opens now --closes +7d
      mp admin rounds publish --from-csv prices/ --dry-run
      mp admin rounds publish --from-csv 'prices/*.csv.gz' --closes 2026-12-31
      mp admin rounds publish --file train.parquet --file live.parquet --number 12

    Each symbol is split by its own history (60% train, 20% validation, 20% live), so symbols whose files
    cover different periods each get all three; a symbol with too little history is left out, and named.
    Publishing is all or nothing: if anything fails, no round and no file is left behind.
    """
    if bool(csvs) == bool(files):
        raise click.UsageError("give either --from-csv files or --file files (not both, not neither)")
    if dry_run and not csvs:
        raise click.UsageError("--dry-run shows what --from-csv files make; --file files are published as they are")
    from mlmp_cli.rounds.publish import (
        RoundPlan,
        build_prices,
        prepared_files,
        price_files,
        publish_round,
        round_content,
    )

    opens_at = parse_when(opens, datetime.now(UTC))
    plan = RoundPlan(number or 0, opens_at, parse_when(closes, opens_at), description)
    if csvs:
        built = build_prices(price_files(csvs))
        if dry_run:
            show_split(built, as_json)
            return
        for symbol, reason in built.left_out.items():
            output.note(f"{symbol} is left out: {reason}")
        content = round_content(built, file_format)
    else:
        content = prepared_files(files)
    published = publish_round(ctx, plan, content, show_progress=not as_json)
    if as_json:
        output.emit_json(output.to_dict(published))
    else:
        output.echo(f"Published round {published.number}.")
        print_round(published)


def show_split(built, as_json: bool) -> None:
    """What --dry-run prints: per symbol its rows in each split, its time range and bar length; then who is left out."""
    if as_json:
        output.emit_json({
            "symbols": [{"symbol": s.symbol, "rows": s.rows, "start": s.start.isoformat(), "end": s.end.isoformat(),
                         "bar_seconds": s.bar.total_seconds()} for s in built.per_symbol],
            "left_out": [{"symbol": symbol, "reason": reason} for symbol, reason in built.left_out.items()],
            "bar_seconds": built.bar_seconds, "horizon_bars": built.horizon_bars,
            "horizon_seconds": built.horizon_seconds,
        })  # fmt: skip
        return
    output.table(
        ["SYMBOL", "TRAIN", "VALIDATION", "LIVE", "FROM", "TO", "BAR"],
        [[s.symbol, s.rows["train"], s.rows["validation"], s.rows["live"], f"{s.start:%Y-%m-%d %H:%M}",
          f"{s.end:%Y-%m-%d %H:%M}", _bar(s.bar)] for s in built.per_symbol],
    )  # fmt: skip
    for symbol, reason in built.left_out.items():
        output.echo(f"left out: {symbol}: {reason}")
    bar, horizon = timedelta(seconds=built.bar_seconds), timedelta(seconds=built.horizon_seconds)
    output.echo(f"Bars of {_bar(bar)}: the target looks {built.horizon_bars} bars ({_bar(horizon)}) ahead.")
    output.echo("Dry run: nothing was published.")


def _bar(length: timedelta) -> str:
    seconds = length.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}s"


@rounds.command()
@click.argument("number", type=click.IntRange(min=1))
@json_option
@pass_context
def close(ctx: Context, number: int, as_json: bool) -> None:
    """Close round NUMBER now.

    \b
    Example:
      mp admin rounds close 12
    """
    from mlmp_marketplace.v1 import datasets_pb2

    closed = ctx.call(ctx.datasets.CloseRound, datasets_pb2.CloseRoundRequest(number=number))
    if as_json:
        output.emit_json(output.to_dict(closed))
    else:
        output.echo(f"Round {closed.number} is closed.")


@rounds.command()
@click.argument("number", type=click.IntRange(min=1))
@click.option("--returns", "returns_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with columns symbol,realized_return: one row per symbol of the round (data from elsewhere; "
                   "without it, the returns come from the market feed).")  # fmt: skip
@click.option("--return", "pairs", multiple=True, metavar="SYMBOL=VALUE", help="One realised return (repeatable).")
@json_option
@pass_context
def resolve(ctx: Context, number: int, returns_file: Path | None, pairs: tuple[str, ...], as_json: bool) -> None:
    """Record round NUMBER's realised returns; deployments that signalled in it get their round scores.

    Without --returns or --return, the server computes each symbol's return from the market feed's bars:
    close(first bar at or after the round's data end + its horizon) / close(last bar at or before its data
    end) - 1. It refuses, naming them, while some symbols' bars do not reach that far.

    \b
    Examples:
      mp admin rounds resolve 12
      mp admin rounds resolve 12 --returns realised.csv
      mp admin rounds resolve 12 --return AAPL=0.031 --return MSFT=-0.012
    """
    from mlmp_marketplace.v1 import datasets_pb2

    returns = _read_returns(returns_file, pairs)
    request = datasets_pb2.ResolveRoundRequest(
        number=number, returns=[datasets_pb2.SymbolReturn(symbol=s, realized_return=r) for s, r in returns.items()]
    )
    resolved = ctx.call(ctx.datasets.ResolveRound, request)
    if as_json:
        output.emit_json(output.to_dict(resolved))
    else:
        source = f"{len(returns)} realised returns" if returns else "realised returns from the market feed"
        output.echo(f"Round {resolved.number} is resolved ({source}); round scores updated.")
        output.note("See them with: curl -H 'Authorization: Bearer …' $API/api/catalog")


def _read_returns(path: Path | None, pairs: tuple[str, ...]) -> dict[str, float]:
    import csv

    returns: dict[str, float] = {}
    rows: list[tuple[str, str, str]] = []
    if path is not None:
        with open(path, newline="") as source:
            reader = csv.DictReader(source)
            if not reader.fieldnames or not {"symbol", "realized_return"} <= set(reader.fieldnames):
                raise click.BadParameter(f"{path} needs the columns symbol,realized_return", param_hint="--returns")
            rows += [(row["symbol"], row["realized_return"], f"{path}:{n}") for n, row in enumerate(reader, 2)]
    for pair in pairs:
        symbol, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not SYMBOL=VALUE", param_hint="--return")
        rows.append((symbol, value, "--return"))
    for symbol, value, where in rows:
        try:
            returns[symbol.strip()] = float(value)
        except ValueError:
            raise click.BadParameter(f"{where}: {value!r} is not a number") from None
    return returns


rounds.add_command(list_rounds, name="list")  # the same listing vendors get from `mp data list`
