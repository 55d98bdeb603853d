"""`lrdecay find-lr`: the LR range test on the command line.

Loads the data and builds the model as `lrdecay search` does (the bundled
digits and the default model, or `--data`/`--target` and `--model`), runs
`lrdecay.find_lr` on the training split, prints the suggested initial rate
and the rate of the loss minimum, and writes the plot. With `--tracking-uri`
or `--experiment`, the test is one MLflow run: its params, the curve (metrics
`lr_range/lr`, `lr_range/loss` per batch) and the plot as an artifact.

Bad input (data, model spec, output path, tracking server) is one line and
exit 2, reported before TensorFlow loads where it can be.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Any

from lrdecay.cli import arguments
from lrdecay.cli.errors import EXIT_OK, UsageError, one_line
from lrdecay.tracking import uri as tracking_uri

DEFAULT_OUT = "lrdecay_lr_range.png"
# The same split as `lrdecay search`, so the test sees the search's training data.
DEFAULT_VAL_SPLIT = 0.2


def run_find_lr(args: argparse.Namespace) -> int:
    """`lrdecay find-lr`: test, print the suggestion, write the plot."""
    from lrdecay.cli import quiet

    # Before anything can import TensorFlow or MLflow, as for `lrdecay search`.
    with quiet.framework_output(args.verbosity):
        return _run_find_lr(args)


def _run_find_lr(args: argparse.Namespace) -> int:
    from lrdecay.cli import data, models, quiet

    if args.model:
        # The file and its function, before the data and TensorFlow load.
        models.check_model_spec(args.model)
    out = args.out or DEFAULT_OUT
    if not str(out).lower().endswith(".png"):
        raise UsageError(f"--out must name a .png file. Received: {out!r}")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise UsageError(f"--out {out!r}: directory {folder!r} does not exist.")
    start_lr, end_lr = args.start_lr, args.end_lr
    if start_lr is not None and end_lr is not None and end_lr <= start_lr:
        raise UsageError(
            "--end-lr must be above --start-lr. Received: "
            f"--start-lr {start_lr:g} --end-lr {end_lr:g}"
        )
    tracked = args.tracking_uri is not None or args.experiment is not None
    uri = tracking_uri.resolve(args.tracking_uri) if tracked else None
    if tracked:
        # As `lrdecay search`: the store's preflight first, and MLflow gets
        # a URI without a password (the credentials go through its variables).
        try:
            tracking_uri.check_reachable(
                uri, experiment_name=arguments.experiment_name(args.experiment)
            )
        except tracking_uri.TrackingUnreachable as error:
            raise UsageError(str(error)) from None
        uri = tracking_uri.hand_credentials_to_mlflow(uri)
    dataset = data.load_dataset(
        args.data,
        target=args.target,
        task=args.task,
        val_split=DEFAULT_VAL_SPLIT if args.val_split is None else args.val_split,
        seed=data.DEFAULT_SPLIT_SEED if args.seed is None else args.seed,
        table_options=arguments.table_options(args),
    )
    # The user's module imports Keras: the backend first, without its
    # start-up lines.
    quiet.import_backend(args.verbosity)
    builder = models.load_model_builder(args.model, dataset) if args.model else None
    model = _build(builder, dataset, args)
    result = _test(model, dataset, args)
    result.plot(out)
    _print(result, dataset, out, args)
    if result.warning is not None:
        # The minimum at an end of the range: the suggestion is unreliable.
        print(f"lrdecay: warning: {one_line(result.warning)}", file=sys.stderr)
    if tracked:
        run_id = _track(result, dataset, out, args, uri)
        if args.verbosity >= 1:
            shown = tracking_uri.redact(uri) or tracking_uri.MLFLOW_DEFAULT_URI
            print(f"MLflow run {run_id} at {shown}")
    return EXIT_OK


def _build(builder: Any, dataset: Any, args: argparse.Namespace) -> Any:
    import keras

    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)
    if builder is None:
        from lrdecay.cli import models

        return models.default_model_builder(dataset)()
    import keras_tuner

    try:
        model = builder(keras_tuner.HyperParameters())
    except Exception as error:
        raise UsageError(
            f"--model {args.model!r}: building the model failed: "
            f"{type(error).__name__}: {one_line(error)}"
        ) from None
    if not isinstance(model, keras.Model):
        raise UsageError(
            f"--model {args.model!r} must return a compiled Keras model. "
            f"Received: {type(model).__name__}"
        )
    return model


def _test(model: Any, dataset: Any, args: argparse.Namespace) -> Any:
    from lrdecay.tuning.lr_finder.lr_range import find_lr

    options = {
        name: getattr(args, name)
        for name in ("start_lr", "end_lr", "num_steps", "batch_size")
        if getattr(args, name) is not None
    }
    try:
        with warnings.catch_warnings():
            # Printed as one line instead (`result.warning`).
            warnings.filterwarnings("ignore", message=r"find_lr\(\)")
            return find_lr(model, dataset.x_train, dataset.y_train, **options)
    except (TypeError, ValueError) as error:
        # An uncompiled model, a schedule as the rate, a loss NaN at once.
        raise UsageError(one_line(error)) from None


def _print(result: Any, dataset: Any, out: str, args: argparse.Namespace) -> None:
    if args.verbosity < 1:
        print(f"{result.suggested_lr:.3g}")
        return
    print(f"LR range test: {dataset.describe()}")
    print(
        f"  {len(result.lrs)} batches, rates {result.lrs[0]:.3g} .. "
        f"{result.lrs[-1]:.3g}"
        + (" (stopped: the loss exploded)" if result.stopped_early else "")
    )
    print(f"Suggested initial rate: {result.suggested_lr:.3g}")
    print(f"  the loss is lowest at {result.min_loss_lr:.3g}; a tenth of it")
    if result.steepest_lr is not None:
        print(f"  (steepest descent of the loss at {result.steepest_lr:.3g})")
    print(f"Plot written to {out}")
    print(
        f"Next: lrdecay search --initial-lr {result.suggested_lr:.3g}, or "
        "--initial-lr auto to search the decay around it."
    )
    sys.stdout.flush()


def _track(
    result: Any, dataset: Any, out: str, args: argparse.Namespace, uri: str | None
) -> str:
    """One MLflow run holding the test: params, curve, plot."""
    import mlflow

    from lrdecay.tracking import store, store_setup
    from lrdecay.tuning.record import range_test_run
    from lrdecay.tuning.record import runs as layout

    # Created or upgraded once, under a lock (`lrdecay.tracking.store_setup`).
    client = store_setup.client(store.absolute_uri(uri or mlflow.get_tracking_uri()))
    experiment_id = layout.experiment_id(
        client, arguments.experiment_name(args.experiment)
    )
    run = client.create_run(experiment_id, run_name="lr-range-test")
    run_id = str(run.info.run_id)
    try:
        client.log_param(run_id, "data", dataset.describe()[:500])
        if args.model:
            client.log_param(run_id, "model", args.model)
        range_test_run.log_range_test(client, run_id, result)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `find-lr` and its flags to the `lrdecay` subcommands."""
    parser = commands.add_parser(
        "find-lr",
        help="suggest an initial learning rate (LR range test), with a plot",
        description="Train a few dozen batches while the learning rate grows "
        "exponentially, record the loss, and suggest an initial rate: a tenth "
        "of the rate where the smoothed loss is lowest. The model's weights "
        "are restored afterwards. Without --data it uses the bundled digits "
        "and the default model of `lrdecay search`. With --tracking-uri or "
        "--experiment the test is also one MLflow run (params, curve, plot).",
        epilog="Then: lrdecay search --initial-lr RATE, or --initial-lr auto "
        "to run this test and search the decay around its suggestion.",
    )
    group = parser.add_argument_group("data and model (as for lrdecay search)")
    arguments.add_data_source(group)
    group.add_argument(
        "--val-split",
        type=arguments.fraction,
        metavar="FRACTION",
        help="fraction held out (the test uses the rest; default: "
        f"{DEFAULT_VAL_SPLIT})",
    )
    group.add_argument(
        "--model",
        metavar="MODULE:FUNCTION",
        help="your own model: a function returning a compiled Keras model "
        "(default: one hidden Dense(32) layer, SGD)",
    )
    test = parser.add_argument_group("the test")
    test.add_argument(
        "--start-lr",
        type=arguments.positive_float,
        metavar="LR",
        help="the first rate (default: 1e-7)",
    )
    test.add_argument(
        "--end-lr",
        type=arguments.positive_float,
        metavar="LR",
        help="the last rate (default: 10)",
    )
    test.add_argument(
        "--num-steps",
        type=arguments.positive_int,
        metavar="N",
        help="batches from --start-lr to --end-lr (default: 100)",
    )
    test.add_argument(
        "--batch-size",
        type=arguments.positive_int,
        metavar="N",
        help="samples per batch (default: 32)",
    )
    test.add_argument("--seed", type=int, metavar="N", help="random seed")
    parser.add_argument(
        "--out",
        metavar="FILE.png",
        help=f"where the plot goes (default: {DEFAULT_OUT})",
    )
    arguments.add_tracking(parser)
    arguments.add_common(parser)
    parser.set_defaults(handler=run_find_lr)
