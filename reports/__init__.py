"""Reports: tables (pandas, rich), Perfetto/Chrome timelines. Reports read results; they
never simulate."""

from attnsim.reports.perfetto import trace_events, write_trace
from attnsim.reports.tables import ops_frame, ops_table, summary_frame, summary_table, targets_table

__all__ = [
    "ops_frame",
    "ops_table",
    "summary_frame",
    "summary_table",
    "targets_table",
    "trace_events",
    "write_trace",
]
