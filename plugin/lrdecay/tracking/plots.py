"""Plain plotting functions: data in, PNG path out; lrdecay's one plot setup.

Every plot lrdecay draws (a run's artifacts, and `lrdecay preview` and
`lrdecay report`) starts from `new_figure()`: matplotlib's object API on the
Agg canvas (no `pyplot`, so no global figure state: safe from any thread and
cheap to import), at the size its purpose sets; a run's figures are small so
that a plot costs tens of milliseconds. matplotlib is imported on first use;
`warm_up()` imports it ahead of time (e.g. from a background thread).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "comparison_plot",
    "distinct_colors",
    "log_y",
    "lr_curve_plot",
    "new_figure",
    "save",
    "warm_up",
]

# Every figure lrdecay draws, by purpose: (size in inches, dpi, layout).
# A run's plots are artifacts drawn at the end of every fit: small, and with
# fixed margins, because a layout engine ("constrained", "tight") measures
# every text twice and would triple the cost of a plot. The command line's
# plots are drawn once, for a person, at screen size.
_FIGURES: dict[str, tuple[tuple[float, float], int, Literal["constrained"] | None]] = {
    "run": ((7.0, 2.8), 80, None),  # a 560 x 224 PNG of a few tens of kB
    "preview": ((8.0, 4.5), 100, "constrained"),
    "report": ((11.0, 4.5), 100, "constrained"),
    # A search's parent-run plots (`lrdecay.tracking.settings_plot`): 1320 px
    # wide at a font a browser shows at its size.
    "settings": ((12.0, 5.0), 110, "constrained"),
}


def warm_up() -> None:
    """Import the matplotlib parts the plots use, so the first plot is fast."""
    new_figure()


def new_figure(ncols: int = 1, purpose: str = "run") -> tuple[Any, list[Any]]:
    """A new matplotlib figure with `ncols` axes side by side, ready to draw.

    The figure lives on its own Agg canvas, made with matplotlib's object
    API: no `pyplot`, no backend switch, no global figure state, so it is
    safe from any thread and nothing is left behind once it is dropped.

    Args:
        ncols: Int. Number of axes, side by side. Defaults to `1`.
        purpose: String. `"run"` (a fit's or trial's artifact), `"settings"`
            (a search's parent-run plots), `"preview"` or `"report"` (the
            `lrdecay` command's plots); sets the size,
            resolution and layout. Defaults to `"run"`.

    Returns:
        `(figure, axes)`: the `matplotlib.figure.Figure` and a list of its
        `ncols` axes.
    """
    if purpose not in _FIGURES:
        raise ValueError(
            f"Argument `purpose` must be one of {sorted(_FIGURES)}. "
            f"Received: purpose={purpose!r}"
        )
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - matplotlib is a dependency
        raise ImportError(
            "lrdecay's plots need matplotlib: `pip install matplotlib`."
        ) from error
    from matplotlib.ticker import MaxNLocator

    size, dpi, layout = _FIGURES[purpose]
    figure = Figure(figsize=size, dpi=dpi, layout=layout)
    if layout is None:
        figure.subplots_adjust(left=0.1, right=0.98, bottom=0.17, top=0.86, wspace=0.3)
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(1, ncols, index + 1) for index in range(ncols)]
    for axis in axes:
        axis.xaxis.set_major_locator(MaxNLocator(6, integer=True))
        axis.yaxis.set_major_locator(MaxNLocator(5))
        axis.tick_params(labelsize="small")
    return figure, axes


# Beyond this a value is a diverged run's: matplotlib's axis margins around
# it overflow (a RuntimeWarning), so it is plotted as a gap like inf.
_PLOTTABLE = 1e300


def _finite(values: Sequence[float]) -> list[float]:
    # NaN/inf would make matplotlib drop or stretch the axis; plot gaps instead.
    return [v if isinstance(v, (int, float)) and abs(v) < _PLOTTABLE else math.nan
            for v in values]  # fmt: skip


def save(figure: Any, path: str | os.PathLike[str], tight: bool = False) -> Path:
    """Write `figure` to `path` as a PNG (parent directories are created).

    With `tight=True` the PNG grows or shrinks to what is drawn, e.g. a
    legend placed outside the axes (one more measuring pass).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png", bbox_inches="tight" if tight else None)
    return target


def lr_curve_plot(
    epochs: Sequence[int],
    learning_rates: Sequence[float],
    path: str | os.PathLike[str],
    metric_name: str | None = None,
    metric_values: Sequence[float] | None = None,
    reductions: Sequence[tuple[int, float]] = (),
    title: str | None = None,
) -> Path:
    """Plot the learning rate per epoch, and a metric beside it, as a PNG.

    Args:
        epochs: Sequence of int. The epoch of each point (from 0).
        learning_rates: Sequence of float. The rate used in each epoch.
        path: Path of the PNG to write (parent directories are created).
        metric_name: String or `None`. Name of the metric for the right panel,
            e.g. `"val_loss"`. Defaults to `None` (one panel).
        metric_values: Sequence of float or `None`. The metric per epoch, same
            length as `epochs`.
        reductions: Sequence of `(epoch, new_lr)`. Plateau reductions, marked
            on the curve. Defaults to none.
        title: String or `None`. Figure title.

    Returns:
        The `Path` of the written PNG.
    """
    epochs = list(epochs)
    if len(epochs) != len(learning_rates):
        raise ValueError(
            "`epochs` and `learning_rates` must have the same length. Received: "
            f"len(epochs)={len(epochs)}, len(learning_rates)={len(learning_rates)}"
        )
    two_panels = metric_name is not None and metric_values is not None
    figure, axes = new_figure(2 if two_panels else 1)
    lr_axis = axes[0]
    lr_axis.step(epochs, _finite(learning_rates), where="post", color="tab:blue")
    if reductions:
        lr_axis.scatter(
            [epoch for epoch, _ in reductions],
            [rate for _, rate in reductions],
            marker="v", color="tab:red", zorder=3, label="plateau reduction",
        )  # fmt: skip
        lr_axis.legend(loc="upper right", fontsize="small")
    lr_axis.set_xlabel("epoch")
    lr_axis.set_ylabel("learning rate")
    lr_axis.grid(alpha=0.3)
    if two_panels:
        assert metric_values is not None and metric_name is not None
        metric_axis = axes[1]
        metric_axis.plot(epochs, _finite(metric_values), color="tab:orange")
        metric_axis.set_xlabel("epoch")
        metric_axis.set_ylabel(metric_name)
        metric_axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title, fontsize="medium")
    return save(figure, path)


def distinct_colors(count: int) -> list[Any]:
    """`count` colours, none repeated: tab10, tab20, then a sampled rainbow.

    Qualitative palettes keep neighbouring curves apart while they last;
    beyond 20 curves, evenly spaced hues of `turbo` stay distinct (if closer).
    """
    from matplotlib import colormaps

    if count <= 10:
        return [colormaps["tab10"](index) for index in range(count)]
    if count <= 20:
        # tab20 pairs a dark and a light shade; the darks first, then the
        # lights, so the first ten curves get the ten strongest colours.
        order = [*range(0, 20, 2), *range(1, 20, 2)]
        return [colormaps["tab20"](index) for index in order[:count]]
    return [colormaps["turbo"](index / (count - 1)) for index in range(count)]


def comparison_plot(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    path: str | os.PathLike[str],
    ylabel: str = "learning rate",
    title: str | None = None,
    max_legend: int = 40,
    log_scale: bool = False,
    groups: Mapping[str, str] | None = None,
    steps: bool = True,
) -> Path:
    """Plot several named curves on one axis (e.g. every trial's lr curve).

    Each curve (or group of curves) gets its own colour, never repeated
    (`distinct_colors`), and the legend sits right of the axis, off the
    curves; the PNG widens to hold it.

    Args:
        curves: Mapping of label -> `(epochs, values)`.
        path: Path of the PNG to write.
        ylabel: String. Label of the y axis. Defaults to `"learning rate"`.
        title: String or `None`. Figure title.
        max_legend: Int. Show a legend only up to this many entries.
            Defaults to `40`.
        log_scale: Bool. A logarithmic y axis (for a loss, or a rate that
            decays by factors). Defaults to `False`.
        groups: Mapping of label -> group name, or `None`. Curves of one
            group (e.g. the repeats of one setting) share a colour and one
            legend entry, the group's name. Defaults to `None` (each curve
            its own).
        steps: Bool. Draw each value as a step held over its epoch (a
            learning rate), else a line through the points (a metric).
            Defaults to `True`.

    Returns:
        The `Path` of the written PNG.
    """
    group_of = {label: (groups or {}).get(label, label) for label in curves}
    names = list(dict.fromkeys(group_of.values()))
    colors = dict(zip(names, distinct_colors(len(names)), strict=True))
    figure, (axis,) = new_figure(1)
    labelled: set[str] = set()
    for label, (epochs, values) in curves.items():
        group = group_of[label]
        xs, ys = list(epochs), _finite(values)
        if steps and xs:
            # A rate holds for its whole epoch: draw the last one's too.
            xs, ys = [*xs, xs[-1] + 1], [*ys, ys[-1]]
        axis.plot(
            xs,
            ys,
            drawstyle="steps-post" if steps else "default",
            color=colors[group],
            linewidth=1.2,
            label=None if group in labelled else str(group),
        )
        labelled.add(group)
    if log_scale:
        log_y(axis, [value for _, values in curves.values() for value in values])
    axis.set_xlabel("epoch")
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3, which="both")
    if 0 < len(names) <= max_legend:
        axis.legend(
            fontsize="x-small",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0.0,
            ncols=1 + (len(names) - 1) // 20,
            frameon=False,
        )
    if title:
        figure.suptitle(title, fontsize="medium")
    # The legend lies right of the axis: the PNG widens to hold it.
    return save(figure, path, tight=True)


_LOG_DECADES = 8.0


def log_y(axis: Any, values: Sequence[float]) -> None:
    """A log y axis with plain tick labels (`0.2`, not `2x10^-1`).

    Ticks at 1-2-3-4-5-6-8, 1-2-5 or 1 per decade, by how many decades the
    values span, so a loss that moves within one decade still gets labels.
    """
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    positive = [value for value in _finite(values) if value > 0]
    decades = 0.0
    if positive:
        # At most _LOG_DECADES decades above the lowest value: a diverged
        # trial (~1e308) leaves through the top instead of squashing every
        # other curve flat (and overflowing matplotlib's margins). Set
        # before the scale, which autoscales.
        low, high = math.log10(min(positive)), math.log10(max(positive))
        high = min(high, low + _LOG_DECADES)
        margin = 0.05 * (high - low) if high > low else 0.05
        axis.set_ylim(10 ** (low - margin), 10 ** (high + margin))
        decades = high - low
    axis.set_yscale("log")
    if decades <= 1:
        subs: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
    elif decades <= 3:
        subs = (1.0, 2.0, 5.0)
    else:
        subs = (1.0,)
    axis.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    axis.yaxis.set_minor_formatter(NullFormatter())
