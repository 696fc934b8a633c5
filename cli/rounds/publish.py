"""Publishing a round: its files built from price CSVs or taken as prepared, then uploaded in one stream.

Publishing is all or nothing on the server: if the stream fails, no round and no file is left behind.
"""

from __future__ import annotations

import glob
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from mlmp_cli.context import Context

UPLOAD_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class RoundFile:
    name: str  # e.g. "train"
    format: str  # "parquet" or "csv"
    data: bytes
    columns: list[str] = field(default_factory=list)
    rows: int = 0


@dataclass(frozen=True)
class RoundContent:
    """The round's files, and what they cover (known only for files built from price CSVs)."""

    files: list[RoundFile]
    symbols: list[str] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    bar_seconds: int = 0  # the builder's bar length; 0: unknown (prepared files), the server assumes daily
    horizon_bars: int = 0


@dataclass(frozen=True)
class RoundPlan:
    """A round to publish: number 0 is the next one."""

    number: int
    opens: datetime
    closes: datetime
    description: str


PRICE_FILE_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz")


def price_files(given: tuple[str, ...]) -> list[Path]:
    """The files named by --from-csv: files as they are, a folder's price files, a glob's matches (quoted, so the
    shell left it alone). Each must name at least one file."""
    found: list[Path] = []
    for spec in given:
        path = Path(spec).expanduser()
        if path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(PRICE_FILE_SUFFIXES))
            what = f"folder {spec} has no price files ({', '.join(PRICE_FILE_SUFFIXES)})"
        elif path.is_file():
            matches, what = [path], ""
        else:
            matches = sorted(p for p in map(Path, glob.glob(str(path))) if p.is_file())
            what = f"{spec}: no such file, and no file matches it"
        if not matches:
            raise click.BadParameter(what, param_hint="--from-csv")
        found.extend(p for p in matches if p not in found)
    return found


def build_prices(csvs: list[Path]) -> Any:
    """The built round (mlmp_cli.rounds.features.BuiltRound) from price files; bad input ends the command, naming it."""
    try:
        from mlmp_cli.rounds.features import PriceDataError, build_round, read_price_file
    except ImportError:
        raise click.ClickException("building rounds from CSVs needs: pip install 'ml-marketplace[server]'") from None
    try:
        return build_round(read_price_file(path) for path in csvs)
    except PriceDataError as error:
        raise click.ClickException(f"{error}. Nothing was published.") from None


def round_content(built: Any, file_format: str) -> RoundContent:
    """The train/validation/live files of a built round, and what they cover."""
    from mlmp_cli.rounds.features import encode

    files = [
        RoundFile(name, file_format, encode(table, file_format), list(table.columns), len(table))
        for name, table in built.tables.items()
    ]
    return RoundContent(
        files, built.symbols, built.start.to_pydatetime(), built.end.to_pydatetime(), built.bar_seconds,
        built.horizon_bars,
    )  # fmt: skip


def prepared_files(paths: tuple[Path, ...]) -> RoundContent:
    """Prepared .parquet or .csv files, each named by its stem; a Parquet file's columns and rows read."""
    files: dict[str, RoundFile] = {}  # by name: of two files with one stem, the later is published
    for path in paths:
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
        files[path.stem] = RoundFile(path.stem, file_format, path.read_bytes(), columns, rows)
    return RoundContent(list(files.values()))


def publish_round(ctx: Context, plan: RoundPlan, content: RoundContent, show_progress: bool = True) -> Any:
    """Uploads the files as round `plan.number` and returns the published round."""
    from google.protobuf.timestamp_pb2 import Timestamp

    from mlmp_cli.transfers.progress import TransferProgress
    from mlmp_marketplace.v1 import common_pb2, datasets_pb2

    def stamp(moment: datetime | None) -> Timestamp | None:
        if moment is None:
            return None
        value = Timestamp()
        value.FromDatetime(moment)
        return value

    header = datasets_pb2.PublishRoundRequest.Header(
        request_id=str(uuid.uuid4()), number=plan.number, open_time=stamp(plan.opens), close_time=stamp(plan.closes),
        symbols=content.symbols, data_start_time=stamp(content.start), data_end_time=stamp(content.end),
        description=plan.description, bar_seconds=content.bar_seconds, horizon_bars=content.horizon_bars,
        files=[
            datasets_pb2.DatasetFile(
                name=f.name, format=f.format, columns=f.columns, row_count=f.rows,
                digest=common_pb2.FileDigest(size_bytes=len(f.data), sha256=hashlib.sha256(f.data).hexdigest()),
            )
            for f in content.files
        ],
    )  # fmt: skip
    files = content.files
    with TransferProgress({f.name: len(f.data) for f in files}, enabled=show_progress) as progress:

        def messages() -> Iterator[datasets_pb2.PublishRoundRequest]:
            yield datasets_pb2.PublishRoundRequest(header=header)
            for f in files:
                for start in range(0, len(f.data), UPLOAD_CHUNK):
                    chunk = f.data[start : start + UPLOAD_CHUNK]
                    yield datasets_pb2.PublishRoundRequest(
                        chunk=datasets_pb2.PublishRoundRequest.Chunk(file=f.name, data=chunk)
                    )
                    progress.update(f.name, start + len(chunk), len(f.data))

        return ctx.call(ctx.datasets.PublishRound, messages(), timeout=600)
