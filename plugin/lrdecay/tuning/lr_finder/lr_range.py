"""The LR range test (Smith 2017; fastai's `lr_find`): a good initial rate.

Train for a few dozen batches while the learning rate grows exponentially from
`start_lr` to `end_lr`, record the loss of every batch, and stop as soon as the
loss explodes. The loss falls slowly while the rate is too low, fast once it is
useful, and blows up when it is too high. The model's weights and optimizer
state are restored afterwards, so the test leaves the model as it found it.

Example:

```python
from lrdecay import find_lr

result = find_lr(model, x_train, y_train)
print(result.suggested_lr)
result.plot("lr_range.png")
model.optimizer.learning_rate = result.suggested_lr
```

Lives in the search layer because `initial_lr="auto"` runs it before a search;
it needs neither MLflow nor KerasTuner.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lrdecay._validation import (
    check_fraction,
    check_number,
    check_positive_finite,
    check_positive_int,
)
from lrdecay.callbacks import current_learning_rate
from lrdecay.tuning.data.checks import check_loss, check_model
from lrdecay.tuning.lr_finder.lr_range_data import RangeTestData

__all__ = ["LRFinderResult", "find_lr"]

# Points of the smoothed curve ignored at the start when looking for its
# minimum and steepest descent: the bias-corrected average still moves with
# single batches there (fastai v1 skips 10 of 100 for the same reason).
_SKIP_START = 10
# A minimum within this many points (or 5% of them) of either end of the
# curve is at the edge of the range: the suggestion is then unreliable.
_END_POINTS = 3


@dataclasses.dataclass(frozen=True)
class LRFinderResult:
    """What an LR range test measured, and the rate it suggests.

    Attributes:
        lrs: List of float. The rate of each recorded batch, increasing.
        losses: List of float. The smoothed loss of each recorded batch.
        raw_losses: List of float. The loss of each recorded batch.
        suggested_lr: Float. The suggested initial rate: `min_loss_lr / 10`
            (see `find_lr`).
        min_loss_lr: Float. The rate at the minimum of the smoothed loss.
        steepest_lr: Float or `None`. The rate where the smoothed loss falls
            fastest against `log(lr)`, before its minimum; `None` when the
            loss reached its minimum too early to tell.
        stopped_early: Bool. True when the loss exploded (exceeded
            `stop_factor` times its minimum, or was not finite) before
            `end_lr`.
        warning: String or `None`. Why the suggestion is unreliable, when
            the minimum of the smoothed loss is at either end of the range
            tried (`find_lr` also warns it); else `None`.
    """

    lrs: list[float]
    losses: list[float]
    raw_losses: list[float]
    suggested_lr: float
    min_loss_lr: float
    steepest_lr: float | None
    stopped_early: bool
    warning: str | None = None

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Write the loss against the rate (log axis) to a PNG; returns its path.

        The suggestion is marked by a vertical line, the minimum by a dot.
        """
        from lrdecay.tracking import plots

        figure, (axes,) = plots.new_figure(purpose="preview")
        axes.plot(self.lrs, self.raw_losses, color="0.75", lw=0.8, label="loss")
        axes.plot(self.lrs, self.losses, color="C0", label="smoothed loss")
        axes.axvline(
            self.suggested_lr,
            color="C3",
            ls="--",
            label=f"suggested lr = {self.suggested_lr:.3g}",
        )
        index = self.lrs.index(self.min_loss_lr)
        axes.plot(
            [self.min_loss_lr],
            [self.losses[index]],
            "o",
            color="C1",
            label=f"minimum at lr = {self.min_loss_lr:.3g}",
        )
        axes.set_xscale("log")
        axes.set_xlabel("learning rate (log scale)")
        axes.set_ylabel("training loss")
        # Keep the explosion from squashing the useful part of the curve.
        low = min(*self.losses, *self.raw_losses)
        high = self.losses[0]
        axes.set_ylim(low - 0.1 * (high - low), high + 0.5 * (high - low))
        axes.set_title("LR range test")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize="small")
        return plots.save(figure, path)


class _RangeTest(keras.callbacks.Callback):
    """Sets the rate of each batch and records (rate, loss) until it explodes."""

    def __init__(
        self, rates: list[float], smoothing: float, stop_factor: float
    ) -> None:
        super().__init__()
        self.rates = rates
        self.smoothing = smoothing
        self.stop_factor = stop_factor
        self.lrs: list[float] = []
        self.raw_losses: list[float] = []
        self.losses: list[float] = []
        self.stopped_early = False
        self._average = 0.0
        self._best = math.inf

    def on_train_batch_begin(
        self, batch: int, logs: dict[str, Any] | None = None
    ) -> None:
        model = self.model  # on JAX, reading `model` syncs the training state
        # The batch logs hold the epoch's running mean: reset it so that the
        # loss logged at the batch end is this batch's alone.
        model.reset_metrics()
        model.optimizer.learning_rate = self.rates[len(self.lrs)]

    def on_train_batch_end(
        self, batch: int, logs: dict[str, Any] | None = None
    ) -> None:
        loss = float((logs or {}).get("loss", math.nan))
        if not math.isfinite(loss):
            self._stop(exploded=True)
            return
        # fastai's smoothing: an exponential moving average, bias-corrected.
        self._average = self.smoothing * self._average + (1 - self.smoothing) * loss
        smoothed = self._average / (1 - self.smoothing ** (len(self.lrs) + 1))
        self.lrs.append(self.rates[len(self.lrs)])
        self.raw_losses.append(loss)
        self.losses.append(smoothed)
        self._best = min(self._best, smoothed)
        if smoothed > self.stop_factor * self._best:
            self._stop(exploded=True)
        elif len(self.lrs) == len(self.rates):
            self._stop(exploded=False)

    def _stop(self, exploded: bool) -> None:
        self.stopped_early = exploded
        self.model.stop_training = True


def find_lr(
    model: Any,
    x: Any,
    y: Any = None,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    batch_size: int = 32,
    smoothing: float = 0.98,
    stop_factor: float = 4.0,
) -> LRFinderResult:
    """Run an LR range test on a compiled model; suggest an initial rate.

    Trains on `x, y` for up to `num_steps` batches while the rate grows
    exponentially from `start_lr` to `end_lr`, one value per batch. The data
    is what `model.fit` takes: arrays, a dict or list of arrays (batches of
    `batch_size`, shuffled), a `tf.data.Dataset`, a `keras.utils.PyDataset`
    or a torch `DataLoader` (their own batches); a finite source is read
    again from the start until `num_steps` batches were read. A generator
    is read once: if it ends first, the test covers only the rates it
    reached, and says so (`UserWarning`). Each batch's loss is smoothed as fastai
    does (an exponential moving average with bias correction), and the test
    stops once the smoothed loss exceeds `stop_factor` times its minimum or a
    loss is not finite. Afterwards every variable of the model (weights,
    non-trainable state, seeds, metrics) and of its optimizer (slots,
    iteration count, learning rate) is restored exactly, and so is
    `model.history`; the optimizer, compiled loss and metrics are left
    built, as the first `fit` would have built them. Batches are shuffled
    with the global random state, as `fit` does: seed it
    (`keras.utils.set_random_seed`) for a repeatable test.

    The suggestion is `min_loss_lr / 10`: the rate at the minimum of the
    smoothed loss is the largest the model tolerated for a few batches, one
    order of magnitude below it stays clear of the edge once momentum and
    longer training add up, and the minimum of a smoothed curve is stable
    from run to run. The rate of steepest descent (`steepest_lr`, fastai v1's
    suggestion and Smith's reading) is reported beside it; it depends on the
    slope of a noisy curve and jumps between runs, so it is not the default.
    When the minimum is at either end of the range tried (the loss was
    still falling at `end_lr`, or rose from `start_lr`), the suggestion is
    unreliable: `find_lr` warns (`UserWarning`, also `result.warning`) and
    says which end to widen.

    Before training, the model is checked as `search()` checks it: compiled,
    a float learning rate, and a loss that computes on the first batch.

    Example:

    ```python
    result = find_lr(model, x_train, y_train)
    model.optimizer.learning_rate = result.suggested_lr
    result.plot("lr_range.png")
    ```

    Args:
        model: A compiled `keras.Model` whose optimizer has a float learning
            rate (not a `LearningRateSchedule`).
        x: Input data, as for `fit`: arrays (or a dict or list of arrays),
            a `tf.data.Dataset`, a `keras.utils.PyDataset`, a generator.
        y: Target arrays, as for `fit`, with array `x` only. Defaults to
            `None`.
        start_lr: Float > 0. The rate of the first batch. Defaults to `1e-7`.
        end_lr: Float > `start_lr`. The rate of the last batch. Defaults to
            `10.0`.
        num_steps: Int >= 2. Batches from `start_lr` to `end_lr`. Defaults
            to `100`.
        batch_size: Int > 0. Samples per batch of array data (other sources
            bring their own batches). Defaults to `32`.
        smoothing: Float in [0, 1). Weight of the past in the moving average
            of the loss (0: no smoothing). Defaults to `0.98`.
        stop_factor: Float > 1. Stop when the smoothed loss exceeds this
            multiple of its minimum. Defaults to `4.0`.

    Returns:
        An `LRFinderResult`: `suggested_lr`, `min_loss_lr`, `steepest_lr`,
        the recorded `lrs` and `losses`, and `plot(path)`.

    Raises:
        ValueError: If an argument is out of range (the message names it),
            the model is not compiled, the data gives no batch, the loss
            does not compute on the first batch (the labels do not match
            the outputs: the message names the shapes), or it was not
            finite from the first batch.
        TypeError: If an argument has the wrong type, or the optimizer's
            rate is a `LearningRateSchedule`.
    """
    _check_arguments(start_lr, end_lr, num_steps, batch_size, smoothing, stop_factor)
    check_model(model, "find_lr()")
    data = RangeTestData.of(x, y, batch_size, num_steps)
    if not model.built:
        model(data.first[0])
    optimizer = model.optimizer
    if not optimizer.built:
        # Build the slots now, so they are saved and restored fresh as well.
        optimizer.build(model.trainable_variables)

    growth = (end_lr / start_lr) ** (1 / (num_steps - 1))
    rates = [start_lr * growth**step for step in range(num_steps)]
    rates[-1] = end_lr
    test = _RangeTest(rates, smoothing, stop_factor)
    with _restored(model):
        check_loss(model, data.first, "find_lr()")
        with warnings.catch_warnings():
            # A generator that ends early: said below, in find_lr's words.
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            model.fit(**data.fit_arguments, verbose=0, callbacks=[test])
    if not test.lrs:
        raise ValueError(
            "find_lr(): the loss was not finite from the first batch, at "
            f"start_lr={start_lr!r}. Check the data and the loss, or lower "
            "`start_lr`."
        )
    if data.once and not test.stopped_early and len(test.lrs) < num_steps:
        warnings.warn(
            f"find_lr(): the data ended after {len(test.lrs)} of "
            f"num_steps={num_steps} batches, so the test reached "
            f"lr={test.lrs[-1]:.3g}, not end_lr={end_lr:g}. Give a generator "
            "that yields at least `num_steps` batches, or lower `num_steps`.",
            stacklevel=2,
        )
    result = _summarize(test, start_lr, end_lr)
    if result.warning is not None:
        warnings.warn(result.warning, stacklevel=2)
    return result


def _check_arguments(
    start_lr: float,
    end_lr: float,
    num_steps: int,
    batch_size: int,
    smoothing: float,
    stop_factor: float,
) -> None:
    check_positive_finite("start_lr", start_lr)
    check_positive_finite("end_lr", end_lr)
    if end_lr <= start_lr:
        raise ValueError(
            "Argument `end_lr` must be greater than `start_lr`. "
            f"Received: start_lr={start_lr!r}, end_lr={end_lr!r}"
        )
    check_positive_int("num_steps", num_steps)
    if num_steps < 2:
        raise ValueError(
            "Argument `num_steps` must be at least 2 (a first and a last rate). "
            f"Received: num_steps={num_steps!r}"
        )
    check_positive_int("batch_size", batch_size)
    check_fraction("smoothing", smoothing, allow_zero=True)
    check_number("stop_factor", stop_factor)
    if not stop_factor > 1:
        raise ValueError(
            "Argument `stop_factor` must be greater than 1. "
            f"Received: stop_factor={stop_factor!r}"
        )


class _restored:
    """Saves every variable of the model and its optimizer; restores them on exit."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __enter__(self) -> None:
        model = self.model
        variables = {
            id(variable): variable
            for variable in (
                *model.variables,
                *model.metrics_variables,
                *model.optimizer.variables,
            )
        }
        self.saved = [
            (variable, keras.ops.convert_to_numpy(variable))
            for variable in variables.values()
        ]
        self.learning_rate = current_learning_rate(model.optimizer)
        self.had_history = "history" in vars(model)
        self.history = vars(model).get("history")

    def __exit__(self, *exc_info: object) -> None:
        model = self.model
        for variable, value in self.saved:
            variable.assign(value)
        model.optimizer.learning_rate = self.learning_rate
        model.stop_training = False
        if self.had_history:
            model.history = self.history
        else:
            vars(model).pop("history", None)


def _summarize(test: _RangeTest, start_lr: float, end_lr: float) -> LRFinderResult:
    losses = np.asarray(test.losses)
    # Skip the first points: there the bias-corrected average is one or two
    # batches, and a lucky first batch would pass for the minimum.
    skip = _SKIP_START if len(losses) > 2 * _SKIP_START else 0
    lowest = skip + int(np.argmin(losses[skip:]))
    min_loss_lr = test.lrs[lowest]
    steepest_lr = None
    if lowest - skip >= 2:
        descent = slice(skip, lowest + 1)
        slope = np.gradient(losses[descent], np.log(test.lrs[descent]))
        steepest_lr = test.lrs[skip + int(np.argmin(slope))]
    # Never suggest below the tested range: if the minimum came at once,
    # the range started too high and its first rate is the best we know.
    suggested_lr = max(min_loss_lr / 10, test.lrs[0])
    few = max(_END_POINTS, len(losses) // 20)
    warning = None
    if not test.stopped_early and lowest >= len(losses) - few:
        warning = (
            "find_lr(): the smoothed loss is lowest at the end of the range "
            f"tried (lr={min_loss_lr:.3g}; the last rate tried "
            f"{test.lrs[-1]:.3g}) and never exploded: the range may stop short "
            f"of the best rate, so the suggestion ({suggested_lr:.3g}) is "
            f"unreliable. Widen the range upwards, e.g. end_lr={end_lr * 100:g}."
        )
    elif lowest - skip < few and len(losses) > few:
        warning = (
            "find_lr(): the smoothed loss is lowest at the start of the range "
            f"tried (lr={min_loss_lr:.3g}; start_lr={start_lr:g}): it never fell "
            f"below its first values, so the suggestion ({suggested_lr:.3g}) is "
            f"unreliable. Widen the range downwards, e.g. "
            f"start_lr={start_lr / 100:g}, or check the data and the loss."
        )
    return LRFinderResult(
        lrs=list(test.lrs),
        losses=[float(loss) for loss in test.losses],
        raw_losses=list(test.raw_losses),
        suggested_lr=suggested_lr,
        min_loss_lr=min_loss_lr,
        steepest_lr=steepest_lr,
        stopped_early=test.stopped_early,
        warning=warning,
    )
