"""Sweep bookkeeping: a Hydra callback that turns a multirun's job folders into one summary table
(CSV and Markdown) and a plot of every metric against every swept value."""

from iosm.sweeps.callback import SweepSummary
from iosm.sweeps.summary import write_summary
from iosm.sweeps.table import collect_jobs

__all__ = ["SweepSummary", "collect_jobs", "write_summary"]
