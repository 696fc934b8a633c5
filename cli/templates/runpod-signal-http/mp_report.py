"""Report metrics to the marketplace from a training script: report(corr=0.04, step=3).

`mp train start` reads these lines from the script's standard output and records them on the run;
run on its own, the script just prints them.
"""

import json
import sys

PREFIX = "::mp-metric "


def report(step: int = 0, **metrics: float) -> None:
    for key, value in metrics.items():
        print(PREFIX + json.dumps({"key": key, "value": float(value), "step": int(step)}), flush=True)
        sys.stdout.flush()
