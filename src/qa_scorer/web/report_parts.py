"""What the review app takes from the static reports, imported in this one place: the scorecard's
context and recording check, the chart and number helpers, the CSV export. When the reports
module moves, only these imports change."""

__all__ = ["audio_source", "call_context", "clock", "export_csv", "short", "sparkline", "strip_controls"]

from qa_scorer.report.charts import sparkline  # noqa: F401
from qa_scorer.report.csv import export_csv  # noqa: F401
from qa_scorer.report.files import audio_source  # noqa: F401
from qa_scorer.report.html import call_context, clock, short, strip_controls  # noqa: F401
