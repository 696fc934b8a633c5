import numpy as np
import pandas as pd

from model import FEATURES, TARGET, Model, evaluate


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    data[TARGET] = 0.5 * data["ret_5"] - 0.2 * data["range"] + rng.normal(scale=0.5, size=rows)
    return data


def test_the_model_learns_a_real_relation_and_round_trips(tmp_path):
    model = Model.fit(frame(2000, 1))
    validation = frame(500, 2)
    metrics = evaluate(model.predict(validation), validation[TARGET].to_numpy())
    assert metrics["val_corr"] > 0.3
    assert metrics["val_hit_rate"] > 0.55
    model.save(tmp_path / "model.json")
    again = Model.load(tmp_path / "model.json")
    assert np.allclose(again.predict(validation), model.predict(validation))
    assert np.all(np.abs(again.scores(validation)) <= 1)
