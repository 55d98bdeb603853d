"""The LR range test, and `initial_lr="auto"` built on it.

- `lr_range`: `find_lr` (Smith 2017; fastai's `lr_find`), a good initial rate.
- `lr_range_data`: the batches it reads, from whatever `model.fit` takes.
- `auto_lr`: a range test before a search, and the rates it searches.
"""
