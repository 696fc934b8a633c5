"""Pulling a round's files, or a run's model, into a folder: signed links, verified resumable downloads, progress.

Shared by `mp data pull`, `mp train start` (which pulls before it trains, locally or in a pod) and
`mp deploy` (locally, or in the pod before it serves).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlmp_cli.context import Context
from mlmp_cli.exit_codes import CommandFailed, ExitCode
from mlmp_cli.transfers.download import DownloadFailed, Outcome, Wanted, download_all
from mlmp_cli.transfers.progress import TransferProgress


def pull_round(
    ctx: Context, round_: Any, folder: Path, names: list[str] | None = None, *, parallel: int = 4,
    rate_limit: float = 0, show_progress: bool = True,
) -> list[Outcome]:  # fmt: skip
    """Downloads `names` (default: every file) of `round_` into `folder`, each sha256-checked."""
    from mlmp_marketplace.v1 import datasets_pb2

    by_name = {f.name: f for f in round_.files}
    names = names or list(by_name)
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise click.ClickException(
            f"round {round_.number} has no file {', '.join(unknown)}; it has {', '.join(by_name)}"
        )

    def sign(wanted_names: list[str]) -> dict[str, str]:
        request = datasets_pb2.CreateSignedUrlsRequest(round_number=round_.number, files=wanted_names)
        return {u.file: u.url for u in ctx.call(ctx.datasets.CreateSignedUrls, request).urls}

    urls = sign(names)
    wanted = [
        Wanted(name, folder / f"{name}.{by_name[name].format}", by_name[name].digest.size_bytes,
               by_name[name].digest.sha256, urls[name])
        for name in names
    ]  # fmt: skip
    with TransferProgress({w.name: w.size for w in wanted}, enabled=show_progress) as progress:
        try:
            return download_all(
                wanted, lambda name: sign([name])[name], progress.update, parallel=parallel, rate_limit=rate_limit
            )
        except DownloadFailed as error:
            raise click.ClickException(f"{error}. Run the same command again to resume.") from None
        except KeyboardInterrupt:
            raise CommandFailed(
                f"interrupted; what arrived is kept in {folder}/NAME.part: run the same command again to resume",
                ExitCode.INTERRUPTED,
            ) from None


def pull_model(ctx: Context, run_id: str, folder: Path) -> Path:
    """The run's model artifact in `folder` (sha256-checked); returns its path."""
    from mlmp_marketplace.v1 import training_pb2

    def sign() -> training_pb2.ArtifactUrl:
        return ctx.call(ctx.training.CreateArtifactUrl, training_pb2.CreateArtifactUrlRequest(run_id=run_id))

    link = sign()
    wanted = Wanted("model", folder / link.file_name, link.digest.size_bytes, link.digest.sha256, link.url)
    try:
        download_all([wanted], lambda _name: sign().url, lambda *_progress: None, parallel=1)
    except DownloadFailed as error:
        raise click.ClickException(f"the model of run {run_id} could not be fetched: {error}") from None
    return wanted.target
