"""Round look-ups and how rounds read on a terminal, shared by `mp data` and `mp admin rounds`."""

from __future__ import annotations

import click

from cli import output


def parse_round(value: str) -> int:
    """`current` → 0 (the server's "current"), else a positive round number."""
    if value.strip().lower() == "current":
        return 0
    if not value.strip().isdigit() or int(value) < 1:
        raise click.BadParameter(
            f"{value!r} is not a round: use 'current' or a number such as 12", param_hint="--round"
        )
    return int(value)


def fetch_round(session, number: int):
    from marketplace.v1 import datasets_pb2, datasets_pb2_grpc

    stub = datasets_pb2_grpc.DatasetServiceStub(session.channel)
    if number == 0:
        return session.call(stub.GetCurrentRound, datasets_pb2.GetCurrentRoundRequest())
    return session.call(stub.GetRound, datasets_pb2.GetRoundRequest(number=number))


def state_name(round_) -> str:
    from marketplace.v1 import datasets_pb2

    return datasets_pb2.RoundState.Name(round_.state).removeprefix("ROUND_STATE_").lower()


def when(stamp, present: bool = True) -> str:
    return stamp.ToDatetime().strftime("%Y-%m-%d %H:%M") if present else "-"


def size_text(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def print_rounds(rounds) -> None:
    output.table(
        ["ROUND", "STATE", "OPENS", "CLOSES", "FILES", "SIZE", "NOTE"],
        [
            (
                r.number,
                state_name(r),
                when(r.open_time),
                when(r.close_time),
                len(r.files),
                size_text(sum(f.digest.size_bytes for f in r.files)),
                "synthetic" if r.synthetic else "",
            )
            for r in rounds
        ],  # fmt: skip
        empty="No rounds published yet.",
    )


def print_round(r) -> None:
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
        [(f.name, f.format, f.row_count, size_text(f.digest.size_bytes), f.digest.sha256) for f in r.files],
    )
    columns: list[str] = next((list(f.columns) for f in r.files if f.columns), [])
    if columns:
        output.echo("")
        output.echo(f"Columns: {', '.join(columns)}")
