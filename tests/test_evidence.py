"""Evidence a search's ranking can be trusted by: seeds, the control, repeats.

- Reproducible: the same seeded search gives the same per-epoch metrics for
  every trial in two fresh folders (and again in the same one), on TensorFlow
  and, from the TensorFlow run, on JAX (tests/test_jax.py).
- An unseeded search picks a seed, records it, and a resume reuses it.
- The constant-rate control runs first in every algorithm, once.
- Repeats: one child run per seed, the ranking's mean and spread, the
  indistinguishability rule and the verdict.

Real searches on the digits, 2-3 epochs, batch 128; the rule itself is also
tested on hand-made scores.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import search_store as store
from search_store import unseeded_digits_model

BATCH = 128


@pytest.fixture
def build() -> Callable[[], Any]:
    """A dense digits classifier that does *not* seed itself: the search must."""
    return unseeded_digits_model()


def _curves(folder: Path) -> dict[tuple[str, str], list[float]]:
    """(trial id, execution seed) -> the run's val_loss per epoch, from MLflow."""
    client = store.client(folder)
    curves = {}
    for run in store.runs(client, "trial"):
        history = client.get_metric_history(run.info.run_id, "val_loss")
        key = (run.data.tags["lrdecay.trial_id"], run.data.params["seed"])
        curves[key] = [point.value for point in sorted(history, key=lambda p: p.step)]
    return curves


def _seeded_search(
    build: Callable[[], Any], digits: Any, folder: Path, **kw: Any
) -> Any:
    from lrdecay import search

    x, y, x_val, y_val = digits
    settings: dict[str, Any] = {
        "algorithm": "grid", "kinds": ("step",), "decay_epochs": [1, 2],
        "epochs": 3, "seed": 7, "tracking": f"sqlite:///{folder}/mlflow.db",
    }  # fmt: skip
    settings.update(kw)
    return search(
        build, x, y, validation_data=(x_val, y_val), batch_size=BATCH,
        project_dir=str(folder / "project"), **settings,
    )  # fmt: skip


@pytest.mark.jax
@pytest.mark.slow
def test_a_seeded_search_repeats_exactly_in_fresh_folders_and_the_same_one(
    digits: Any, build: Callable[[], Any], tmp_path: Path
) -> None:
    first = _seeded_search(build, digits, tmp_path / "first")
    second = _seeded_search(build, digits, tmp_path / "second")
    curves = _curves(tmp_path / "first")
    # The control and both step decays, one run each, all with seed 7.
    assert sorted(curves) == [("0000", "7"), ("0001", "7"), ("0002", "7")]
    assert all(len(curve) == 3 for curve in curves.values())
    assert _curves(tmp_path / "second") == curves
    assert [t.score for t in second.trials] == [t.score for t in first.trials]
    assert second.ranking == first.ranking
    # Common random numbers: the same first epoch for every setting (the
    # decays start at the control's rate).
    assert len({curve[0] for curve in curves.values()}) == 1
    # Again in the same folder, started over.
    again = _seeded_search(
        build, digits, tmp_path / "first", tuner_options={"overwrite": True}
    )
    assert [t.score for t in again.trials] == [t.score for t in first.trials]
    # Both searches' runs are in the folder's store: each curve twice, equal.
    client = store.client(tmp_path / "first")
    by_key: dict[tuple[str, str], list[list[float]]] = {}
    for run in store.runs(client, "trial"):
        history = client.get_metric_history(run.info.run_id, "val_loss")
        key = (run.data.tags["lrdecay.trial_id"], run.data.params["seed"])
        by_key.setdefault(key, []).append(
            [p.value for p in sorted(history, key=lambda p: p.step)]
        )
    assert {key: len(values) for key, values in by_key.items()} == dict.fromkeys(
        curves, 2
    )
    assert all(values[0] == values[1] for values in by_key.values())


@pytest.mark.slow
def test_an_unseeded_search_picks_records_and_reuses_its_seed(
    digits: Any, build: Callable[[], Any], tmp_path: Path
) -> None:
    result = _seeded_search(
        build, digits, tmp_path, seed=None, kinds=("step",), decay_epochs=[1],
        epochs=1,
    )  # fmt: skip
    assert isinstance(result.seed, int) and 0 <= result.seed < 2**31
    client = store.client(tmp_path)
    parent = client.get_run(result.parent_run_id)
    assert parent.data.params["seed"] == str(result.seed)
    assert [run.data.params["seed"] for run in store.runs(client, "trial")] == [
        str(result.seed)
    ] * 2
    marker = tmp_path / "project" / result.tuner.project_name / "lrdecay_search.json"
    recorded = json.loads(marker.read_text())
    assert recorded["seed"] == result.seed
    assert recorded["parent_run_id"] == result.parent_run_id
    # A resume (same project, no seed given) keeps the seed and the parent.
    resumed = _seeded_search(
        build, digits, tmp_path, seed=None, kinds=("step",), decay_epochs=[1],
        epochs=1,
    )  # fmt: skip
    assert resumed.seed == result.seed
    assert resumed.parent_run_id == result.parent_run_id
    assert len(store.runs(client, "trial")) == 2
    # Starting over picks a new seed; untracked, the seed is still recorded.
    fresh = _seeded_search(
        build, digits, tmp_path, seed=None, kinds=("step",), decay_epochs=[1],
        epochs=1, tuner_options={"overwrite": True}, tracking=False,
    )  # fmt: skip
    assert json.loads(marker.read_text())["seed"] == fresh.seed


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["random", "bayesian", "hyperband"])
def test_the_control_runs_first_and_once(
    digits: Any, build: Callable[[], Any], tmp_path: Path, algorithm: str
) -> None:
    kw: dict[str, Any] = {"max_trials": 2}
    if algorithm == "hyperband":
        kw = {"tuner_options": {"factor": 2, "hyperband_iterations": 1}}
    result = _seeded_search(
        build, digits, tmp_path, algorithm=algorithm, kinds=("step", "exponential"),
        decay_epochs=[0.5, 1.0], epochs=2, seed=1, tracking=False,
        **kw,
    )  # fmt: skip
    kinds = [trial.kind for trial in result.trials]
    assert kinds[0] == "constant"
    first = result.tuner.oracle.trials[result.trials[0].trial_id]
    assert first.hyperparameters.values["decay_kind"] == "constant"
    if algorithm != "hyperband":
        assert kinds.count("constant") == 1
        # Resumed with more trials: the control is not run again.
        more = _seeded_search(
            build, digits, tmp_path, algorithm=algorithm,
            kinds=("step", "exponential"), decay_epochs=[0.5, 1.0], epochs=2,
            seed=1, tracking=False, max_trials=3,
        )  # fmt: skip
        assert len(more.trials) == 3
        assert [t.kind for t in more.trials].count("constant") == 1
    assert result.control is not None and result.control.is_control


@pytest.mark.jax
@pytest.mark.slow
def test_repeats_give_one_child_run_per_seed_and_a_spread(
    digits: Any, build: Callable[[], Any], tmp_path: Path
) -> None:
    result = _seeded_search(
        build, digits, tmp_path, kinds=("step",), decay_epochs=[1], repeats=2
    )
    assert result.repeats == 2 and result.seed == 7
    client = store.client(tmp_path)
    runs = store.runs(client, "trial")
    assert sorted(
        (r.data.tags["lrdecay.trial_id"], r.data.params["decay_kind"],
         r.data.params["seed"]) for r in runs
    ) == [
        ("0000", "constant", "7"), ("0000", "constant", "8"),
        ("0001", "step", "7"), ("0001", "step", "8"),
    ]  # fmt: skip
    # Each run's best val_loss is that repeat's score; the trial's is their mean.
    best_by_key = {}
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "val_loss")
        best = min(point.value for point in history)
        best_by_key[(run.data.tags["lrdecay.trial_id"], run.data.params["seed"])] = best
    assert [entry.trial_id for entry in result.ranking] == [
        result.best_trial_id,
        *[t.trial_id for t in result.trials if t.trial_id != result.best_trial_id],
    ]
    for entry in result.ranking:
        assert entry.n == 2
        expected = (
            best_by_key[(entry.trial_id, "7")],
            best_by_key[(entry.trial_id, "8")],
        )
        assert entry.scores == pytest.approx(expected, rel=1e-6)
        assert entry.mean == pytest.approx(sum(expected) / 2, rel=1e-6)
        assert entry.std == pytest.approx(abs(expected[0] - expected[1]) / math.sqrt(2))
        trial = next(t for t in result.trials if t.trial_id == entry.trial_id)
        assert entry.mean == trial.score
    # Common random numbers: seed 7 (and 8) give every setting the same start.
    for seed in ("7", "8"):
        first_epochs = {
            client.get_metric_history(r.info.run_id, "val_loss")[0].value
            for r in runs
            if r.data.params["seed"] == seed
        }
        assert len(first_epochs) == 1, first_epochs
    control = result.control
    assert control is not None and control.kind == "constant"
    assert control.description == "constant (control)"
    decay = next(entry for entry in result.ranking if not entry.is_control)
    assert decay.description == "step epochs_drop=1 drop=0.5"
    assert result.beats_control_by == pytest.approx(control.mean - decay.mean)
    assert result.control_p_value is not None
    if result.best_decay["kind"] == "constant":
        # With seed 7 at this budget the control wins: nothing to paste.
        assert result.winner.control_won
        assert result.winner.code == ""
        # The flat name of before still answers, with a DeprecationWarning.
        with pytest.deprecated_call(match="winner.code"):
            assert result.best_decay_code is None
        assert "no decay: the constant rate scored best" in str(result)
    else:
        assert not result.winner.control_won
        assert (
            result.winner.code == "StepDecay(initial_lr=0.1, drop=0.5, epochs_drop=1)"
        )
    assert "over 2 seeds, Welch's t-test p=" in result.verdict


@pytest.mark.slow
def test_control_false_leaves_the_control_out(
    digits: Any, build: Callable[[], Any], tmp_path: Path
) -> None:
    result = _seeded_search(
        build, digits, tmp_path, kinds=("step",), decay_epochs=[1], epochs=1,
        control=False, tracking=False,
    )  # fmt: skip
    assert [t.kind for t in result.trials] == ["step"]
    assert result.control is None and result.beats_control_by is None
    assert result.verdict == (
        "The search ran without the constant-rate control (control=False): "
        "it cannot say whether decaying the rate helps at all."
    )


# -- the rule, on hand-made scores ---------------------------------------------


def _trial(trial_id: str, scores: list[float]) -> Any:
    from keras_tuner.engine.trial import Trial

    from lrdecay.tuning.evidence.result import execution_metric

    trial = Trial(hyperparameters=None, trial_id=trial_id, status="COMPLETED")
    for index, score in enumerate(scores):
        trial.metrics.register(execution_metric(index))
        trial.metrics.update(execution_metric(index), score)
    trial.score = sum(scores) / len(scores)
    return trial


def _summary(trial: Any, kind: str, settings: dict[str, Any]) -> Any:
    from lrdecay.tuning.evidence.result import TrialSummary

    return TrialSummary(trial.trial_id, "COMPLETED", kind, settings, trial.score, None)


def test_welch_p_value_is_scipys() -> None:
    from scipy import stats

    from lrdecay.tuning.evidence.result import welch_p_value

    a, b = (0.30, 0.32, 0.31), (0.35, 0.36, 0.33)
    expected = stats.ttest_ind(a, b, equal_var=False).pvalue
    assert welch_p_value(a, b) == pytest.approx(expected, rel=1e-9)
    assert welch_p_value((0.3,), b) is None
    assert welch_p_value((0.3, 0.3), (0.3, 0.3)) == 1.0
    assert welch_p_value((0.3, 0.3), (0.4, 0.4)) == 0.0


def test_ranking_marks_what_the_noise_cannot_separate() -> None:
    from lrdecay.tuning.evidence.result import rank, verdict

    trials = {
        "0000": _trial("0000", [0.40, 0.41, 0.39]),  # the control
        "0001": _trial("0001", [0.30, 0.31, 0.29]),  # the best
        "0002": _trial("0002", [0.32, 0.28, 0.33]),  # within the noise
        "0003": _trial("0003", [0.50, 0.52, 0.51]),  # clearly worse
    }
    summaries = [
        _summary(trials["0000"], "constant", {}),
        _summary(trials["0001"], "step", {"epochs_drop": 10, "drop": 0.5}),
        _summary(trials["0002"], "step", {"epochs_drop": 20, "drop": 0.5}),
        _summary(trials["0003"], "plateau", {"patience": 5, "factor": 0.5,
                                             "monitor": "val_loss"}),
    ]  # fmt: skip
    ranking = rank(trials, summaries, 3, "min")
    assert [
        (e.trial_id, e.description, e.n, e.indistinguishable_from_best, e.is_control)
        for e in ranking
    ] == [
        ("0001", "step epochs_drop=10 drop=0.5", 3, True, False),
        ("0002", "step epochs_drop=20 drop=0.5", 3, True, False),
        ("0000", "constant (control)", 3, False, True),
        ("0003", "plateau patience=5 factor=0.5", 3, False, False),
    ]
    assert ranking[0].mean == pytest.approx(0.30)
    assert ranking[0].std == pytest.approx(0.01)
    assert ranking[0].p_value is None and ranking[1].p_value > 0.05
    assert ranking[2].p_value < 0.05
    text = verdict(ranking, "val_loss", "min", 3)
    assert text.startswith(
        "The best decay, step epochs_drop=10 drop=0.5, beat the constant rate "
        "by 0.1 beyond the noise (val_loss 0.3 ± 0.01 vs 0.4 ± 0.01 over 3 "
        "seeds, Welch's t-test p="
    ), text


def test_verdicts_say_when_the_evidence_shows_nothing() -> None:
    from lrdecay.tuning.evidence.result import rank, verdict

    noisy = {
        "0000": _trial("0000", [0.30, 0.40, 0.35]),
        "0001": _trial("0001", [0.28, 0.42, 0.33]),
    }
    summaries = [
        _summary(noisy["0000"], "constant", {}),
        _summary(noisy["0001"], "exponential", {"k": 0.1}),
    ]
    text = verdict(rank(noisy, summaries, 3, "min"), "val_loss", "min", 3)
    assert text.startswith("The best decay, exponential k=0.1, did not beat")
    assert text.endswith(": treat them as equal.")

    single = {
        "0000": _trial("0000", [0.35]),
        "0001": _trial("0001", [0.30]),
    }
    summaries = [
        _summary(single["0000"], "constant", {}),
        _summary(single["0001"], "step", {"epochs_drop": 5, "drop": 0.5}),
    ]
    ranking = rank(single, summaries, 1, "min")
    # One run each: no spread, so nothing is told apart.
    assert [(e.trial_id, e.indistinguishable_from_best) for e in ranking] == [
        ("0001", True),
        ("0000", True),
    ]
    assert all(math.isnan(e.std) and e.n == 1 for e in ranking)
    assert verdict(ranking, "val_loss", "min", 1) == (
        "The best decay, step epochs_drop=5 drop=0.5, scored 0.05 better than "
        "the constant rate (val_loss 0.3 vs 0.35) from one run per setting, "
        "which measures no run-to-run spread: differences below it are not "
        "evidence (use repeats=3)."
    )

    tied = {"0000": _trial("0000", [0.35]), "0001": _trial("0001", [0.35])}
    summaries = [
        _summary(tied["0000"], "constant", {}),
        _summary(tied["0001"], "plateau", {"patience": 5, "factor": 0.5}),
    ]
    assert verdict(rank(tied, summaries, 1, "min"), "val_loss", "min", 1) == (
        "The best decay, plateau patience=5 factor=0.5, scored the same as the "
        "constant rate (val_loss 0.35): decaying did not change the result."
    )

    accuracy = {
        "0000": _trial("0000", [0.90, 0.91]),
        "0001": _trial("0001", [0.80, 0.81]),
    }
    summaries = [
        _summary(accuracy["0000"], "constant", {}),
        _summary(accuracy["0001"], "step", {"epochs_drop": 5, "drop": 0.5}),
    ]
    ranking = rank(accuracy, summaries, 2, "max")
    assert [e.trial_id for e in ranking] == ["0000", "0001"]
    assert verdict(ranking, "val_accuracy", "max", 2).startswith(
        "The constant rate beat every decay beyond the noise: the best decay, "
        "step epochs_drop=5 drop=0.5, was worse by 0.1 "
    )


def test_repeats_and_control_name_a_different_search() -> None:
    from lrdecay import defaults, schedules
    from lrdecay.tuning.pipeline.plan import make_plan

    def plan(**kw: Any) -> Any:
        settings: dict[str, Any] = {
            "algorithm": "grid", "kinds": schedules.DEFAULT_KINDS,
            "decay_epochs": defaults.DECAY_EPOCHS, "space": None,
            "initial_lr": None, "tracking": False, "tracking_uri": None,
            "experiment_name": None, "project_name": None,
            "project_dir": "/nonexistent-lrdecay-project",
            "epochs": defaults.EPOCHS, "max_trials": None,
            "objective": defaults.OBJECTIVE, "batch_size": defaults.BATCH_SIZE,
            "seed": 5, "overwrite": False, "tuner_kwargs": {},
        }  # fmt: skip
        settings.update(kw)
        return make_plan(**settings)

    base = plan()
    assert base.control is True and base.repeats == 1 and base.seed == 5
    assert base.space.kind_values == ("constant", "step", "exponential", "plateau")
    names = {
        base.project_name,
        plan(control=False).project_name,
        plan(repeats=3).project_name,
        plan(seed=6).project_name,
    }
    assert len(names) == 4
    assert plan(repeats=1).project_name == base.project_name
    assert plan(executions_per_trial=3).project_name == plan(repeats=3).project_name
    assert plan(repeats=3).settings()["repeats"] == 3
    unseeded = plan(seed=None)
    assert not unseeded.seed_given and 0 <= unseeded.seed < 2**31
    with pytest.raises(ValueError, match=r"repeats=2, executions_per_trial=3"):
        plan(repeats=2, executions_per_trial=3)
    with pytest.raises(TypeError, match=r"control='yes'"):
        plan(control="yes")
    with pytest.raises(ValueError, match=r"seed=-1"):
        plan(seed=-1)
    with pytest.raises(TypeError, match=r"seed=1.5"):
        plan(seed=1.5)
    with pytest.raises(ValueError, match=r"repeats=0"):
        plan(repeats=0)
