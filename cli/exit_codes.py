"""What `mp`'s exit code says, so a script can tell "not found" from "not allowed" from "server down".

The table is shown in `mp --help` and the README; `cli/client.py` maps each gRPC status to one of these.
Nothing here imports grpc, so `mp --help` stays fast.
"""

from __future__ import annotations

from enum import IntEnum

import click


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    RUN_LOST = 3
    NOT_FOUND = 4
    NOT_ALLOWED = 5
    UNREACHABLE = 6
    INVALID = 7
    CONFLICT = 8
    RATE_LIMITED = 9
    INTERRUPTED = 130


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "done",
    ExitCode.FAILED: "failed (a run failed, a file does not match, anything not listed here)",
    ExitCode.USAGE: "wrong usage: an unknown option, a missing or repeated argument",
    ExitCode.RUN_LOST: "the training run was lost (its executor stopped reporting)",
    ExitCode.NOT_FOUND: "not found: no such run, deployment, round, vendor or token",
    ExitCode.NOT_ALLOWED: "not allowed: not logged in, a token not valid, or a scope missing",
    ExitCode.UNREACHABLE: "cannot reach the marketplace, or it did not answer in time",
    ExitCode.INVALID: "the marketplace refused a value as invalid",
    ExitCode.CONFLICT: "conflict: it already exists, or is in a state that does not allow this",
    ExitCode.RATE_LIMITED: "rate limited: wait and try again",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C), or the run was cancelled",
}


def help_table() -> str:
    """The table for `mp --help`'s epilog (click's \\b keeps its lines as they are)."""
    return "\b\nExit codes:\n" + "\n".join(f"  {int(code):<4} {MEANINGS[code]}" for code in ExitCode)


class CommandFailed(click.ClickException):
    """A failure shown as one sentence, ending `mp` with the exit code that names its kind."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.exit_code = int(exit_code)  # type: ignore[misc]  # click declares it on the class; ours is per error
