"""The design-space report of a sweep: Pareto front, roofline, sensitivity, breakdowns,
best designs, run summary, and (with validation results) predicted vs measured.

Reads the tables a sweep writes (``attnsim.sweep``); never simulates."""

from attnsim.reports.design_space.analysis import best_designs, knee_index, pareto_mask, sensitivity
from attnsim.reports.design_space.build import build_report

__all__ = ["best_designs", "build_report", "knee_index", "pareto_mask", "sensitivity"]
