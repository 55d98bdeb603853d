"""Reading a pipeline once: its batches, its samples, their digest.

What `lrdecay.tuning.data.inputs` needs to turn a `tf.data.Dataset`, a
`keras.utils.PyDataset` or a generator into data every trial reads the same
way: the batches of one pass (`read`, within a memory budget), the samples
they hold (`unbatch`), whether a second pass held the same samples
(`compare`), a canonical order for samples a pipeline shuffles
(`canonical_order`), and a digest of what was read (`digest`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import keras
import numpy as np

# At most this many bytes of a pipeline are held in memory; a larger one
# runs as given (`lrdecay.tuning.data.inputs`).
BUDGET_BYTES = 1 << 30

FIXED = "fixed"  # two passes held the same samples in the same order
SHUFFLED = "shuffled"  # the same samples, in another order
DIFFERENT = "different"  # other samples (random augmentation)


class OverBudget(Exception):
    """A pipeline holds more than the budget; `read` holds the batches read."""

    def __init__(self, read: list[Any]) -> None:
        super().__init__(f"more than {BUDGET_BYTES} bytes")
        self.read = read


def is_tf_dataset(value: Any) -> bool:
    # A dataset exists only once TensorFlow is imported: never import it here.
    tensorflow = sys.modules.get("tensorflow")
    return tensorflow is not None and isinstance(value, tensorflow.data.Dataset)


def is_torch_loader(value: Any) -> bool:
    return type(value).__module__.startswith("torch")


def is_iterator(value: Any) -> bool:
    """A generator or another one-pass iterator (not arrays, not a dataset)."""
    return isinstance(value, Iterator) and not is_tf_dataset(value)


def one_pass(value: Any) -> Iterable[Any]:
    """The batches of one pass over a dataset, a finite PyDataset or an iterator."""
    if is_tf_dataset(value):
        return value.as_numpy_iterator()
    if isinstance(value, keras.utils.PyDataset):
        return _py_dataset_pass(value)
    return value


def _py_dataset_pass(dataset: Any) -> Iterator[Any]:
    dataset.on_epoch_begin()
    for index in range(int(dataset.num_batches)):
        yield dataset[index]
    dataset.on_epoch_end()


def read(batches: Iterable[Any], limit: int | None = None) -> list[Any]:
    """The batches of `batches` (at most `limit`), as NumPy, within the budget.

    Raises:
        OverBudget: When they hold more than `BUDGET_BYTES`; its `read` holds
            the batches read so far, as given (an iterator is consumed).
    """
    held: list[Any] = []
    given: list[Any] = []
    size = 0
    source = batches if limit is None else itertools.islice(batches, limit)
    for batch in source:
        given.append(batch)
        batch = as_numpy(batch)
        size += sum(leaf.nbytes for leaf in keras.tree.flatten(batch))
        if size > BUDGET_BYTES:
            raise OverBudget(given)
        held.append(batch)
    return held


def as_numpy(batch: Any) -> Any:
    """A batch with NumPy leaves; a list `(x, y)` becomes a tuple, as Keras reads it."""
    if isinstance(batch, list):
        batch = tuple(batch)
    return keras.tree.map_structure(np.asarray, batch)


def batch_size(batch: Any) -> int:
    """Samples in a batch: the length of its first leaf."""
    return len(keras.tree.flatten(batch)[0])


def unbatch(batches: list[Any]) -> Any:
    """One structure of arrays holding every sample of `batches`, in order."""
    return keras.tree.map_structure(
        lambda *leaves: np.concatenate(leaves, axis=0), *batches
    )


def sample_hashes(samples: Any) -> np.ndarray:
    """A 16-byte hash of each sample (all its leaves), as a NumPy bytes array."""
    leaves = keras.tree.flatten(samples)
    count = len(leaves[0])
    rows = [
        leaf if leaf.dtype == object else np.ascontiguousarray(leaf).reshape(count, -1)
        for leaf in leaves
    ]
    hashes = []
    for index in range(count):
        digest = hashlib.blake2b(digest_size=16)
        for row in rows:
            value = row[index]
            digest.update(repr(value).encode() if row.dtype == object else value)
        hashes.append(digest.digest())
    return np.array(hashes, dtype="S16")


def canonical_order(samples: Any) -> np.ndarray:
    """The rows of `samples` sorted by their hash: one order for any shuffle."""
    return np.argsort(sample_hashes(samples), kind="stable")


def take(samples: Any, rows: np.ndarray) -> Any:
    return keras.tree.map_structure(lambda leaf: leaf[rows], samples)


def compare(first: Any, second: Any) -> str:
    """`FIXED`, `SHUFFLED` or `DIFFERENT`: how two passes' samples relate."""
    try:
        keras.tree.assert_same_structure(first, second)
    except (TypeError, ValueError):
        return DIFFERENT
    pairs = list(
        zip(keras.tree.flatten(first), keras.tree.flatten(second), strict=True)
    )
    if any(a.shape != b.shape or a.dtype != b.dtype for a, b in pairs):
        return DIFFERENT
    if all(np.array_equal(a, b) for a, b in pairs):
        return FIXED
    if np.array_equal(np.sort(sample_hashes(first)), np.sort(sample_hashes(second))):
        return SHUFFLED
    return DIFFERENT


def element_spec(samples: Any) -> Any:
    """Each leaf's shape after the first axis, and its dtype (JSON-able)."""
    return keras.tree.map_structure(
        lambda leaf: [list(np.shape(leaf)[1:]), str(np.asarray(leaf).dtype)],
        samples,
    )


def digest(*parts: Any, spec: Any = None, sampled: bool = False) -> str:
    """A SHA-1 of the leaves of `parts` and of `spec`.

    `sampled`: read at most 65536 evenly spaced values of each array, as
    the trunk key does for the user's own arrays (microseconds); else every
    byte (data read from a pipeline, at most the budget).
    """
    hasher = hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode())
    for part in parts:
        for leaf in keras.tree.flatten(part):
            array = np.asarray(leaf)
            hasher.update(json.dumps([list(array.shape), str(array.dtype)]).encode())
            if array.dtype == object:
                hasher.update(repr(array.tolist()).encode())
                continue
            flat = array.reshape(-1)
            if sampled:
                flat = flat[:: max(1, flat.size // 65536)]
            hasher.update(np.ascontiguousarray(flat).tobytes())
    return hasher.hexdigest()
