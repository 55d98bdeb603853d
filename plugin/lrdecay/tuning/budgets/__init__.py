"""The budget search: how long to train, from one constant-rate trunk.

`lrdecay.budget(build_model, x, y, budgets=(20, 40, 60, 80))` is a grid
search (`lrdecay.search`'s pipeline, through `pipeline.variant`) over
warmup-stable-decay trials, one per budget B, each trained for B epochs with
its cooldown over the last `cooldown * B` of them. Their stable phases are
the constant-rate run, so with shared prefixes one trunk is trained once (to
the longest budget's cooldown start) and every cooldown branches off it:
each point is exactly the independent WSD run of B epochs with its seed.

- `plan`: `BudgetPlan` (the budgets, the cooldown, its shape) and the
  epochs it trains against independent runs.
- `hypermodel`: `BudgetHyperModel`, the `DecayHyperModel` whose trials
  train their own budget and keep their per-epoch curve.
- `evidence`: `BudgetPoint` per budget (mean +- spread over the repeats,
  the constant rate at the same epochs), the verdict on length, the line
  to paste; `BudgetResult`.
- `record`: the MLflow side (child runs named by budget, the params
  `budget`, `cooldown`, `shape`, the parent's score-against-epochs plot).
- `runner`: `budget()`.
"""
