"""What the review app takes from the static reports, imported in this one place: the scorecard's
context and recording check, the chart and number helpers, the CSV export. When the reports
module moves, only these imports change."""

from qa_scorer.render import (  # noqa: F401
    _audio_source as audio_source,
    _call_context as call_context,
    _clock as clock,
    _short as short,
    export_csv,
    sparkline,
    strip_controls,
)
