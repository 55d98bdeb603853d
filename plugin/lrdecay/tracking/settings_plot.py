"""One line per setting, read at a glance: a search's parent-run plots.

Each setting (a decay kind and its settings) is one line, the mean over its
repeats, with a band from their lowest to their highest value; each line has
its own colour and line style, the control is drawn black and on top, and a
setting whose line is the control's (a plateau decay that never fired) says
"= control" in the legend. The figure is wide enough for a browser
(>= 1200 px) and the legend sits outside the axis.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lrdecay.tracking import plots

__all__ = ["CONTROL_ZORDER", "SAME_AS_CONTROL", "settings_figure", "settings_plot"]

CONTROL_ZORDER = 10
SAME_AS_CONTROL = "= control"
_LINE_STYLES: tuple[Any, ...] = (
    "-",
    "--",
    "-.",
    ":",
    (0, (5, 1, 1, 1, 1, 1)),
    (0, (8, 2)),
    (0, (1, 3)),
)

Curve = tuple[Sequence[int], Sequence[float]]


def _mean_and_band(
    repeats: Sequence[Curve],
) -> tuple[list[int], list[float], list[float], list[float]]:
    """Per epoch: the mean, lowest and highest value of the repeats."""
    by_epoch: dict[int, list[float]] = {}
    for epochs, values in repeats:
        for epoch, value in zip(epochs, values, strict=False):
            if isinstance(value, (int, float)) and math.isfinite(value):
                by_epoch.setdefault(int(epoch), []).append(float(value))
    epochs = sorted(by_epoch)
    means = [sum(by_epoch[e]) / len(by_epoch[e]) for e in epochs]
    return (
        epochs,
        means,
        [min(by_epoch[e]) for e in epochs],
        [max(by_epoch[e]) for e in epochs],
    )


def settings_figure(
    settings: Mapping[str, Sequence[Curve]],
    *,
    control: str | None = None,
    ylabel: str = "learning rate",
    title: str | None = None,
    log_scale: bool = False,
    steps: bool = True,
    xlabel: str = "epoch",
    markers: bool = False,
) -> Any:
    """A `matplotlib.figure.Figure` of one line per setting.

    Args:
        settings: Mapping of setting name -> its repeats' `(epochs, values)`.
        control: String or `None`. The name of the control's setting: drawn
            black, thick and on top (`CONTROL_ZORDER`), labelled
            "<name> (control)"; settings whose mean equals its mean are
            labelled "<name> = control". Defaults to `None`.
        ylabel: String. Label of the y axis. Defaults to `"learning rate"`.
        title: String or `None`. Figure title.
        log_scale: Bool. A logarithmic y axis. Defaults to `False`.
        steps: Bool. Draw each value held over its epoch (a rate), else a
            line through the points (a metric). Defaults to `True`.
        xlabel: String. Label of the x axis. Defaults to `"epoch"`.
        markers: Bool. Mark each point of the settings other than the
            control (points measured apart, not an epoch-by-epoch curve).
            Defaults to `False`.
    """
    figure, (axis,) = plots.new_figure(1, purpose="settings")
    lines = {name: _mean_and_band(repeats) for name, repeats in settings.items()}
    others = [name for name in lines if name != control]
    colors = dict(zip(others, plots.distinct_colors(len(others)), strict=True))
    control_mean = lines[control][1] if control in lines else None
    drawstyle = "steps-post" if steps else "default"
    for index, name in enumerate([*others, *([control] if control in lines else [])]):
        epochs, mean, low, high = lines[name]
        is_control = name == control
        if is_control:
            label, color, style, width = f"{name} (control)", "black", "-", 2.6
        else:
            same = control_mean is not None and mean == control_mean
            if same:  # its band is the control's: drawn once
                low, high = mean, mean
            label = f"{name} {SAME_AS_CONTROL}" if same else name
            color, width = colors[name], 1.6
            style = _LINE_STYLES[index % len(_LINE_STYLES)]
        xs, ys, lows, highs = list(epochs), list(mean), list(low), list(high)
        if steps and xs:  # a rate holds for its whole last epoch too
            xs, ys = [*xs, xs[-1] + 1], [*ys, ys[-1]]
            lows, highs = [*lows, lows[-1]], [*highs, highs[-1]]
        zorder = CONTROL_ZORDER if is_control else 2 + index / 100
        marker = "o" if markers and not is_control else None
        axis.plot(xs, ys, drawstyle=drawstyle, color=color, linestyle=style,
                  linewidth=width, label=label, zorder=zorder,
                  marker=marker)  # fmt: skip
        if lows != highs:  # repeats that differ: their spread
            axis.fill_between(xs, lows, highs, step="post" if steps else None,
                              color=color, alpha=0.1, linewidth=0,
                              zorder=zorder - 1)  # fmt: skip
    if log_scale:
        plots.log_y(axis, [v for _, mean, low, high in lines.values()
                           for v in (*low, *high)])  # fmt: skip
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3, which="both")
    if lines:
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                    ncols=1 + (len(lines) - 1) // 20, frameon=False,
                    handlelength=3.5)  # fmt: skip
    if title:
        figure.suptitle(title)
    return figure


def settings_plot(
    settings: Mapping[str, Sequence[Curve]],
    path: str | os.PathLike[str],
    **options: Any,
) -> Path:
    """Write `settings_figure(settings, **options)` to `path` as a PNG."""
    return plots.save(settings_figure(settings, **options), path, tight=True)
