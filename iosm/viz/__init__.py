"""Panels, plots and the evaluation report, as plain arrays and text (no GUI backend)."""

from iosm.viz.panels import error_map, histogram, make_panel, stack_rows

__all__ = ["error_map", "histogram", "make_panel", "stack_rows"]
