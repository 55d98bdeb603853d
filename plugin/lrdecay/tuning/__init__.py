"""The KerasTuner search of the decay.

Named `tuning` rather than `search` so that `lrdecay.search`, the function,
is never shadowed by a subpackage of the same name.

One subpackage per concern; each `__init__` lists its modules, one line
each. The layers (import-linter's contract in `pyproject.toml`): a layer
imports only from the layers below it, and the subpackages on one line not
from each other:

    budgets
    pipeline
    distributed | prefixes | lr_finder
    record | data | termination
    evidence
    searchspace

- `budgets/`: `lrdecay.budget()`, how long to train: a grid search over WSD
  trials whose epochs differ (one per budget), all branching off one
  constant-rate trunk (`plan`, `hypermodel`, `evidence`, `record`, `runner`).
- `pipeline/`: `search()` in steps. `runner` (`search()`), `arguments` and
  `keywords` (its deprecated names, fit keywords and tuner options), `plan`
  (checked settings, defaults from `lrdecay.defaults`), `identity` (settings,
  data and model digests; the project name), `variant` (the budget search's
  hook), `dry_run` (the outline before training), `prepare` (role, LR range
  test, MLflow runs), `tuners` (one tuner per algorithm; `oracles`: a grid
  side by side; `hyperband`; `rerun`: FAILED trials again on a resume),
  `hypermodel` (`DecayHyperModel`; `trial_context`, `finite_guard`,
  `decay_state`, `model_reuse`: one traced model for trials that build the
  same), `execute` (the tuner runs: signals, the frozen heap),
  `jobs` (`jobs=N`), `assemble` (the `SearchResult`), `caller_warnings`.
- `data/`: the real inputs of a search, read once: `inputs`, `readers`,
  `normalize_data`, `checks` (the preflight), `epoch_order`,
  `user_callbacks`.
- `searchspace/`: `space` (`DecaySpace`), `ranges` (`Range`), `budget` (the
  decay epochs meet the epoch budget); pure Python.
- `evidence/`: `result` (`SearchResult`, `TrialSummary`, `TrialEvent`),
  `outcome` (its `winner`, `evidence` and `cost`), `verdict` (ranking,
  spread, ties, the verdict), `labels`, `table`, `failures`.
- `prefixes/`: shared-prefix trunks and branches, exact: `prefix`
  (departures, trunk state), `branch`, `trunks` (on disk), `trunk_check`
  (whole epoch files), `trunk_lock` (a writer at work); the trainer the
  tests compare against is `tests/prefix_trainer.py`.
- `lr_finder/`: `lr_range` (`find_lr`), `lr_range_data`, `auto_lr`.
- `record/`: THE MLflow run layout of a search: `runs`, `tracker`
  (`trial_run`, `trial_logger`, `search_summary`, `range_test_run`), `comparison`,
  `project_files`, `runner_lock`, `tuner_files`. Inside `tuning`, not beside
  `lrdecay.tracking`, because it reads `evidence` and tracking must not
  import tuning.
- `distributed/`: KerasTuner's chief and workers (`roles`, `worker`,
  `chief`, `chief_gone`); `jobs`, `local` and `local_worker`: N trials at a
  time on this machine, on workers lrdecay starts and stops itself.
- `termination`: Ctrl-C and SIGTERM stop a search wherever they land (used by
  the pipeline and by distributed workers).

Where to add: a decay kind: its schedule class with its `KindSpec`
(`lrdecay.schedules`), its callback (`lrdecay.callbacks`), its exports;
the space, labels and the command line derive from `lrdecay.kinds.KIND_TABLE`.
A search algorithm: its name in `lrdecay.defaults.ALGORITHMS` (the checks
and the command line read it), its tuner class in `pipeline/tuners`
(`ALGORITHMS`; a custom oracle beside `pipeline/oracles`). An input kind: a
reader in `data/readers`, its exact form in `data/normalize_data`, its checks
in `data/checks`. A tracking backend: `lrdecay.tracking`, written through
`record/tracker`.
"""
