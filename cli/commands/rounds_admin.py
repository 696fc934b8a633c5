"""`mp admin rounds`: publish, close and list dataset rounds (operators)."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from cli import output
from cli.commands.data import list_rounds
from cli.output import json_option
from cli.rounds_view import print_round

UPLOAD_CHUNK = 1024 * 1024
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
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="OHLCV price file (repeatable): Date, Open, High, Low, Close, Volume; one symbol per file.",
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
@json_option
def publish(csvs, files, number, opens, closes, file_format, description, as_json) -> None:  # fmt: skip
    """Publish a round: build train/validation/live files from price CSVs, or upload prepared files.

    \b
    Examples:
      mp admin rounds publish --from-csv AAPL.csv --from-csv MSFT.csv --opens now --closes +7d
      mp admin rounds publish --file train.parquet --file live.parquet --number 12

    Publishing is all or nothing: if anything fails, no round and no file is left behind.
    """
    if bool(csvs) == bool(files):
        raise click.UsageError("give either --from-csv files or --file files (not both, not neither)")
    opens_at = parse_when(opens, datetime.now(UTC))
    closes_at = parse_when(closes, opens_at)
    if csvs:
        payloads, meta = _build_from_csv(csvs, file_format)
    else:
        payloads, meta = _prepared(files), {}
    _upload(payloads, meta, number or 0, opens_at, closes_at, description, as_json)


def _build_from_csv(csvs: tuple[Path, ...], file_format: str):
    try:
        from cli.rounds.features import PriceDataError, build_round, encode, read_prices
    except ImportError:
        raise click.ClickException("building rounds from CSVs needs: pip install 'ml-marketplace[server]'") from None
    try:
        built = build_round(read_prices(path.name, path.read_text()) for path in csvs)
    except PriceDataError as error:
        raise click.ClickException(f"{error}. Nothing was published.") from None
    except UnicodeDecodeError as error:
        raise click.ClickException(f"a price file is not text ({error.reason}). Nothing was published.") from None
    payloads = {
        name: (file_format, encode(table, file_format), list(table.columns), len(table))
        for name, table in built.tables.items()
    }
    meta = {"symbols": built.symbols, "start": built.start.to_pydatetime(), "end": built.end.to_pydatetime()}
    return payloads, meta


def _prepared(files: tuple[Path, ...]):
    payloads = {}
    for path in files:
        file_format = path.suffix.lstrip(".").lower()
        if file_format not in ("parquet", "csv"):
            raise click.BadParameter(f"{path.name}: only .parquet and .csv files can be published", param_hint="--file")
        columns, rows = [], 0
        if file_format == "parquet":
            try:
                import pyarrow.parquet as pq

                metadata = pq.read_metadata(path)
                columns, rows = list(metadata.schema.names), metadata.num_rows
            except ImportError:
                pass
            except Exception as error:  # pyarrow raises several kinds for a bad file
                raise click.ClickException(f"{path.name} is not a readable Parquet file ({error})") from None
        payloads[path.stem] = (file_format, path.read_bytes(), columns, rows)
    return payloads


def _upload(payloads, meta, number, opens_at, closes_at, description, as_json) -> None:
    from google.protobuf.timestamp_pb2 import Timestamp

    from cli.client import open_session
    from cli.progress import TransferProgress
    from marketplace.v1 import common_pb2, datasets_pb2, datasets_pb2_grpc

    def stamp(moment: datetime | None) -> Timestamp | None:
        if moment is None:
            return None
        value = Timestamp()
        value.FromDatetime(moment)
        return value

    header = datasets_pb2.PublishRoundRequest.Header(
        request_id=str(uuid.uuid4()), number=number, open_time=stamp(opens_at), close_time=stamp(closes_at),
        symbols=meta.get("symbols", []), data_start_time=stamp(meta.get("start")), data_end_time=stamp(meta.get("end")),
        description=description,
        files=[
            datasets_pb2.DatasetFile(
                name=name, format=fmt, columns=columns, row_count=rows,
                digest=common_pb2.FileDigest(size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest()),
            )
            for name, (fmt, data, columns, rows) in payloads.items()
        ],
    )  # fmt: skip

    with TransferProgress({name: len(p[1]) for name, p in payloads.items()}, enabled=not as_json) as progress:

        def messages():
            yield datasets_pb2.PublishRoundRequest(header=header)
            for name, (_fmt, data, _columns, _rows) in payloads.items():
                for start in range(0, len(data), UPLOAD_CHUNK):
                    chunk = data[start : start + UPLOAD_CHUNK]
                    yield datasets_pb2.PublishRoundRequest(
                        chunk=datasets_pb2.PublishRoundRequest.Chunk(file=name, data=chunk)
                    )
                    progress.update(name, start + len(chunk), len(data))

        with open_session() as session:
            stub = datasets_pb2_grpc.DatasetServiceStub(session.channel)
            published = session.call(stub.PublishRound, messages(), timeout=600)
    if as_json:
        output.emit_json(output.to_dict(published))
    else:
        output.echo(f"Published round {published.number}.")
        print_round(published)


@rounds.command()
@click.argument("number", type=click.IntRange(min=1))
@json_option
def close(number: int, as_json: bool) -> None:
    """Close round NUMBER now."""
    from cli.client import open_session
    from marketplace.v1 import datasets_pb2, datasets_pb2_grpc

    with open_session() as session:
        stub = datasets_pb2_grpc.DatasetServiceStub(session.channel)
        closed = session.call(stub.CloseRound, datasets_pb2.CloseRoundRequest(number=number))
    if as_json:
        output.emit_json(output.to_dict(closed))
    else:
        output.echo(f"Round {closed.number} is closed.")


@rounds.command()
@click.argument("number", type=click.IntRange(min=1))
@click.option("--returns", "returns_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with columns symbol,realized_return: one row per symbol of the round.")  # fmt: skip
@click.option("--return", "pairs", multiple=True, metavar="SYMBOL=VALUE", help="One realised return (repeatable).")
@json_option
def resolve(number: int, returns_file: Path | None, pairs: tuple[str, ...], as_json: bool) -> None:
    """Record round NUMBER's realised returns; deployments that signalled in it get their live scores.

    \b
    mp admin rounds resolve 12 --returns realised.csv
    mp admin rounds resolve 12 --return AAPL=0.031 --return MSFT=-0.012 ...
    """
    from cli.client import open_session
    from marketplace.v1 import datasets_pb2, datasets_pb2_grpc

    returns = _read_returns(returns_file, pairs)
    if not returns:
        raise click.UsageError("give the realised returns: --returns FILE.csv or --return SYMBOL=VALUE")
    request = datasets_pb2.ResolveRoundRequest(
        number=number, returns=[datasets_pb2.SymbolReturn(symbol=s, realized_return=r) for s, r in returns.items()]
    )
    with open_session() as session:
        stub = datasets_pb2_grpc.DatasetServiceStub(session.channel)
        resolved = session.call(stub.ResolveRound, request)
    if as_json:
        output.emit_json(output.to_dict(resolved))
    else:
        output.echo(f"Round {resolved.number} is resolved ({len(returns)} realised returns); live scores updated.")
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
