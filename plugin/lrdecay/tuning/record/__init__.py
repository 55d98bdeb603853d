"""The MLflow run layout of a search, and the files beside its project.

Inside `tuning`, not beside `lrdecay.tracking`: it reads `evidence`
(labels, results), and `tracking` must not import `tuning`.

- `runs`: the tag names and the lookups built on them (parent, stale runs).
- `tracker`: writes a search's runs: one parent, one child per execution.
- `trial_run`: one trial execution's child run, and how it ends.
- `trial_logger`: the `MlflowLogger` of a trial execution (ends COMPLETED).
- `search_summary`: what the parent run says of the trials at the end.
- `range_test_run`: an LR range test's params, curve and plot.
- `comparison`: the plots of every trial's rate and objective.
- `project_files`: lrdecay's files in the project (parent run, seed, identity).
- `runner_lock`: one process runs a search: the lock beside its project.
- `tuner_files`: KerasTuner's project files, checked before a resume.
"""
