"""`search()` in steps: check, plan, prepare, build the tuner, run it, assemble.

- `runner`: `search()` and `search_outline()`, the steps in order.
- `arguments`: `search()`'s fit settings, its deprecated names, a space alone.
- `keywords`: its extra keywords, `model.fit` arguments or tuner options.
- `plan`: `SearchPlan`, the checked settings with the defaults filled in.
- `identity`: what a search is (settings, data, model); its project name.
- `variant`: `search()` with another hypermodel (the budget search's hook).
- `dry_run`: `SearchOutline`, what a search would do, before it trains.
- `prepare`: the role, the LR range test and the MLflow runs, before the tuner.
- `tuners`: the KerasTuner tuner of each algorithm (`ALGORITHMS`).
- `oracles`: a grid whose workers run grid points side by side.
- `hyperband`: Hyperband with budgets a decay can act in, no duplicate trials.
- `rerun`: trials that FAILED for a cause not the model's run again.
- `hypermodel`: `DecayHyperModel`, for `search()` and any stock tuner.
- `trial_context`: what `DecayHyperModel.fit` knows of the trial it trains.
- `finite_guard`: a trial whose loss turns NaN or inf fails.
- `decay_state`: a trial's decay state, kept beside its checkpoint.
- `model_reuse`: a trial trains an earlier trial's model when it built the same.
- `execute`: run the tuner: trial events, signals, the frozen heap.
- `jobs`: `search(jobs=N)`, N trials at a time on local workers.
- `assemble`: tag the best trial, end the runs, build the `SearchResult`.
- `caller_warnings`: warnings a wrapper caught, issued again at its caller.
"""
