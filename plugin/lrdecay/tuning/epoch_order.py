"""Training data whose order in each epoch is a function of (seed, epoch).

A fit that starts at `initial_epoch=e` sees, in epoch `e` and after, exactly
the batches a fit from epoch 0 sees there: what lets a shared-prefix branch
continue a trunk with the same numbers as an independent run (see
`lrdecay.tuning.prefix`). Keras' own `shuffle=True` draws a new permutation
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
        x: Array. The inputs, first axis the samples.
        y: Array. The targets, first axis the samples.
        batch_size: Int. Samples per batch; the last batch of an epoch may
            be smaller.
        seed: Int. The seed of every epoch's order.
        initial_epoch: Int. The epoch the stream starts at, the fit's
            `initial_epoch`. Defaults to `0`.
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        batch_size: int,
        seed: int,
        initial_epoch: int = 0,
    ) -> None:
        super().__init__()
        check_positive_int("batch_size", batch_size)
        check_epoch_count("initial_epoch", initial_epoch, allow_zero=True)
        if len(x) != len(y):
            raise ValueError(
                "Arguments `x` and `y` must hold the same number of samples. "
                f"Received: len(x)={len(x)}, len(y)={len(y)}"
            )
        if len(x) == 0:
            raise ValueError("Argument `x` must hold at least one sample.")
        self.x = np.asarray(x)
        self.y = np.asarray(y)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.initial_epoch = int(initial_epoch)
        self._order_epoch = -1
        self._order = np.arange(0)

    @property
    def steps_per_epoch(self) -> int:
        """Batches per epoch: the `steps_per_epoch` to pass to `fit`."""
        return math.ceil(len(self.x) / self.batch_size)

    @property
    def num_batches(self) -> int | None:
        # Endless: Keras then keeps one iterator across epochs.
        return None

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        epoch = self.initial_epoch + index // self.steps_per_epoch
        batch = index % self.steps_per_epoch
        if epoch != self._order_epoch:
            self._order = epoch_order(self.seed, epoch, len(self.x))
            self._order_epoch = epoch
        rows = self._order[batch * self.batch_size : (batch + 1) * self.batch_size]
        return self.x[rows], self.y[rows]
