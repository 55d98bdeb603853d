"""A search's ranking as a text table, as `print(result)` and `lrdecay search` show it.

One home for the table: `SearchResult.__str__` and the command line's
output (`lrdecay.cli.output`) print the same rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from lrdecay.tuning.evidence import labels

# Hyperband's epoch budget among a trial's hyperparameters.
EPOCH_BUDGET = "tuner/epochs"


def format_score(score: float | None) -> str:
    """A score with 4 decimals, or `-` for none (or a non-finite one)."""
    if score is None or not math.isfinite(score):
        return "-"
    return f"{score:.4f}"


def format_ranking_table(
    result: Any, hyperparameters: Mapping[str, Mapping[str, Any]] | None = None
) -> str:
    """A search's ranking (`SearchResult.evidence.ranking`): a setting per row.

    With repeats, the score is the mean ± the standard deviation over the
    repeats, and a column marks the settings indistinguishable from the best
    (`≈`). Trials that did not complete follow, unranked.
    """
    ranking = list(result.evidence.ranking)
    repeats = int(result.repeats or 1)
    ranked_ids = {entry.trial_id for entry in ranking}
    unranked = [trial for trial in result.trials if trial.trial_id not in ranked_ids]
    values = hyperparameters or {}
    ids = [entry.trial_id for entry in ranking] + [t.trial_id for t in unranked]
    names = varying_names([values.get(trial_id, {}) for trial_id in ids])
    objective = result.evidence.objective
    marks = ["vs best"] if repeats > 1 else []
    headers = [
        "rank", "trial", "kind", "settings",
        *(column_name(name) for name in names),
        f"{objective} mean ± std" if repeats > 1 else f"best {objective}",
        *marks, "status",
    ]  # fmt: skip

    def extras(trial_id: str) -> list[str]:
        return [
            labels.value_text(values.get(trial_id, {}).get(name, "-")) for name in names
        ]

    rows = []
    for rank, entry in enumerate(ranking, start=1):
        score = format_score(entry.mean)
        if entry.n > 1 and math.isfinite(entry.std):
            score += f" ± {entry.std:.4f}"
        mark = (
            "best" if rank == 1 else ("≈" if entry.indistinguishable_from_best else "")
        )
        rows.append(
            [
                str(rank),
                entry.trial_id,
                str(entry.kind or "?"),
                labels.settings_text(entry.settings)
                or ("control" if entry.is_control else ""),
                *extras(entry.trial_id),
                score,
                *([mark] if marks else []),
                "COMPLETED",
            ]
        )
    for trial in sorted(unranked, key=lambda t: t.trial_id):
        rows.append(
            [
                "-",
                trial.trial_id,
                str(trial.kind or "?"),
                labels.settings_text(trial.settings),
                *extras(trial.trial_id),
                "-",
                *([""] if marks else []),
                str(trial.status),
            ]
        )
    score_column = 4 + len(names)
    return table(headers, rows, numeric={0, score_column})


def table(headers: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    """Columns padded to their widest cell; `numeric` ones right-aligned."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def column_name(name: str) -> str:
    """`epochs` for Hyperband's budget, else the hyperparameter's own name."""
    return "epochs" if name == EPOCH_BUDGET else name


def varying_names(values: Sequence[Mapping[str, Any]]) -> list[str]:
    """The names whose value differs between `values`, in first-seen order."""
    names: list[str] = []
    for entry in values:
        names += [name for name in entry if name not in names]
    return [
        name for name in names if len({repr(entry.get(name)) for entry in values}) > 1
    ]
