"""HTML reports and CSV exports from the history: scorecards, index, agents' pages, dashboard.

Modules: ``data`` (typed records read from the history's columns, one filter record shared
with ``store``), ``charts`` (inline SVG), ``html`` (the pages), ``csv`` (the export) and
``files`` (file names, recordings).

Everything written here opens straight from disk (file://) with no network: the stylesheet
and script are inlined, charts are inline SVG, audio is copied next to the pages.
Every value that comes from a transcript, a manifest or a rubric goes through jinja2's
autoescape (or ``markupsafe.escape`` in the chart code), never into markup as is.

Layout of ``out_dir``::

    index.html                 all calls (sortable, filterable), summary figures
    dashboard.html             rewards and penalties per agent and week, charts
    calls/<call>.html          one scorecard per call
    audio/<call>.<ext>         the recordings the scorecards play
    agents/<agent>/index.html  one agent's own calls, trend, what to say instead
    agents/<agent>/calls/      that agent's scorecards (no link to anyone else's data)
    agent-bundles/<agent>/     with agent_bundles=True: the agent folder with its audio inside

Every file is written atomically (a temporary name unique to the process, then
``os.replace``) and listed in ``.qa-scorer-outputs.json``; pruning stale pages removes only
listed files, so anything else in the folder is left alone. Runs sharing ``out_dir`` render one
after the other. Recordings are copied only after ``ingest.locate_recording`` (or the check
made when the call was scored) has placed them inside an input folder or a media root.
"""

from qa_scorer.report.csv import export_csv
from qa_scorer.report.files import safe_name
from qa_scorer.report.html import RenderSummary, render_call, render_reports, render_update, strip_controls

__all__ = ["RenderSummary", "export_csv", "render_call", "render_reports", "render_update", "safe_name",
           "strip_controls"]
