"""Shared prefixes: train the constant-rate start of many decays once.

- `prefix`: where a decay departs from the constant-rate run
  (`departure_epoch`), the trunk's state there (`TrunkState`,
  `restore_state`) and a branch's decay state on resuming (`_Resume`).
- `trunks`: the trunks `search()` keeps on disk, one per setting;
  `trunk_check`: whether an epoch file is whole (a damaged one is retrained);
  `trunk_lock`: whether another process is writing a trunk now (its lock).
- `branch`: a trial's start, from its trunk's state at its departure.

How `search()` uses them:

Shared prefixes (`share_prefix=True`, the default): a step decay with
`epochs_drop=20` trains its first 20 epochs exactly as the constant-rate
control does, a plateau decay until the control's own history triggers its
first reduction. Each trial of a grid, random or Bayesian search continues
the stored constant-rate *trunk* of its setting (seed, initial rate,
`build_model`'s own hyperparameters, batch size) from the epoch it departs
from it (`lrdecay.tuning.prefixes.branch`; the trunks are kept under
`<project_dir>/<project_name>/trunks/`, `lrdecay.tuning.prefixes.trunks`); the
control, run first, trains the trunk. The numbers are those of independent
trials: `search()` reads its data once (`lrdecay.tuning.data.inputs`) and every
seeded fit reads, epoch by epoch, what the control read: arrays (and dicts
or lists of arrays, with `sample_weight`) and finite datasets in an order
that is a function of (seed, epoch), generators and repeating datasets with
`steps_per_epoch` as the stream the control read (`validation_split` is
applied first, as Keras does), with `share_prefix=False` too, which gives
the same numbers at full cost. Data that cannot be given so (a pipeline
with random augmentation, more than 1 GiB, a torch `DataLoader`) run as
given, share nothing, and the search says so once (a `UserWarning`, the
parent's tag `lrdecay.data_exact=false`, `SearchResult.inputs.reason`);
Hyperband's trials run whole.
Callbacks of your own (`callbacks=`) see in every trial what an independent
fit shows them: trials share prefixes only when each is known to keep no
state across epochs (`ProgbarLogger`, `TerminateOnNaN`, `History`,
`lrdecay.tuning.data.user_callbacks.StatelessCallback`); with any other
(`EarlyStopping`, `ModelCheckpoint`, ...) every trial runs whole, said once
(a `UserWarning`, the parent run's tag `lrdecay.share_prefix_off`). Each
trial's run still holds its whole curve from epoch 0 (the shared epochs
logged into it with the trunk's values), tagged with the trial it branched
from; `SearchResult.cost` (`epochs_trained`, `epochs_independent`) (and the parent
run's metrics of those names) say what it saved. A resumed search continues
a trunk where it stopped; distributed workers on one machine or a shared
filesystem share the trunks through the project directory: a worker whose
trunk another process is writing waits for the epochs it needs, and one
that finds no trunk and no writer trains the prefix itself (exact, not
cheaper).
"""
