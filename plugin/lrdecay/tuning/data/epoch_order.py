"""Training data whose order in each epoch is a function of (seed, epoch).

A fit that starts at `initial_epoch=e` sees, in epoch `e` and after, exactly
the batches a fit from epoch 0 sees there: what lets a shared-prefix branch
continue a trunk with the same numbers as an independent run (see
`lrdecay.tuning.prefixes.prefix`). Keras' own `shuffle=True` draws a new permutation
from the backend's global random state at every epoch, which a fit starting
later cannot reproduce.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from lrdecay._validation import check_epoch_count, check_positive_int


def epoch_order(seed: int, epoch: int, num_samples: int) -> np.ndarray:
    """The permutation of `range(num_samples)` used in `epoch` with `seed`.

    NumPy's `default_rng((seed, epoch))`: the same on every machine and in
    every process, and independent of any global random state.
    """
    return np.random.default_rng((seed, epoch)).permutation(num_samples)


class EpochOrderedData(keras.utils.PyDataset):
    """`(x, y)` in batches, shuffled per epoch by `epoch_order(seed, epoch)`.

    An endless `keras.utils.PyDataset`: batch `i` of the stream is batch
    `i % steps_per_epoch` of epoch `initial_epoch + i // steps_per_epoch`.
    Because a batch depends on its position in the stream only, whatever
    Keras prefetches, a fit must start at the same `initial_epoch` as the
    dataset and pass `steps_per_epoch`.

    Example:

    ```python
    data = EpochOrderedData(x, y, batch_size=64, seed=0, initial_epoch=3)
    model.fit(data, steps_per_epoch=data.steps_per_epoch,
              initial_epoch=3, epochs=10)
    ```

    Args:
        x: Array, or a dict, list or tuple of arrays (a model with several
            inputs). The inputs, first axis the samples.
        y: Array, a dict, list or tuple of arrays, or `None`. The targets,
            first axis the samples.
        batch_size: Int. Samples per batch; the last batch of an epoch may
            be smaller.
        seed: Int. The seed of every epoch's order.
        initial_epoch: Int. The epoch the stream starts at, the fit's
            `initial_epoch`. Defaults to `0`.
        sample_weight: Array or `None`. A weight per sample, batched with
            its sample. Defaults to `None`.
        shuffle: Bool. `False`: every epoch reads the samples in their
            given order. Defaults to `True`.
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        batch_size: int,
        seed: int,
        initial_epoch: int = 0,
        sample_weight: Any = None,
        shuffle: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int("batch_size", batch_size)
        check_epoch_count("initial_epoch", initial_epoch, allow_zero=True)
        parts = {"x": x, "y": y, "sample_weight": sample_weight}
        lengths = {
            name: {len(leaf) for leaf in keras.tree.flatten(part)}
            for name, part in parts.items()
            if part is not None
        }
        sizes = set().union(*lengths.values())
        if len(sizes) > 1:
            received = ", ".join(
                f"len({name})={sorted(size)[0] if len(size) == 1 else sorted(size)}"
                for name, size in lengths.items()
            )
            raise ValueError(
                "Arguments `x` and `y` must hold the same number of samples. "
                f"Received: {received}"
            )
        if not sizes or 0 in sizes:
            raise ValueError("Argument `x` must hold at least one sample.")
        self.x = keras.tree.map_structure(np.asarray, x)
        self.y = None if y is None else keras.tree.map_structure(np.asarray, y)
        self.sample_weight = (
            None if sample_weight is None else np.asarray(sample_weight)
        )
        self.num_samples = sizes.pop()
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.initial_epoch = int(initial_epoch)
        self.shuffle = bool(shuffle)
        self._order_epoch = -1
        self._order = np.arange(0)

    @property
    def steps_per_epoch(self) -> int:
        """Batches per epoch: the `steps_per_epoch` to pass to `fit`."""
        return math.ceil(self.num_samples / self.batch_size)

    @property
    def num_batches(self) -> int | None:
        # Endless: Keras then keeps one iterator across epochs.
        return None

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        epoch = self.initial_epoch + index // self.steps_per_epoch
        batch = index % self.steps_per_epoch
        if epoch != self._order_epoch:
            self._order = (
                epoch_order(self.seed, epoch, self.num_samples)
                if self.shuffle
                else np.arange(self.num_samples)
            )
            self._order_epoch = epoch
        rows = self._order[batch * self.batch_size : (batch + 1) * self.batch_size]

        def take(part: Any) -> Any:
            return keras.tree.map_structure(lambda leaf: leaf[rows], part)

        if self.y is None:
            return (take(self.x),)
        if self.sample_weight is None:
            return take(self.x), take(self.y)
        return take(self.x), take(self.y), self.sample_weight[rows]


class RecordedBatches(keras.utils.PyDataset):
    """A recorded stream of batches, read from a position set by the epoch.

    An endless `keras.utils.PyDataset`: batch `i` of the stream is recorded
    batch `start + i` (modulo their number when `cyclic`), so a fit from
    `initial_epoch=S` with `steps_per_epoch` sees what a fit from epoch 0
    saw there: `start = S * steps_per_epoch`.

    Args:
        batches: List of batches, as `model.fit` takes them from a
            generator: `(x, y)` or `(x, y, sample_weight)`.
        start: Int. The position of the stream's first batch. Defaults
            to `0`.
        cyclic: Bool. Read the batches again from the first after the last
            (a finite input read once, read every epoch). Defaults to `False`.
    """

    def __init__(self, batches: list[Any], start: int = 0, cyclic: bool = False):
        super().__init__()
        if not batches:
            raise ValueError("Argument `batches` must hold at least one batch.")
        self.batches = batches
        self.start = int(start)
        self.cyclic = bool(cyclic)

    @property
    def num_batches(self) -> int | None:
        return None

    def __getitem__(self, index: int) -> Any:
        position = self.start + index
        if self.cyclic:
            position %= len(self.batches)
        elif position >= len(self.batches):
            raise IndexError(
                f"The recorded stream holds {len(self.batches)} batches; "
                f"batch {position} was asked for."
            )
        return self.batches[position]
