"""The KerasTuner search of the decay.

Named `tuning` rather than `search` so that `lrdecay.search`, the function,
is never shadowed by a subpackage of the same name.

- `space`, `ranges`: the search space (`DecaySpace`, `Range`); pure Python.
- `hypermodel`: `DecayHyperModel`, for any stock KerasTuner tuner.
- `runner`: `search()`, in steps; `plan` checks its arguments and fills in
  the defaults (`lrdecay.defaults`), `prepare` joins a distributed search,
  runs the LR range test and sets up the MLflow runs, `tuners` builds the
  KerasTuner tuner, `assemble` builds the `SearchResult` when it ends.
- `identity`: what a search is (its settings, a digest of its data and of
  its model), which names its project.
- `result`: `SearchResult`, `TrialSummary`, `TrialEvent`; `verdict`: the
  ranking with its spread, the one rule for ties, the verdict and the rate
  warning; `table`: the ranking as text (`print(result)`, `lrdecay search`).
- `runs`: THE MLflow run layout of a search (tag names, parent lookup, stale
  runs, experiment); `tracker` writes a search's runs by it, `comparison`
  its plots.
- `oracles`: a grid search whose workers run side by side; `distributed`:
  KerasTuner's chief and workers.
- `hyperband`: lrdecay's Hyperband (a budget floor the decay epochs fit in,
  successive halving by default, one trial per effective setting at a
  budget).
- `lr_range`: `find_lr`, the LR range test that suggests an initial rate;
  Keras only, no MLflow or KerasTuner.
- `prefix`, `epoch_order`: shared-prefix trunks and branches (exact: a branch
  equals its independent run), and the data order per (seed, epoch) they
  need. Not yet used by `search()`.
- `termination`: Ctrl-C and SIGTERM stop a search wherever they land.
"""
