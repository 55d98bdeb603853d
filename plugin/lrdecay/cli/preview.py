"""`lrdecay preview`: learning-rate curves before training, as a table and a PNG.

Pure schedule math (`lrdecay.schedules`) and matplotlib (through
`lrdecay.tracking.plots`); no Keras, so a preview is instant. A decay is
given as a spec string, `kind[:name=value,name=value,...]`, e.g.
`step:epochs_drop=30,drop=0.5`, `exponential:k=0.05` or
`multistep:milestones=30,60,drop=0.1` (a value followed by bare numbers is
a list). A decay without `initial_lr` is drawn from `PREVIEW_INITIAL_LR`
(0.1): the decay callbacks start from the optimizer's rate, which a preview
does not know; `--initial-lr` names it.

Example:

```python
from lrdecay.cli import preview

curves = [preview.parse_decay("step:epochs_drop=30"),
          preview.parse_decay("exponential:k=0.05")]
print(preview.format_table(curves, epochs=100))
preview.plot_curves(curves, epochs=100, path="decay.png")
```
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Any

from lrdecay.cli import arguments
from lrdecay.cli.errors import EXIT_OK
from lrdecay.errors import PreviewError as PreviewError
from lrdecay.schedules import KIND_TABLE, SCHEDULES, Schedule
from lrdecay.tracking import plots

# `--kind`: every decay with a schedule (a plateau rule has no curve before
# training), from the kind table.
PREVIEW_KINDS = tuple(kind for kind in SCHEDULES if KIND_TABLE[kind].preview)
_KIND_CHOICES = PREVIEW_KINDS

# The rate a curve starts from when the spec and `--initial-lr` name none.
PREVIEW_INITIAL_LR = 0.1


@dataclasses.dataclass(frozen=True)
class Curve:
    """One decay to draw: its schedule and the label it is shown under."""

    label: str
    schedule: Schedule

    def rates(self, epochs: int) -> list[float]:
        return self.schedule.curve(epochs)

    @property
    def piecewise_constant(self) -> bool:
        return KIND_TABLE[self.schedule.kind].piecewise


def _setting_fields(kind: str) -> dict[str, dataclasses.Field[Any]]:
    return {field.name: field for field in dataclasses.fields(SCHEDULES[kind])}


def _convert(kind: str, name: str, raw: list[str]) -> Any:
    field = _setting_fields(kind)[name]
    annotation = str(field.type)
    try:
        if name == "milestones":
            return tuple(int(value) for value in raw)
        if len(raw) != 1:
            raise PreviewError(
                f"Setting {name!r} of {kind} decay takes one value. "
                f"Received: {name}={','.join(raw)}"
            )
        value = raw[0]
        if annotation.startswith("int"):
            return int(value)
        if value.lower() == "none" and "None" in annotation:
            return None
        return float(value)
    except ValueError:
        raise PreviewError(
            f"Setting {name!r} of {kind} decay must be a number. "
            f"Received: {name}={','.join(raw)}"
        ) from None


def make_curve(kind: str, settings: dict[str, Any], label: str | None = None) -> Curve:
    """A `Curve` of `kind` with `settings`; raises `PreviewError` if invalid."""
    if kind in KIND_TABLE and KIND_TABLE[kind].plateau:
        raise PreviewError(
            "Plateau decay has no curve before training: it lowers the rate "
            "when the validation metric stops improving. Preview one of: "
            f"{', '.join(PREVIEW_KINDS)}."
        )
    if kind not in SCHEDULES:
        raise PreviewError(
            f"Unknown decay kind {kind!r}: use one of {', '.join(PREVIEW_KINDS)}."
        )
    fields = _setting_fields(kind)
    for name in settings:
        if name not in fields:
            raise PreviewError(
                f"{kind} decay has no setting {name!r}; its settings are: "
                f"{', '.join(fields)}."
            )
    required = [
        name
        for name, field in fields.items()
        if field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
        and name not in settings
    ]
    if required:
        raise PreviewError(
            f"{kind} decay needs {required[0]}: e.g. --decay {kind}:{required[0]}=50"
        )
    try:
        schedule = SCHEDULES[kind](**{"initial_lr": PREVIEW_INITIAL_LR, **settings})
    except (TypeError, ValueError) as error:
        raise PreviewError(f"{kind} decay: {error}") from None
    if label is None:
        shown = ", ".join(
            f"{name}={_format_setting(value)}" for name, value in settings.items()
        )
        label = f"{kind}({shown})"
    return Curve(label, schedule)


def _format_setting(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return "[" + ",".join(str(item) for item in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_decay(spec: str, defaults: dict[str, Any] | None = None) -> Curve:
    """Parse `kind[:name=value,...]` into a `Curve`.

    Args:
        spec: String. E.g. `"step:epochs_drop=30,drop=0.5"`.
        defaults: Dict. Settings applied unless the spec sets them (e.g. the
            common `initial_lr`); ignored where the kind lacks the setting.

    Raises:
        PreviewError: An unknown kind or setting, or a value out of range.
    """
    kind, _, body = spec.strip().partition(":")
    kind = kind.strip().lower()
    settings: dict[str, list[str]] = {}
    current: str | None = None
    for token in filter(None, (part.strip() for part in body.split(","))):
        if "=" in token:
            name, _, value = token.partition("=")
            current = name.strip().replace("-", "_")
            settings[current] = [value.strip()]
        elif current is not None:
            settings[current].append(token)
        else:
            raise PreviewError(
                f"Cannot read decay {spec!r}: write kind:name=value,... e.g. "
                "step:epochs_drop=30,drop=0.5"
            )
    if kind not in SCHEDULES:
        make_curve(kind, {})  # raises the error naming the kind
    kind_spec = KIND_TABLE[kind]
    rate = kind_spec.rate_arg
    rate_of_epochs = kind_spec.rate_of_epochs
    if rate is not None and rate_of_epochs and kind_spec.decay_arg in settings:
        # The search's name for the decay epochs (exponential: half_life),
        # converted to the rate the schedule takes (k = ln 2 / half_life).
        decay_arg = str(kind_spec.decay_arg)
        if rate.name in settings:
            raise PreviewError(
                f"Give {kind} decay {rate.name} or {decay_arg}, not both. "
                f"Received: {spec!r}"
            )
        raw = settings.pop(decay_arg)
        try:
            epochs = int(raw[0]) if len(raw) == 1 else None
        except ValueError:
            epochs = None
        if epochs is None or epochs < 1:
            raise PreviewError(
                f"Setting {decay_arg!r} of {kind} decay must be a whole number "
                f"of epochs. Received: {decay_arg}={','.join(raw)}"
            )
        settings[rate.name] = [repr(rate_of_epochs(epochs))]
        label_settings = {decay_arg: epochs}
    else:
        label_settings = {}
    fields = _setting_fields(kind)
    converted = {
        name: _convert(kind, name, raw) if name in fields else raw[0]
        for name, raw in settings.items()
    }
    merged = {
        name: value
        for name, value in (defaults or {}).items()
        if name in fields and name not in converted
    }
    merged.update(converted)
    label = None
    if label_settings:
        shown = {**merged, **label_settings}
        shown.pop("k")
        label = (
            f"{kind}("
            + ", ".join(
                f"{name}={_format_setting(value)}" for name, value in shown.items()
            )
            + ")"
        )
    return make_curve(kind, merged, label)


def table_epochs(curves: Sequence[Curve], epochs: int, every: int | None) -> list[int]:
    """The epochs a table shows: every `every`-th, each step change, the last."""
    if epochs <= 0:
        return []
    if every is None:
        every = 1 if epochs <= 30 else max(5, math.ceil(epochs / 20 / 5) * 5)
    shown = set(range(0, epochs, every))
    shown.add(epochs - 1)
    for curve in curves:
        if curve.piecewise_constant:
            rates = curve.rates(epochs)
            shown.update(
                epoch for epoch in range(1, epochs) if rates[epoch] != rates[epoch - 1]
            )
    return sorted(shown)


def format_table(curves: Sequence[Curve], epochs: int, every: int | None = None) -> str:
    """A text table: one row per shown epoch, one column per curve.

    Rates are printed with 6 significant digits.
    """
    rows = table_epochs(curves, epochs, every)
    all_rates = [curve.rates(epochs) for curve in curves]
    headers = ["epoch", *(curve.label for curve in curves)]
    body = [
        [str(epoch), *(f"{rates[epoch]:.6g}" for rates in all_rates)] for epoch in rows
    ]
    widths = [
        max(len(row[column]) for row in [headers, *body])
        for column in range(len(headers))
    ]
    lines = [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in [headers, *body]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def plot_curves(
    curves: Sequence[Curve],
    epochs: int,
    path: str | os.PathLike[str],
    log_scale: bool = False,
    title: str | None = None,
) -> None:
    """Draw the curves over `epochs` epochs to a PNG at `path`."""
    figure, (axes,) = plots.new_figure(1, purpose="preview")
    epoch_axis = list(range(epochs))
    for curve in curves:
        axes.plot(
            epoch_axis,
            curve.rates(epochs),
            label=curve.label,
            drawstyle="steps-post" if curve.piecewise_constant else "default",
        )
    axes.set_xlabel("epoch")
    axes.set_ylabel("learning rate")
    if log_scale:
        axes.set_yscale("log")
    axes.set_title(title or "Learning-rate decay preview")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    plots.save(figure, path)


def _period(kind: str, decay_epochs: int | None, epochs: int | None) -> dict[str, int]:
    """`--decay-epochs` as `kind`'s own argument, where the kind requires it.

    A kind whose decay epochs have no default (the cosine kinds, ...) takes
    `--decay-epochs` as that argument (`KindSpec.decay_arg`); a required
    `decay_epochs` (the length of the decay) defaults to the run's epochs.
    """
    fields = _setting_fields(kind) if kind in SCHEDULES else {}
    arg = KIND_TABLE[kind].decay_arg if kind in KIND_TABLE else None
    required = (
        arg in fields
        and fields[str(arg)].default is dataclasses.MISSING
        and fields[str(arg)].default_factory is dataclasses.MISSING
    )
    if decay_epochs is not None:
        return {str(arg) if required else "decay_epochs": decay_epochs}
    if not required:
        return {}
    if arg == "decay_epochs":
        # Usually such a decay spans the whole run.
        return {"decay_epochs": epochs or 100}
    raise PreviewError(f"--kind {kind} needs --decay-epochs N, its {arg}.")


def curves_from_args(args: Any) -> list[Curve]:
    """The curves `lrdecay preview` was asked for (`--kind` and/or `--decay`)."""
    shared: dict[str, Any] = {"initial_lr": args.initial_lr or PREVIEW_INITIAL_LR}
    if args.min_lr is not None:
        shared["min_lr"] = args.min_lr
    if args.warmup_epochs is not None:
        shared["warmup_epochs"] = args.warmup_epochs
    own = {
        "drop": args.drop,
        "epochs_drop": args.epochs_drop,
        "k": args.k,
        "half_life": args.half_life,
        "milestones": args.milestones,
        "alpha": args.alpha,
    }
    if args.kind is not None:
        own.update(_period(args.kind, args.decay_epochs, args.epochs))
    elif args.decay_epochs is not None and not getattr(args, "kinds", None):
        own["decay_epochs"] = args.decay_epochs
    given = {name: value for name, value in own.items() if value is not None}
    curves = []
    if args.kind is not None:
        spec = (
            args.kind
            + ":"
            + ",".join(f"{name}={value}" for name, value in given.items())
        )
        curves.append(parse_decay(spec, shared))
    elif given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise PreviewError(f"{flags} need --kind ({', '.join(_KIND_CHOICES)}).")
    for kind in filter(
        None, (part.strip() for part in (getattr(args, "kinds", None) or "").split(","))
    ):
        period = _period(kind, args.decay_epochs, args.epochs)
        body = ",".join(f"{name}={value}" for name, value in period.items())
        curves.append(parse_decay(f"{kind}:{body}", shared))
    curves += [parse_decay(spec, shared) for spec in args.decay or ()]
    if not curves:
        raise PreviewError(
            f"Nothing to preview: give --kind {'|'.join(_KIND_CHOICES)} with its "
            "settings, or one or more --decay KIND:NAME=VALUE,..."
        )
    return curves


def run_preview(args: Any) -> int:
    """`lrdecay preview`: print the table, write the PNG."""
    curves = curves_from_args(args)
    epochs = args.epochs or 100
    out = args.out or "lrdecay_preview.png"
    if not str(out).lower().endswith(".png"):
        raise PreviewError(f"--out must name a .png file. Received: {out!r}")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise PreviewError(f"--out {out!r}: directory {folder!r} does not exist.")
    plot_curves(curves, epochs, out, log_scale=args.log_scale)
    if args.verbosity > 0:
        print(format_table(curves, epochs, args.every))
        print(f"\nPlot written to {out}")
    else:
        print(out)
    return EXIT_OK


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `preview` and its flags to the `lrdecay` subcommands."""
    parser = commands.add_parser(
        "preview",
        help="draw learning-rate curves before training (PNG + table)",
        description="Draw the learning-rate curve of decay settings over N "
        "epochs, without training: a PNG and a table on the terminal. Give one "
        "decay with --kind and its flags, or several with repeated --decay "
        "KIND:NAME=VALUE,...",
        epilog="Examples:  lrdecay preview --kind step --initial-lr 0.1 --drop "
        "0.5 --epochs-drop 30 --epochs 100   |   lrdecay preview --decay "
        "step:epochs_drop=30 --decay exponential:k=0.05 --epochs 100",
    )
    parser.add_argument(
        "--kind",
        choices=_KIND_CHOICES,
        help="one decay, set by the flags below",
    )
    parser.add_argument(
        "--kinds",
        metavar="KIND,...",
        help="several decays at their defaults, e.g. step,cosine (--decay-epochs "
        "sets each one's decay epochs)",
    )
    parser.add_argument(
        "--decay",
        action="append",
        metavar="KIND:NAME=VALUE,...",
        help="a decay to draw, e.g. step:epochs_drop=30,drop=0.5 or "
        "exponential:k=0.05 or multistep:milestones=30,60; repeat for several",
    )
    parser.add_argument(
        "--initial-lr", type=arguments.positive_float, metavar="LR", help="default: 0.1"
    )
    parser.add_argument(
        "--drop",
        type=arguments.positive_float,
        help="step/multistep factor (default: 0.5)",
    )
    parser.add_argument(
        "--epochs-drop", type=arguments.positive_int, metavar="N", help="step period"
    )
    parser.add_argument("--k", type=float, help="exponential rate per epoch")
    parser.add_argument(
        "--half-life",
        type=arguments.positive_int,
        metavar="N",
        help="exponential: epochs to halve the rate (k = ln 2 / N)",
    )
    parser.add_argument(
        "--milestones", metavar="E1,E2,...", help="multistep decay epochs"
    )
    parser.add_argument(
        "--decay-epochs",
        type=arguments.positive_int,
        metavar="N",
        help="cosine: the period (default: --epochs); cosine_restarts: the "
        "first period (SGDR's T_0), required",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        help="cosine kinds: the floor, a fraction of the initial rate (default: 0)",
    )
    parser.add_argument("--min-lr", type=float, metavar="LR", help="a floor")
    parser.add_argument(
        "--warmup-epochs", type=int, metavar="N", help="linear warm-up epochs"
    )
    _add_output(parser)
    arguments.add_common(parser)
    parser.set_defaults(handler=run_preview)


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--epochs",
        type=arguments.positive_int,
        metavar="N",
        help="epochs to draw (default: 100)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE.png",
        help="where the plot goes (default: lrdecay_preview.png)",
    )
    parser.add_argument(
        "--every",
        type=arguments.positive_int,
        metavar="N",
        help="table rows every N epochs, plus every step change (default: "
        "about 20 rows)",
    )
    parser.add_argument("--log-scale", action="store_true", help="log y axis")
