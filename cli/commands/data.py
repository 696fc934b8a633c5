"""`mp data`: a vendor's view of dataset rounds: list, info, pull, verify."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mlmp_cli import output
from mlmp_cli.context import Context, pass_context
from mlmp_cli.output import json_option
from mlmp_cli.rounds.fetch import fetch_round, parse_round
from mlmp_cli.rounds.view import print_round, print_rounds

round_option = click.option(
    "--round", "round_ref", default="current", show_default=True, help="'current' or a round number."
)


def _dest(dest: Path | None, number: int) -> Path:
    from mlmp_cli.project import round_folder

    return dest or round_folder(number)


DEST_HELP = "Folder. Default: the project's .mp/rounds/round-N inside a project (mp.yaml), else mp-data/round-N."


@click.group()
def data() -> None:
    """Dataset rounds: list them, inspect one, pull its files, verify them on disk."""


@data.command("list")
@json_option
@pass_context
def list_rounds(ctx: Context, as_json: bool) -> None:
    """Rounds, newest first: number, state, opening and closing times, files, sizes.

    \b
    Examples:
      mp data list
      mp admin rounds list --json
    """
    from mlmp_marketplace.v1 import datasets_pb2

    response = ctx.call(ctx.datasets.ListRounds, datasets_pb2.ListRoundsRequest(page_size=200))
    if as_json:
        output.emit_json([output.to_dict(r) for r in response.rounds])
    else:
        print_rounds(response.rounds)


@data.command()
@round_option
@json_option
@pass_context
def info(ctx: Context, round_ref: str, as_json: bool) -> None:
    """One round: files with size and sha256, columns, symbols, time range.

    \b
    Examples:
      mp data info --round current
      mp data info --round 12 --json
    """
    round_ = fetch_round(ctx, parse_round(round_ref))
    if as_json:
        output.emit_json(output.to_dict(round_))
    else:
        print_round(round_)


@data.command()
@round_option
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), help=DEST_HELP)
@click.option("--file", "files", multiple=True, help="Only this file (repeatable), e.g. --file live.")
@click.option("--parallel", default=4, show_default=True, type=click.IntRange(1, 16), help="Files at once.")
@click.option("--limit-rate", default="0",
              help="Cap for the whole pull, all files together: bytes/s, K/M suffix (5M). 0: none.")  # fmt: skip
@json_option
@pass_context
def pull(ctx: Context, round_ref: str, dest: Path | None, files: tuple[str, ...], parallel: int, limit_rate: str,
         as_json: bool):  # fmt: skip
    """Download a round's files, verified against the manifest's sha256.

    Files are written to NAME.part and renamed once they verify. Ctrl-C stops at once and keeps
    the NAME.part files; run it again after an interruption: it resumes from the bytes on disk and
    skips files that are complete.

    \b
    Examples:
      mp data pull --round current
      mp data pull --round 12 --file live --dest data/ --limit-rate 5M
    """
    from mlmp_cli.transfers.pull import pull_round

    rate = _parse_rate(limit_rate)
    round_ = fetch_round(ctx, parse_round(round_ref))
    folder = _dest(dest, round_.number)
    outcomes = pull_round(ctx, round_, folder, list(files), parallel=parallel, rate_limit=rate,
                          show_progress=not as_json)  # fmt: skip
    if as_json:
        output.emit_json({"round": round_.number, "dest": str(folder), "files": [o.__dict__ for o in outcomes]})
        return
    for outcome in outcomes:
        extra = f" (resumed from byte {outcome.resumed_from:,})" if outcome.resumed_from else ""
        output.echo(f"{outcome.name:12} {outcome.status}{extra}  {outcome.path}")
    output.echo(f"Round {round_.number}: {len(outcomes)} file(s) in {folder}, sha256 verified.")


@data.command()
@round_option
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), help=DEST_HELP)
@json_option
@pass_context
def verify(ctx: Context, round_ref: str, dest: Path | None, as_json: bool) -> None:
    """Re-hash the files on disk against the server's manifest. Exit code 1 when any is off.

    \b
    Examples:
      mp data verify --round current
      mp data verify --round 12 --dest data/ --json
    """
    from mlmp_cli.transfers.download import hash_file

    round_ = fetch_round(ctx, parse_round(round_ref))
    folder = _dest(dest, round_.number)
    results = []
    for file in round_.files:
        path = folder / f"{file.name}.{file.format}"
        if not path.exists():
            status = "missing"
        elif path.stat().st_size != file.digest.size_bytes or hash_file(path).hexdigest() != file.digest.sha256:
            status = "mismatch"
        else:
            status = "ok"
        results.append({"file": file.name, "path": str(path), "status": status})
    bad = [r for r in results if r["status"] != "ok"]
    if as_json:
        output.emit_json({"round": round_.number, "ok": not bad, "files": results})
    else:
        for result in results:
            output.echo(f"{result['file']:12} {result['status']:9} {result['path']}")
        output.echo(
            f"Round {round_.number}: "
            + ("all files match the manifest." if not bad else f"{len(bad)} file(s) do not match; run mp data pull.")
        )
    if bad:
        sys.exit(1)


def _parse_rate(text: str) -> float:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    cleaned = text.strip().upper().removesuffix("B")
    try:
        if cleaned and cleaned[-1] in units:
            return float(cleaned[:-1]) * units[cleaned[-1]]
        return float(cleaned)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a rate such as 500K or 5M", param_hint="--limit-rate") from None
