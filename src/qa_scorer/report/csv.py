"""The dashboard's tables and the calls list as CSV files (UTF-8 with BOM, for Excel)."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Optional

from qa_scorer.outputs import atomic_open, csv_cell
from qa_scorer.report import data
from qa_scorer.store import Filter, History

__all__ = ["export_csv"]

def export_csv(
    history: History,
    out_dir: Path,
    *,
    since: Optional[date | str] = None,
    until: Optional[date | str] = None,
    agent: Optional[str] = None,
) -> list[Path]:
    """Write the dashboard's tables and the calls list as CSV (UTF-8 with BOM, for Excel)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    f = Filter.of(since, until, agent)
    history.calls(since, until, agent)  # names the calls that cannot be read back: left out
    records = data.call_records(history, f, exclude=history.unreadable)
    facts = {c.pk: c for c in history.call_summaries(f)}
    d = data.dashboard_data(history, f, records)
    # Calls without speech are listed like any other, marked so (when there are some), and left
    # out of the dashboard's means and counts (``data.tables``).
    ns = d.no_speech
    tables = {
        # From the columns, like every other table: the values in effect.
        "calls": (
            ["call_id", "agent", "date", "week", "channel", "rubric_id", "rubric_version", "score", "bonus",
             "fatal", *(["no_speech"] if ns else []), "duration_s", "failed_items", "rewards", "source"],
            [[c.call_id, c.agent, c.day, c.week, facts[c.pk].channel, facts[c.pk].rubric_id,
              facts[c.pk].rubric_version, c.score, c.bonus, int(c.fatal), *([int(c.no_speech)] if ns else []),
              facts[c.pk].duration, "; ".join(it.id for it in c.failures),
              "; ".join(it.id for it in c.rewards_earned), facts[c.pk].source]
             for c in records],
        ),
        **data.tables(d),
    }
    written = []
    for name, (header, rows) in tables.items():
        path = out_dir / f"{name}.csv"
        with atomic_open(path, "w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow([csv_cell(h) for h in header])
            for row in rows:
                w.writerow([csv_cell(v) for v in row])
        written.append(path)
    return written
