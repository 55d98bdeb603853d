"""The KerasTuner search of the decay: space, hypermodel, `search()`, run layout.

Named `tuning` rather than `search` so that `lrdecay.search`, the function,
is never shadowed by a subpackage of the same name.
"""
