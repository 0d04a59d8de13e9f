"""The evaluation report: ``report.md`` with a summary table, the per-image SAD histogram and the
worst cases (table and panel image). Pure text formatting: the caller renders the images."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

PROTOCOL_NOTES = {
    "standard": (
        "Standard protocol (Rhemann et al. 2009, the Deep Image Matting MATLAB code) at the original "
        "resolution. SAD, Grad and Conn are divided by 1000; MSE is reported as is (not x 10^3)."
    ),
    "iosm_original": (
        "**Original IOSM protocol**, for comparison with the paper only: 512x512, the refined mask "
        "used as the trimap (SAD/MSE with the prediction forced to 0 outside it, MSE divided by its "
        "non-zero count), Grad / 10, Conn / 1000. Not comparable with other papers' numbers."
    ),
}


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.5g}"
    return str(value)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_format(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def render_report(
    *,
    metrics: dict[str, Any],
    metric_keys: Sequence[str],
    per_image: Sequence[dict[str, Any]],
    worst: Sequence[dict[str, Any]],
    protocol: str,
    missing: Sequence[str],
    errors: dict[str, str],
    histogram_file: str | None,
    panel_file: str | None,
) -> str:
    """Markdown text of the report; image files are referenced relative to the report."""
    sections = [
        "# Matting evaluation",
        PROTOCOL_NOTES.get(protocol, f"Protocol: {protocol}."),
        f"Images scored: **{metrics['n']}**; missing predictions: **{len(missing)}**; "
        f"failed: **{len(errors)}**.",
    ]
    summary_rows = []
    for key in metric_keys:
        values = [row[key] for row in per_image if isinstance(row.get(key), float) and not math.isnan(row[key])]
        if values:
            ordered = sorted(values)
            summary_rows.append([key, metrics.get(key, float("nan")), ordered[len(ordered) // 2], ordered[-1]])
    summary = markdown_table(["metric", "mean", "median", "max"], summary_rows)
    sections.append("## Summary (mean over images)\n\n" + summary)
    if histogram_file:
        sections.append(f"## SAD per image\n\n![SAD per image]({histogram_file})")
    if worst:
        columns = ["name", *metric_keys]
        rows = [[row["name"], *(row.get(key, "") for key in metric_keys)] for row in worst]
        sections.append(f"## Worst {len(worst)} by SAD\n\n" + markdown_table(columns, rows))
        if panel_file:
            sections.append(f"![worst cases]({panel_file})")
    if missing:
        sections.append(f"## Missing predictions ({len(missing)})\n\n" + ", ".join(f"`{name}`" for name in missing))
    if errors:
        sections.append(
            f"## Failed images ({len(errors)})\n\n"
            + "\n".join(f"- `{name}`: {message}" for name, message in errors.items())
        )
    sections.append("Per-image numbers: [per_image.csv](per_image.csv); means: [metrics.json](metrics.json).")
    return "\n\n".join(sections) + "\n"
