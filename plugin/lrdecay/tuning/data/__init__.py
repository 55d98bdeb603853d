"""A search's real inputs, read once so that every trial sees the control's batches.

- `inputs`: `SearchInputs`, the data read once, and what reaches each `fit`.
- `normalize_data`: each input kind (arrays, `tf.data`, ...) into its exact form.
- `readers`: reading a pipeline once: batches, samples, digest.
- `epoch_order`: data whose order in each epoch is a function of (seed, epoch).
- `checks`: the preflight, what every trial would fail on, found first.
- `user_callbacks`: the user's callbacks, in every trial as in one fit.
"""
