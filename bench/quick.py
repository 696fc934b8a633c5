"""`BENCH_QUICK=1`: every bench script at small sizes and short durations.

CI runs `BENCH_QUICK=1 make bench` so the scripts cannot rot; quick figures show that each path runs and
roughly how it compares with its baseline, not what the full run would measure.
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

QUICK = os.environ.get("BENCH_QUICK", "") == "1"


def sized(full: T, quick: T) -> T:
    """`full` for a real run, `quick` under BENCH_QUICK=1."""
    return quick if QUICK else full
