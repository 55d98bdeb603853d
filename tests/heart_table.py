"""A generated table of the shape of keras-io's heart-disease data."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_heart(path: Path, rows: int = 1000, seed: int = 0) -> Path:
    """A generated copy of keras-io's heart-disease table's shape.

    Numeric (`age`, `trestbps`, `chol`, `thalach`, `oldpeak`), integer-coded
    categoricals (`sex`, `cp`, `fbs`, `restecg`, `exang`, `slope`, `ca`), a
    string categorical (`thal`) and a binary `target` drawn from a logistic
    model of them.
    """
    rng = np.random.default_rng(seed)
    columns = {
        "age": rng.integers(29, 78, rows),
        "sex": rng.integers(0, 2, rows),
        "cp": rng.integers(0, 4, rows),
        "trestbps": rng.integers(94, 201, rows),
        "chol": rng.integers(126, 565, rows),
        "fbs": (rng.random(rows) < 0.15).astype(int),
        "restecg": rng.integers(0, 3, rows),
        "thalach": rng.integers(71, 203, rows),
        "exang": rng.integers(0, 2, rows),
        "oldpeak": rng.gamma(1.0, 1.0, rows).round(1),
        "slope": rng.integers(0, 3, rows),
        "ca": rng.integers(0, 4, rows),
        "thal": rng.choice(
            np.array(["fixed", "normal", "reversible"]), rows, p=[0.1, 0.55, 0.35]
        ),
    }
    thal_effect = {"fixed": -0.8, "normal": 0.3, "reversible": 1.1}
    logit = (
        0.04 * (columns["age"] - 54)
        + 0.8 * columns["sex"]
        + np.array([-1.0, 0.2, 0.9, 1.2])[columns["cp"]]
        - 0.03 * (columns["thalach"] - 150)
        + 0.9 * columns["exang"]
        + 0.6 * columns["oldpeak"]
        + 0.7 * columns["ca"]
        - 1.7
        + np.array([thal_effect[value] for value in columns["thal"]])
    )
    columns["target"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    lines = [",".join(columns)] + [
        ",".join(str(value) for value in row)
        for row in zip(*columns.values(), strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
