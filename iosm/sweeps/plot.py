"""The sweep summary plot: every numeric metric against every swept value, one panel per pair.

In a panel for swept key ``k``, the jobs that share the values of the other swept keys form one line
(``refiner.iters`` on x, one line per ``inpainter.steps``), so a 2-D grid sweep reads at a glance.
Numeric values are placed on a numeric axis (log-scaled when they span two decades or more, as
learning rates do); other values (group choices such as ``inpainter=diffusers``) are categories.
Sweeps without a grid (random or Optuna search) are drawn as point clouds.
Failed and unfinished jobs have no metrics and are left out.
"""

from __future__ import annotations

import io
import math

# The object-oriented API on the Agg canvas: no pyplot, so no global backend or figure state.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from iosm.sweeps.table import JobRecord, as_number

# Panels per row when few keys are swept, so a long metric list wraps instead of making a tall strip.
MAX_PANELS_PER_ROW = 4
# Numeric x values spanning this ratio or more (max / min) get a log axis.
LOG_AXIS_RATIO = 100.0
# Up to this many distinct numeric values each get a tick (a grid sweep); more get automatic ticks.
MAX_VALUE_TICKS = 6
# More lines than this in one panel are drawn as a single point cloud (a legend would hide the plot).
MAX_LINES = 8


def _short(value: str) -> str:
    """A swept value for a legend: numbers to 3 significant digits, other values as written."""
    number = as_number(value)
    return f"{number:.3g}" if number is not None else value


def _varies(values: list[float | None]) -> bool:
    """A metric worth a panel: numeric for some job and, over several jobs, not the same everywhere."""
    numbers = {value for value in values if value is not None}
    return len(numbers) > 1 or (len(numbers) == 1 and len(values) == 1)


def _numeric_axis(axes, numbers: list[float]) -> None:
    """Log scale for values spanning decades; a tick at each value of a grid, a few otherwise."""
    if min(numbers) > 0 and max(numbers) / min(numbers) >= LOG_AXIS_RATIO:
        axes.set_xscale("log")
    distinct = sorted(set(numbers))
    if len(distinct) <= MAX_VALUE_TICKS:
        axes.set_xticks(distinct, [_short(str(value)) for value in distinct])
        axes.minorticks_off()
    else:
        axes.xaxis.set_major_locator(MaxNLocator(nbins=4))


def _panel(axes, jobs: list[JobRecord], metric: str, key: str, other_keys: list[str]) -> None:
    values = [job.overrides.get(key, "") for job in jobs]
    numbers = [as_number(value) for value in values]
    numeric = all(number is not None for number in numbers)
    categories = sorted(set(values), key=values.index)
    lines: dict[tuple[str, ...], list[tuple[float, float]]] = {}
    for job, value, number in zip(jobs, values, numbers):
        metric_value = as_number(job.results.get(metric))
        if metric_value is None:
            continue
        x = number if numeric else float(categories.index(value))
        others = tuple(job.overrides.get(other, "") for other in other_keys)
        lines.setdefault(others, []).append((x, metric_value))
    if len(lines) > MAX_LINES or all(len(points) == 1 for points in lines.values()):
        # No grid structure (random or Optuna search): one cloud of points, no legend.
        lines = {(): [point for points in lines.values() for point in points]}
        axes.plot(*zip(*lines[()]), marker="o", linestyle="none")
    else:
        for others, points in lines.items():
            xs, ys = zip(*sorted(points))
            label = ", ".join(f"{other}={_short(value)}" for other, value in zip(other_keys, others))
            axes.plot(xs, ys, marker="o", label=label or None)
    if numeric:
        _numeric_axis(axes, numbers)
    else:
        slanted = max(len(category) for category in categories) > 6  # long names would overlap
        axes.set_xticks(range(len(categories)), categories, rotation=20 if slanted else 0, fontsize="small")
    axes.set_xlabel(key)
    axes.set_ylabel(metric)
    axes.grid(alpha=0.3)
    if len(lines) > 1:
        axes.legend(fontsize="x-small")


def plot_sweep(jobs: list[JobRecord], swept_keys: list[str], metric_keys: list[str]) -> bytes | None:
    """PNG bytes of the metric-against-swept-value panels, or None when there is nothing to plot
    (no finished job, no numeric metric or nothing swept). Metrics equal in every job (epochs of a
    fixed budget) get no panel."""
    finished = [job for job in jobs if job.status == "ok"]
    metrics = [key for key in metric_keys if _varies([as_number(job.results.get(key)) for job in finished])]
    if not finished or not metrics or not swept_keys:
        return None
    panels = [(metric, key) for metric in metrics for key in swept_keys]
    columns = len(swept_keys) * max(1, MAX_PANELS_PER_ROW // len(swept_keys))
    columns = min(columns, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(3.6 * columns, 2.8 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes, (metric, key) in zip(grid.flat, panels):
        _panel(axes, finished, metric, key, [other for other in swept_keys if other != key])
    for axes in grid.flat[len(panels):]:
        axes.set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
