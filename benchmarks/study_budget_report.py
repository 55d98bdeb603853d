"""The budget study's report: summary, comparisons, plot and markdown.

`benchmarks/study_budget.py` runs the cells; this turns them into the rows,
the paired comparisons against cosine (by seed), the figure and the text
that says what they show (also from a saved study_budget.json: `--replot`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

COSINE = "cosine"


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value, nan for none)."""
    if not values:
        return math.nan, math.nan
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


# -- summary, plot, markdown -----------------------------------------------------


def method_names(plan: dict[str, Any]) -> list[str]:
    return [COSINE] + [
        f"WSD {shape} {cooldown:.0%}"
        for shape in plan["shapes"]
        for cooldown in plan["cooldowns"]
    ]


def _groups(cells: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted({(cell["dataset"], cell["regime"]) for cell in cells})


def _scores(
    cells: list[dict[str, Any]], group: tuple[str, str], method: str, budget: int
) -> dict[int, dict[str, float]]:
    """Seed -> the point's scores."""
    return {
        cell["seed"]: cell["methods"][method]["points"][str(budget)]
        for cell in cells
        if (cell["dataset"], cell["regime"]) == group
    }


def compare(a: list[float], b: list[float]) -> dict[str, Any]:
    """`a - b` paired by seed: mean, spread, and whether it is beyond the spread.

    Beyond the spread: the mean difference is larger than the sample
    standard deviation of the per-seed differences (needs 2 seeds or more).
    """
    differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    mean = float(differences.mean())
    spread = float(differences.std(ddof=1)) if len(differences) > 1 else math.nan
    beyond = bool(len(differences) > 1 and abs(mean) > spread)
    return {"difference": mean, "spread": spread, "beyond_spread": beyond}


def summarize(cells: list[dict[str, Any]], plan: dict[str, Any]) -> list[dict]:
    rows = []
    for group in _groups(cells):
        for method in method_names(plan):
            for budget in plan["budgets"]:
                scores = _scores(cells, group, method, budget)
                cosine = _scores(cells, group, COSINE, budget)
                seeds = sorted(scores)
                row: dict[str, Any] = {
                    "dataset": group[0],
                    "regime": group[1],
                    "method": method,
                    "budget": budget,
                    "seeds": len(seeds),
                }
                for metric in ("test_accuracy", "test_loss", "val_loss"):
                    values = [scores[seed][metric] for seed in seeds]
                    row[f"{metric}_mean"], row[f"{metric}_std"] = mean_std(values)
                    if method != COSINE:
                        row[f"{metric}_vs_cosine"] = compare(
                            values, [cosine[seed][metric] for seed in seeds]
                        )
                rows.append(row)
    return rows


def costs(cells: list[dict[str, Any]], plan: dict[str, Any]) -> list[dict]:
    rows = []
    for method in method_names(plan):
        entries = [cell["methods"][method] for cell in cells]
        rows.append(
            {
                "method": method,
                "epochs": mean_std([e["epochs"] for e in entries])[0],
                "epochs_independent": mean_std(
                    [e["epochs_independent"] for e in entries]
                )[0],
                "wall_s": mean_std([e["wall_s"] for e in entries])[0],
            }
        )
    return rows


def plot(
    cells: list[dict], summary: list[dict], plan: dict, regimes: dict, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(cells)
    columns = min(2, len(groups))
    rows_count = math.ceil(len(groups) / columns)
    figure, axes = plt.subplots(
        rows_count, columns, figsize=(6.4 * columns, 4.0 * rows_count + 1.0),
        squeeze=False,
    )  # fmt: skip
    cooldown_colors = {c: f"C{i + 1}" for i, c in enumerate(plan["cooldowns"])}
    styles = {"linear": "--", "1-sqrt": "-"}
    methods = method_names(plan)
    for axis, group in zip(axes.flat, groups, strict=False):
        for index, method in enumerate(methods):
            rows = [
                row for row in summary
                if (row["dataset"], row["regime"]) == group and row["method"] == method
            ]  # fmt: skip
            budgets = [row["budget"] for row in rows]
            # A small sideways shift per method, so equal points stay visible.
            shift = (index - (len(methods) - 1) / 2) * 0.6
            xs = [budget + shift for budget in budgets]
            means = [row["test_accuracy_mean"] for row in rows]
            stds = [row["test_accuracy_std"] for row in rows]
            if method == COSINE:
                color, style, width = "black", "-", 2.4
            else:
                _, shape, cooldown = method.split(" ")
                color = cooldown_colors[float(cooldown.rstrip("%")) / 100]
                style, width = styles.get(shape, ":"), 1.4
            axis.errorbar(
                xs, means, yerr=stds, color=color, linestyle=style,
                linewidth=width, marker="o", markersize=4, capsize=2,
                label=method,
            )  # fmt: skip
        regime = regimes[group[1]]
        axis.set_title(
            f"{group[0]}, {group[1]} ({regime['optimizer']}, "
            f"lr {regime['learning_rate']:g})"
        )
        axis.set_xticks(plan["budgets"])
        axis.set_xlabel("epochs trained (the budget)")
        axis.set_ylabel("held-out test accuracy")
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(groups) :]:
        axis.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(
        handles, labels, loc="lower center", ncol=min(len(labels), 7), fontsize=8
    )
    figure.suptitle(
        "Test accuracy after B epochs: WSD cooldowns off one trunk against "
        "cosine to 0 over B\n(mean ± std over seeds; points shifted sideways)",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0.45 / figure.get_figheight(), 1, 0.95))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _tally(summary: list[dict], metric: str) -> dict[str, int]:
    """WSD against cosine: better / worse beyond the spread, or within it."""
    lower_is_better = metric.endswith("loss")
    tally = {"better": 0, "worse": 0, "within": 0}
    for row in summary:
        versus = row.get(f"{metric}_vs_cosine")
        if versus is None:
            continue
        if not versus["beyond_spread"]:
            tally["within"] += 1
        elif (versus["difference"] < 0) == lower_is_better:
            tally["better"] += 1
        else:
            tally["worse"] += 1
    return tally


def _mark(row: dict[str, Any]) -> str:
    versus = row.get("test_accuracy_vs_cosine")
    if not versus or not versus["beyond_spread"]:
        return ""
    return " ↑" if versus["difference"] > 0 else " ↓"


def length_findings(cells: list[dict], plan: dict, method: str) -> list[str]:
    """Per group: did the longest budget beat the one before beyond the spread?"""
    if len(plan["budgets"]) < 2:
        return []
    last, previous = plan["budgets"][-1], plan["budgets"][-2]
    texts = []
    for group in _groups(cells):
        at_last = _scores(cells, group, method, last)
        at_previous = _scores(cells, group, method, previous)
        seeds = sorted(at_last)
        versus = compare(
            [at_last[s]["test_accuracy"] for s in seeds],
            [at_previous[s]["test_accuracy"] for s in seeds],
        )
        verdict = (
            "beyond the spread"
            if versus["beyond_spread"]
            else "within the seed-to-seed spread"
        )
        texts.append(
            f"{group[0]} {group[1]}: {versus['difference']:+.4f} "
            f"(± {versus['spread']:.4f}, {verdict})"
        )
    return texts


def _group_rows(summary: list[dict], group: tuple[str, str]) -> list[dict]:
    return [row for row in summary if (row["dataset"], row["regime"]) == group]


def _leans(tally: dict[str, int]) -> str | None:
    """`"better"` or `"worse"`: which way the differences beyond the spread go."""
    if tally["better"] == tally["worse"]:
        return None
    return "better" if tally["better"] > tally["worse"] else "worse"


def _overall(accuracy: dict[str, int], total: int) -> str:
    """One sentence on the accuracy comparisons as a whole."""
    if accuracy["within"] >= 0.75 * total:
        return (
            "On these data and this small network, a WSD cooldown off a "
            "constant-rate trunk and cosine to 0 give the same test accuracy "
            "at the same length, within the run-to-run noise, in most "
            "comparisons: the study shows WSD neither better nor worse. "
            "What the budget search adds here is the cost (every length from "
            "one trunk: the epochs above), not a better score."
        )
    if accuracy["better"] == accuracy["worse"]:
        leaning = "split evenly between better and worse"
    else:
        leaning = "lean " + (
            "better" if accuracy["better"] > accuracy["worse"] else "worse"
        )
    return (
        f"The differences beyond the spread {leaning} for WSD; the tables "
        "mark them (↑ better, ↓ worse than cosine at that length)."
    )


def _by_group(cells: list[dict], summary: list[dict]) -> list[str]:
    """Per data set and regime: the tally against cosine, the mean difference."""
    by_group = []
    for group in _groups(cells):
        rows = _group_rows(summary, group)
        tally = _tally(rows, "test_accuracy")
        differences = [
            r["test_accuracy_vs_cosine"]["difference"]
            for r in rows
            if "test_accuracy_vs_cosine" in r
        ]
        by_group.append(
            f"{group[0]} {group[1]}: {tally['better']} better / {tally['worse']} "
            f"worse / {tally['within']} within, mean difference "
            f"{float(np.mean(differences)):+.4f}"
        )
    return by_group


def findings(payload: dict[str, Any]) -> str:
    """What the study shows, in plain sentences, from its numbers."""
    plan, summary, cells = payload["plan"], payload["summary"], payload["cells"]
    accuracy = _tally(summary, "test_accuracy")
    loss = _tally(summary, "test_loss")
    total = sum(accuracy.values())
    parts = [
        f"**What it shows.** Each WSD setting against cosine at the same length, "
        f"paired by seed ({total} comparisons: {len(_groups(cells))} data "
        f"set/regime pairs x {len(method_names(plan)) - 1} cooldowns x "
        f"{len(plan['budgets'])} budgets). Test accuracy: WSD better beyond "
        f"the seed-to-seed spread in {accuracy['better']}, worse in "
        f"{accuracy['worse']}, within the spread in {accuracy['within']}. "
        f"Test loss: better in {loss['better']}, worse in {loss['worse']}, "
        f"within in {loss['within']}."
    ]
    if plan["seeds"] < 2:
        parts.append(
            "With one seed there is no spread: every difference is reported as "
            "within it, and the study shows nothing either way."
        )
    else:
        parts.append(
            "(A loose test: a mean paired difference larger than its standard "
            f"deviation over {plan['seeds']} seeds is a hint, not proof; one test "
            "sample is 1/360 of the digits' test split and 1/114 of breast "
            "cancer's.)"
        )
        parts.append(_overall(accuracy, total))
        against = [
            f"{group[0]} {group[1]}"
            for group in _groups(cells)
            if _leans(_tally(_group_rows(summary, group), "test_accuracy"))
            not in (None, _leans(accuracy))
        ]
        if against:
            parts.append(
                "Not everywhere: they lean the other way on "
                + ", ".join(against)
                + " (per data set and regime below)."
            )
    by_setting = []
    for method in method_names(plan)[1:]:
        rows = [row for row in summary if row["method"] == method]
        tally = _tally(rows, "test_accuracy")
        by_setting.append(
            f"{method}: {tally['better']} better / {tally['worse']} worse"
        )
    parts.append("Per cooldown (test accuracy): " + "; ".join(by_setting) + ".")
    by_group = _by_group(cells, summary)
    parts.append(
        "Per data set and regime (test accuracy, WSD minus cosine): "
        + "; ".join(by_group)
        + "."
    )
    reference = f"WSD 1-sqrt {0.2:.0%}"
    for method in (COSINE, reference):
        if method not in method_names(plan):
            continue
        texts = length_findings(cells, plan, method)
        if texts:
            parts.append(
                f"Length ({method}): test accuracy at {plan['budgets'][-1]} "
                f"epochs minus at {plan['budgets'][-2]}: " + "; ".join(texts) + "."
            )
    return " ".join(parts) + "\n"


def markdown(payload: dict[str, Any]) -> str:
    plan, summary = payload["plan"], payload["summary"]
    methods = method_names(plan)
    parts = [
        "### How long to train: WSD cooldowns against cosine (a study row)\n",
        f"The decay study's data, splits, network and regimes "
        f"({plan['seeds']} seeds x {', '.join(plan['datasets'])} x "
        f"{', '.join(plan['regimes'])}; batch {plan['batch_size']}; backend "
        f"{payload.get('backend')}). Budgets {plan['budgets']} epochs. "
        f"`lrdecay.budget()` with cooldowns {', '.join(plan['shapes'])} x "
        f"{', '.join(f'{c:.0%}' for c in plan['cooldowns'])} (one "
        "constant-rate trunk per search, each point exactly the independent "
        "WSD run) against `lrdecay.CosineDecay` to 0 over B, an independent "
        "run per budget, both at the regime's rate. Each point is the model "
        "after its B epochs, scored once on the held-out test split; "
        "nothing is chosen on it.\n",
    ]
    for group in _groups(payload["cells"]):
        regime = payload["regimes"][group[1]]
        parts.append(
            f"**{group[0]}, {group[1]}** ({regime['optimizer']}, rate "
            f"{regime['learning_rate']:g}): test accuracy, mean ± std over seeds "
            "(↑/↓: better/worse than cosine at that budget beyond the "
            "seed-to-seed spread of the paired difference)\n"
        )
        lines = [
            "| budget | " + " | ".join(methods) + " |",
            "|---|" + "---|" * len(methods),
        ]
        for budget in plan["budgets"]:
            cells_text = []
            for method in methods:
                (row,) = [
                    r for r in summary
                    if (r["dataset"], r["regime"]) == group
                    and r["method"] == method and r["budget"] == budget
                ]  # fmt: skip
                cells_text.append(
                    f"{row['test_accuracy_mean']:.4f} ± "
                    f"{row['test_accuracy_std']:.4f}{_mark(row)}"
                )
            lines.append(f"| {budget} | " + " | ".join(cells_text) + " |")
        parts.append("\n".join(lines) + "\n")
    lines = [
        "| method | epochs trained (all budgets, per cell) | independent runs "
        "| wall time per cell (s) |",
        "|---|---|---|---|",
    ]
    for row in payload["costs"]:
        lines.append(
            f"| {row['method']} | {row['epochs']:.0f} | "
            f"{row['epochs_independent']:.0f} | {row['wall_s']:.1f} |"
        )
    parts.append("**Cost** (mean per data set, regime and seed):\n")
    parts.append("\n".join(lines) + "\n")
    parts.append(findings(payload))
    for name in payload.get("plots", []):
        parts.append(f"![budget study](@@OUT@@/{name})\n")
    return "\n".join(parts)
