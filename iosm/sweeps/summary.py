"""Write a sweep's summary: ``sweep_summary.csv``, ``.md`` and ``.png`` from its job folders.

The table (:mod:`iosm.sweeps.table`) and the plot (:mod:`iosm.sweeps.plot`) are built
independently; this module puts them together and writes the files.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from iosm.data.io import atomic_write_bytes, atomic_write_text
from iosm.sweeps.table import SUMMARY_NAME, JobRecord, collect_jobs, render_markdown, summary_rows, table_columns


def write_summary(sweep_dir: str | os.PathLike, plot: bool = True) -> list[JobRecord]:
    """Write ``sweep_summary.csv``, ``sweep_summary.md`` and (with ``plot``, when some job has a
    numeric metric) ``sweep_summary.png`` into ``sweep_dir``; every write is atomic, so parallel jobs
    rewriting the summary never leave a half-written file. Returns the job records."""
    from iosm.sweeps.plot import plot_sweep  # matplotlib only once a summary is written, not when a job starts

    sweep_dir = Path(sweep_dir).resolve()
    jobs = collect_jobs(sweep_dir)
    if not jobs:
        return jobs
    header, rows = summary_rows(jobs, sweep_dir)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(sweep_dir / f"{SUMMARY_NAME}.csv", buffer.getvalue())
    png = plot_sweep(jobs, *table_columns(jobs)) if plot else None
    if png is not None:
        atomic_write_bytes(sweep_dir / f"{SUMMARY_NAME}.png", png)
    plot_name = f"{SUMMARY_NAME}.png" if png is not None else None
    atomic_write_text(sweep_dir / f"{SUMMARY_NAME}.md", render_markdown(jobs, header, rows, sweep_dir, plot_name))
    return jobs
