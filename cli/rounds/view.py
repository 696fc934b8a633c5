"""How rounds read on a terminal, shared by `mp data` and `mp admin rounds`."""

from __future__ import annotations

from typing import Any

from mlmp_cli import output
from mlmp_cli.display import enum_word, size, when


def state_name(round_: Any) -> str:
    from mlmp_marketplace.v1 import datasets_pb2

    return enum_word(datasets_pb2.RoundState, round_.state)


def print_rounds(rounds: Any) -> None:
    output.table(
        ["ROUND", "STATE", "OPENS", "CLOSES", "FILES", "SIZE", "NOTE"],
        [
            (
                r.number,
                state_name(r),
                when(r.open_time),
                when(r.close_time),
                len(r.files),
                size(sum(f.digest.size_bytes for f in r.files)),
                "synthetic" if r.synthetic else "",
            )
            for r in rounds
        ],  # fmt: skip
        empty="No rounds published yet.",
    )


def print_round(r: Any) -> None:
    output.echo(f"Round {r.number}: {state_name(r)}{'  (synthetic data)' if r.synthetic else ''}")
    output.echo(f"Opens {when(r.open_time)} UTC, closes {when(r.close_time)} UTC")
    if r.description:
        output.echo(r.description)
    if r.HasField("data_start_time"):
        output.echo(f"Data from {when(r.data_start_time)} to {when(r.data_end_time)} UTC")
    output.echo(f"Symbols ({len(r.symbols)}): {' '.join(r.symbols)}")
    output.echo("")
    output.table(
        ["FILE", "FORMAT", "ROWS", "SIZE", "SHA256"],
        [(f.name, f.format, f.row_count, size(f.digest.size_bytes), f.digest.sha256) for f in r.files],
    )
    columns: list[str] = next((list(f.columns) for f in r.files if f.columns), [])
    if columns:
        output.echo("")
        output.echo(f"Columns: {', '.join(columns)}")
