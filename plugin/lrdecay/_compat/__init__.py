"""Every use of a Keras, KerasTuner or MLflow internal, one module per dependency.

And `python`: CPython bugs worked around, with the versions they apply to.

Each item says what it relies on and the versions it was verified with; the
dependency's upper bound in `pyproject.toml` is the first version not verified.
Nothing outside this package touches `keras.src`, `keras_tuner.src` or
MLflow's private modules.
"""
