"""The KerasTuner search of the decay.

Named `tuning` rather than `search` so that `lrdecay.search`, the function,
is never shadowed by a subpackage of the same name.

One subpackage per concern (arrows: "imports"; lint-imports keeps the
subpackages free of cycles, `pyproject.toml`):

    budgets -> pipeline -> prefixes, lr_finder -> data -> (nothing in tuning)
    pipeline -> distributed -> record -> evidence -> searchspace
    pipeline, distributed -> termination; record -> searchspace

- `budgets/`: `lrdecay.budget()`, how long to train: a grid search over WSD
  trials whose epochs differ (one per budget), all branching off one
  constant-rate trunk (`plan`, `hypermodel`, `evidence`, `record`, `runner`).
- `pipeline/`: `search()` in steps. `runner` (`search()`), `plan` checks its
  arguments and fills in the defaults (`lrdecay.defaults`), `identity` says
  what a search is (settings, a digest of its data and of its model; names
  its project), `prepare` joins a distributed search, runs the LR range test
  and sets up the MLflow runs, `execute` runs the tuner (signals, the frozen
  heap, trial events), `tuners` builds the KerasTuner tuner (`oracles`:
  a grid whose workers run side by side; `hyperband`: a budget floor the decay
  epochs fit in, successive halving, one trial per effective setting;
  `rerun`: FAILED trials that did not diverge run again on a resume),
  `hypermodel` (`DecayHyperModel`, for any stock tuner; `trial_context`
  what its fit knows of a trial, `finite_guard` fails a diverged trial,
  `decay_state` keeps a trial's decay for a continued one), `keywords` (the
  fit keywords), `assemble` builds the `SearchResult` when it ends, `dry_run`
  outlines a search before it trains, `arguments` (the deprecated and fit
  keywords of `search()`), `variant` (a search with another hypermodel and
  identity: the budget search's hook).
- `data/`: the real inputs of a search, read once. `inputs` (`SearchInputs`),
  `readers`, `normalize_data`, `checks` (the preflight), `epoch_order` (the data
  order per (seed, epoch) a branch needs), `user_callbacks`.
- `searchspace/`: `space` (`DecaySpace`), `ranges` (`Range`) and `budget` (the
  decay epochs meet the epoch budget: the default follows it, a range is cut
  at it); pure Python.
- `evidence/`: `result` (`SearchResult`, `TrialSummary`, `TrialEvent`),
  `outcome` (its `winner`, `evidence` and `cost` groups),
  `verdict` (the ranking with its spread, the one rule for ties, the verdict,
  the rate warning), `labels`, `table` (the ranking as text), `failures`
  (FAILED trials that did not diverge: re-run on a resume, said at the end).
- `prefixes/`: shared-prefix trunks and branches (exact: a branch equals its
  independent run): `prefix` (departures, trunk state), `branch`, `trunks`
  (kept on disk); the trainer the tests compare against is
  `tests/prefix_trainer.py`.
- `lr_finder/`: `lr_range` (`find_lr`, the LR range test), `lr_range_data`,
  `auto_lr` (`suggested_lr * (0.3, 1, 3)`).
- `record/`: THE MLflow run layout of a search: `runs` (tag names, parent
  lookup, stale runs, experiment), `project_files` (the marker with the
  parent run id, seed and identity digest; the lock), `runner_lock` (one
  process runs a search: the lock beside its project), `tracker` writes a
  search's runs by it (`trial_run`: one execution's child run;
  `search_summary`: the parent at the end; `range_test_run`: an LR range
  test), `comparison` its plots. Inside `tuning`, not beside
  `lrdecay.tracking`, because they read `evidence` (labels, results) and
  tracking must not import tuning.
- `distributed/`: KerasTuner's chief and workers; `jobs` and `local`: N
  trials at a time on this machine (`search(jobs=N)`), on workers lrdecay
  starts and stops itself.
- `termination`: Ctrl-C and SIGTERM stop a search wherever they land (used by
  the pipeline and by distributed workers).

Where to add: a decay kind: its schedule class (`lrdecay.schedules`), its
callback (`lrdecay.callbacks`), its exports, then its space in
`searchspace/space`. A search algorithm: `pipeline/tuners` (and `oracles`). An
input kind: a reader in `data/readers` and its checks in `data/checks`. A
tracking backend: `lrdecay.tracking`, written through `record/tracker`.
"""
