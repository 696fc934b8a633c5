"""Trains the model on the round's train file, reports validation metrics, saves the model.

`mp train start` sets MP_ROUND_DIR (the pulled round), MP_HYPERPARAMETERS (JSON) and MP_ARTIFACT_DIR.
"""

import json
import os
from pathlib import Path

import pandas as pd

from model import TARGET, Model, evaluate
from mp_report import report


def main() -> None:
    round_dir = Path(os.environ.get("MP_ROUND_DIR", "data"))
    artifacts = Path(os.environ.get("MP_ARTIFACT_DIR", "artifacts"))
    params = json.loads(os.environ.get("MP_HYPERPARAMETERS", "{}"))
    l2 = float(params.get("l2", 1.0))
    train = pd.read_parquet(round_dir / "train.parquet")
    validation = pd.read_parquet(round_dir / "validation.parquet")
    print(f"training on {len(train)} rows, validating on {len(validation)}; l2={l2}", flush=True)
    model = Model.fit(train, l2=l2)
    metrics = evaluate(model.predict(validation), validation[TARGET].to_numpy(float))
    report(step=1, **metrics)
    artifacts.mkdir(parents=True, exist_ok=True)
    model.save(artifacts / "model.json")
    print(f"saved {artifacts / 'model.json'}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()), flush=True)


if __name__ == "__main__":
    main()
