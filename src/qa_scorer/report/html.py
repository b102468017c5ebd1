"""HTML pages: scorecards, the calls index, agents' pages and the dashboard.

Everything written here opens straight from disk (file://) with no network: the stylesheet
and script are inlined, charts are inline SVG (``charts``), audio is copied next to the pages.
Every value that comes from a transcript, a manifest or a rubric goes through jinja2's
autoescape (or ``markupsafe.escape`` in the chart code), never into markup as is.

``render_reports`` renders every page of the calls a filter selects (``qa-scorer report``);
``render_update`` renders only the pages of the given calls, the agents they belong to, the
index and the dashboard (a ``score`` run), leaving the other calls' pages as they are. Both
read the index, agents' pages and dashboard from the history's columns (``data``); only the
scorecards they write read calls back from their stored JSON.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional, Sequence
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape

from qa_scorer.ingest import real_roots
from qa_scorer.models import Evidence, ItemResult, Segment
from qa_scorer.outputs import OwnedFiles, atomic_write_text, output_lock
from qa_scorer.report import data
from qa_scorer.report.charts import (BLUE, GOLD, RED, bar_chart, hbar_chart, line_chart, num,
                                     sparkline)
from qa_scorer.report.data import BINS, CallRecord, Dash, Filter, bin_of
from qa_scorer.report.files import (Recording, audio_source, audio_suffix, copy_recording, href, link,
                                    safe_name)
from qa_scorer.store import History, StoredCall

__all__ = ["RenderSummary", "render_call", "render_reports", "render_update", "strip_controls"]

_HERE = Path(__file__).resolve().parent.parent


def clock(t: Optional[float]) -> str:
    if t is None:
        return ""
    t = int(t)
    h, rest = divmod(t, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def short(version: str) -> str:
    return version[:10]



def _item_label(item: ItemResult) -> str:
    return item.name or item.id


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=num, clock=clock, short=short)
    css = (_HERE / "static" / "report.css").read_text(encoding="utf-8")
    js = (_HERE / "static" / "report.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    env.globals.update(
        css=Markup(css),
        js=Markup(js),
        # The page's own script is the only one allowed to run (Content-Security-Policy).
        script_hash=f"sha256-{digest}",
        filters="",
    )
    return env


@lru_cache(maxsize=8192)
def _macro(name: str, *args: object) -> Markup:
    """A macro of macros.html rendered once per distinct arguments (badges and docs repeat a lot)."""
    return Markup(getattr(_env().get_template("macros.html").module, name)(*args))


# C0 control characters other than tab and line feed (NUL, carriage return, escape ...) and
# DEL: never valid in an HTML page, whatever a transcript or manifest held.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def strip_controls(text: str) -> str:
    """``text`` without C0 control characters other than tab and line feed."""
    return _CONTROL_CHARS.sub("", text) if _CONTROL_CHARS.search(text) else text


def _write(path: Path, template: str, **context: object) -> None:
    html = _env().get_template(template).render(generated=_GENERATED.value, **context)
    # Write a new file and rename it over the old one: a killed process leaves the old page, a
    # page hard-linked elsewhere keeps its content, and a link planted at the path is replaced.
    atomic_write_text(path, strip_controls(html))


class _Generated:
    value = ""


_GENERATED = _Generated()


def _stamp() -> None:
    _GENERATED.value = datetime.now().strftime("%Y-%m-%d %H:%M")



# --------------------------------------------------------------------------------------------
# One scorecard


@dataclass
class _Mark:
    start: int
    end: int
    anchor: str
    cls: str
    label: str


_SEVERITY = {"ev-fail": 3, "ev-reward": 2, "ev-pass": 1}


def _highlight(text: str, marks: list[_Mark]) -> Markup:
    """The segment's text with every evidence span wrapped in <mark>; overlaps are split."""
    if not marks:
        return escape(text)
    cuts = sorted({0, len(text)} | {m.start for m in marks} | {m.end for m in marks})
    out: list[str] = []
    anchored: set[str] = set()
    # Empty spans (empty text) still need their anchor.
    for m in marks:
        if m.start == m.end == 0:
            out.append(f'<span id="{escape(m.anchor)}" class="anchor"></span>')
            anchored.add(m.anchor)
    for a, b in zip(cuts, cuts[1:]):
        piece = escape(text[a:b])
        cover = [m for m in marks if m.start <= a and b <= m.end]
        if not cover:
            out.append(piece)
            continue
        anchors = "".join(
            f'<span id="{escape(m.anchor)}" class="anchor"></span>' for m in cover if m.anchor not in anchored
        )
        anchored.update(m.anchor for m in cover)
        cls = max((m.cls for m in cover), key=lambda c: _SEVERITY[c])
        title = escape("；".join(dict.fromkeys(m.label for m in cover)))
        out.append(f'<mark class="ev {cls}" title="{title}">{anchors}{piece}</mark>')
    return Markup("".join(out))


def _span(text: str, ev: Evidence) -> tuple[int, int]:
    if ev.span is not None:
        s, e = ev.span
        if 0 <= s < e <= len(text):
            return s, e
    if ev.text:
        i = text.find(ev.text)
        if i >= 0:
            return i, i + len(ev.text)
    return 0, len(text)


def _mark_class(item: ItemResult) -> str:
    if item.rewarded:
        return "ev-reward"
    return "ev-fail" if item.failed else "ev-pass"


def call_context(call: StoredCall) -> dict:
    sc, tr = call.scorecard, call.transcript
    segs: list[Segment] = tr.segments
    marks: dict[int, list[_Mark]] = defaultdict(list)
    refs: dict[int, dict[int, str]] = defaultdict(dict)
    items = []
    for i, item in enumerate(sc.items):
        evs = []
        for n, ev in enumerate(item.evidence):
            anchor = f"ev-{i}-{n}"
            seg_ok = ev.segment is not None and 0 <= ev.segment < len(segs)
            seg = segs[ev.segment] if seg_ok else None
            if seg is not None:
                s, e = _span(seg.text, ev)
                marks[ev.segment].append(_Mark(s, e, anchor, _mark_class(item), _item_label(item)))
                refs[ev.segment][i] = _item_label(item)
            t = ev.start if ev.start is not None else (seg.start if seg is not None else None)
            evs.append({
                "anchor": anchor if seg is not None else None,
                "seg_anchor": f"seg-{ev.segment}" if seg is not None else "",
                "segment": ev.segment,
                "text": ev.text,
                "note": ev.note,
                "speaker": ev.speaker,
                "time": t,
                "end": ev.end,
                "window": seg is None,
            })
        doc = item.doc
        items.append({
            "idx": i, "item": item, "evidence": evs, "review": call.reviews.get(item.id),
            "status_html": _macro("status_badge", item.kind, item.status),
            "kind_html": _macro("kind_badge", item.kind),
            "points_html": _macro("points", item.points),
            "doc_html": _macro("doc_html", doc.what, doc.why, doc.example, doc.instead, False,
                               item.failed),
        })
    # The transcript lanes are built here rather than in the template: they are most of a
    # scorecard's markup and this is several times faster. Every text goes through escape().
    turns = []
    for k, seg in enumerate(segs):
        timed = seg.start is not None and seg.end is not None
        data = f' data-start="{seg.start}" data-end="{seg.end}"' if timed else ""
        stamp = (f'<a class="seek t" href="#seg-{k}" data-t="{seg.start}" data-seg="seg-{k}">{clock(seg.start)}</a>'
                 if seg.start is not None else f'<span class="t">#{k + 1}</span>')
        seg_refs = "".join(f'<a href="#item-{i}" class="ref">↑ {escape(lab)}</a>' for i, lab in refs.get(k, {}).items())
        bot = ('<span class="bot small muted" title="a bot\'s or the system\'s line: judged as nobody\'s words">'
               '机器人/系统 bot</span> ') if seg.automated else ""
        turns.append(
            f'<div class="turn {escape(seg.speaker)}" id="seg-{k}" style="grid-row:{k + 2}"{data}>{stamp} {bot}'
            f'<span class="text">{_highlight(seg.text, marks.get(k, []))}</span>'
            + (f'<span class="refs">{seg_refs}</span>' if seg_refs else "") + "</div>"
        )
    duration = sc.duration if sc.duration is not None else tr.duration
    return {
        "sc": sc,
        "items": items,
        "segments": segs,
        "transcript_html": Markup("\n".join(turns)),
        "fatal_items": [it for it in items if it["item"].kind == "fatal" and it["item"].status == "fail"],
        "flagged_count": sum(1 for it in sc.items if it.flagged),
        "started": sc.started_at or tr.started_at or call.call_date.isoformat(),
        "duration": clock(duration) if duration is not None else "–",
        "source": call.source or sc.source,
        "roles_doubt": _roles_doubt(tr),
    }


def _roles_doubt(tr) -> Optional[str]:
    """Why the transcript's agent and customer may be the wrong way round (``metadata.roles.doubt``,
    set when the call was scored), or None; anything but a string there is ignored."""
    roles = tr.metadata.get("roles") if isinstance(tr.metadata, dict) else None
    doubt = roles.get("doubt") if isinstance(roles, dict) else None
    return doubt if isinstance(doubt, str) and doubt else None




def render_call(
    call: StoredCall,
    out_path: Path,
    *,
    audio_file: Optional[Path] = None,
    back_href: str = "../index.html",
    back_label: str = "通话列表 Calls",
    media_roots: Sequence[Path] = (),
    audio_problem: Optional[tuple[str, str]] = None,
) -> Path:
    """Write one scorecard page to ``out_path``.

    The recording is played from ``audio_file`` (linked by its path relative to the page).
    Without it, the call's audio is copied into ``audio/`` beside the page's folder, so
    ``<dir>/calls/x.html`` plays ``<dir>/audio/x.wav`` and the folder stays self-contained;
    only a recording inside the source's folder or ``media_roots`` is copied (see
    ``files.audio_source``). ``audio_problem`` is ("missing" | "refused", text) to show instead.
    """
    out_path = Path(out_path)
    audio_missing = audio_refused = None
    if audio_problem is not None:
        kind, text = audio_problem
        audio_missing, audio_refused = (text, None) if kind == "missing" else (None, text)
    elif audio_file is None and (call.scorecard.audio or call.transcript.audio or call.recording):
        rec = audio_source(call, media_roots)
        if rec.path is not None:
            audio_file = out_path.parent.parent / "audio" / (
                safe_name(call.call_id) + audio_suffix(rec.path.name))
            copy_recording(rec.path, audio_file)
        audio_missing, audio_refused = rec.missing, rec.refused
    audio_href = None
    if audio_file is not None:
        rel = os.path.relpath(audio_file, out_path.parent)
        audio_href = "/".join(quote(p) for p in Path(rel).parts)
    if not _GENERATED.value:
        _stamp()
    _write(out_path, "call.html", back_href=back_href, back_label=back_label,
           audio_href=audio_href, audio_missing=audio_missing, audio_refused=audio_refused,
           **call_context(call))
    return out_path




# --------------------------------------------------------------------------------------------
# Pages


@dataclass
class RenderSummary:
    out_dir: Path
    calls: int = 0
    agents: int = 0
    pages: int = 0
    audio_files: int = 0
    missing_audio: list[str] = field(default_factory=list)  # "call id: the recording named"
    # Recordings named but not copied (outside the allowed folders, a link leading out ...):
    # "call id: why".
    refused_audio: list[str] = field(default_factory=list)
    # Calls whose page could not be rendered: "call id: why" (the rest were rendered).
    failed: list[str] = field(default_factory=list)
    # Stored calls that could not be read back: call id → why (the rest were rendered).
    unreadable: dict[str, str] = field(default_factory=dict)
    no_speech: int = 0  # calls without speech to judge
    seconds: float = 0.0




# --------------------------------------------------------------------------------------------
# Agents' pages


def _link_agent_calls(calls: Iterable[CallRecord], folder: Path, out_dir: Path, audio: dict[str, Path],
                      rendered: set[str], written: list[Path], *, all_calls: bool) -> None:
    """Put the agent's copies of its scorecards (and their recordings) in its folder.

    A scorecard page is the same file in ``out_dir/calls/`` and in the agent's ``calls/``
    (``../index.html`` and ``../audio/`` resolve inside whichever folder holds it), so the
    agent's copies are hard links to the pages already written, and so is their audio: the
    folder is whole on its own and costs next to no disk. Calls in ``rendered`` were just
    written and are linked again; with ``all_calls``, the agent's other calls are linked where
    their copy is missing and their page is there. Every file linked is appended to ``written``.
    """
    for c in calls:
        name = safe_name(c.call_id)
        dst = folder / "calls" / f"{name}.html"
        if c.call_id not in rendered:
            page = out_dir / "calls" / f"{name}.html"
            if not all_calls or dst.is_file() or not page.is_file():
                continue
        link(out_dir / "calls" / f"{name}.html", dst)
        written.append(dst)
        if c.call_id in audio:
            dst = folder / "audio" / audio[c.call_id].name
            link(audio[c.call_id], dst)
            written.append(dst)


# Added to a chart's legend when calls without speech were left out of it (data: not evidence).
_NO_SPEECH_NOTE = " (不含无有效语音 calls without speech left out)"


def _write_agent_page(page: data.AgentPage, folder: Path, filters: str) -> Path:
    recent = page.recent
    note = _NO_SPEECH_NOTE if page.figures.get("no_speech") else ""
    trend = line_chart(
        [c.call_date.strftime("%m-%d") for c in recent],
        [("得分 score" + note, BLUE, [c.score for c in recent])],
        title="score trend", ymin=0, ymax=max([100.0] + [c.score for c in recent]),
        marks=[c.fatal for c in recent],
    ) if recent else Markup("")
    week_rows = page.week_rows
    weekly = line_chart(
        [r["week"] for r in week_rows],
        [("周平均分 weekly mean" + note, BLUE, [r["mean"] for r in week_rows])],
        title="weekly mean", ymin=0, ymax=100,
    ) if len(week_rows) > 1 else None
    path = folder / "index.html"
    _write(
        path, "agent.html", agent=page.agent, rows=page.rows, filters=filters, figures=page.figures,
        trend=trend, weekly=weekly, week_rows=week_rows, most_failed=page.most_failed, rewards=page.rewards,
        item_names=page.item_names, n_recent=len(recent),
    )
    return path


# --------------------------------------------------------------------------------------------
# Scorecards, in worker processes for big batches


_Job = tuple[StoredCall, Path, Optional[Path], Optional[tuple[str, str]]]


def _render_calls(jobs: list[_Job], generated: str) -> list[tuple[str, str]]:
    """Render a chunk of scorecards (runs in a worker process for big batches). Returns the
    calls that could not be rendered, as (call id, why); the others are written."""
    _GENERATED.value = generated
    failed = []
    for call, page, audio_file, problem in jobs:
        try:
            render_call(call, page, audio_file=audio_file, audio_problem=problem)
        except Exception as exc:  # noqa: BLE001 - one bad call must not stop the reports
            failed.append((call.call_id, f"{type(exc).__name__}: {exc}"))
    return failed


_PARALLEL_FROM = 400  # calls; below this, starting worker processes costs more than it saves


def _render_all_calls(jobs: list[_Job], workers: Optional[int]) -> list[tuple[str, str]]:
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if len(jobs) >= _PARALLEL_FROM else 1
    if workers <= 1 or len(jobs) < 2:
        return _render_calls(jobs, _GENERATED.value)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    size = -(-len(jobs) // (workers * 4))
    chunks = [jobs[i:i + size] for i in range(0, len(jobs), size)]
    failed: list[tuple[str, str]] = []
    # "spawn": safe even when the caller holds threads (a transcription model, say).
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for chunk_failed in pool.map(_render_calls, chunks, [_GENERATED.value] * len(chunks)):
            failed.extend(chunk_failed)
    return failed


def _scorecards(calls: list[StoredCall], out_dir: Path, owned: OwnedFiles, summary: "RenderSummary",
                workers: Optional[int], media_roots: list[Path],
                claimed: Optional[dict[str, set[str]]] = None) -> tuple[dict[str, Path], set[str]]:
    """Copy the recordings of ``calls`` into ``audio/`` and write their scorecards into
    ``calls/``. Returns (call id → copied recording, ids of the calls whose page was written)."""
    audio: dict[str, Path] = {}
    problems: dict[str, tuple[str, str]] = {}
    for c in calls:
        rec = audio_source(c, media_roots, claimed)
        if rec.path is not None:
            dst = out_dir / "audio" / (safe_name(c.call_id) + audio_suffix(rec.path.name))
            try:
                copy_recording(rec.path, dst)
            except OSError as exc:
                rec = Recording(missing=f"{rec.path} ({exc.strerror or exc})")
            else:
                owned.add(dst)
                audio[c.call_id] = dst
                summary.audio_files += 1
        if rec.missing:
            summary.missing_audio.append(f"{c.call_id}: {rec.missing}")
            problems[c.call_id] = ("missing", rec.missing)
        elif rec.refused:
            summary.refused_audio.append(f"{c.call_id}: {rec.refused}")
            problems[c.call_id] = ("refused", rec.refused)
    (out_dir / "calls").mkdir(parents=True, exist_ok=True)
    jobs: list[_Job] = [(c, out_dir / "calls" / (safe_name(c.call_id) + ".html"), audio.get(c.call_id),
                         problems.get(c.call_id)) for c in calls]
    failed = dict(_render_all_calls(jobs, workers))
    summary.failed += [f"{cid}: {why}" for cid, why in failed.items()]
    rendered = {c.call_id for c in calls if c.call_id not in failed}
    for c, page, _, _ in jobs:
        if c.call_id in rendered:
            owned.add(page)
    summary.pages += len(rendered)
    return audio, rendered


# --------------------------------------------------------------------------------------------
# Whole reports


def render_reports(
    history: History,
    out_dir: Path,
    *,
    since: Optional[date | str] = None,
    until: Optional[date | str] = None,
    agent: Optional[str] = None,
    agent_bundles: bool = False,
    workers: Optional[int] = None,
    media_roots: Sequence[str | Path] = (),
) -> RenderSummary:
    """Render every page for the calls of the history matching the filters into ``out_dir``.

    Scorecards are rendered in ``workers`` processes (default: one per CPU, up to 8, for
    batches of 400 calls or more). Runs sharing ``out_dir`` take turns (a lock in the folder)
    and each reads the history once it holds the folder, so the last one to finish renders
    every call recorded by then. Recordings are copied only from the folder of each call's
    source file or from ``media_roots`` (or as checked when the call was scored). A call that
    cannot be read back or rendered is listed in the summary; the rest are rendered.
    """
    out_dir = Path(out_dir)
    with output_lock(out_dir):
        return _render_reports(history, out_dir, Filter.of(since, until, agent), agent_bundles, workers,
                               real_roots(media_roots))


def _render_reports(history: History, out_dir: Path, f: Filter, agent_bundles: bool,
                    workers: Optional[int], media_roots: list[Path]) -> RenderSummary:
    t0 = time.perf_counter()
    _stamp()
    summary = RenderSummary(out_dir=out_dir)
    owned = OwnedFiles.load(out_dir)
    narrowed, read_at = _state(out_dir)
    now = history.now()
    history.unreadable.clear()
    calls = history.calls(f.since, f.until, f.agent)
    summary.unreadable = dict(history.unreadable)
    filters = data.describe(f)
    summary.calls = len(calls)
    summary.no_speech = sum(1 for c in calls if c.scorecard.no_speech)

    audio, rendered = _scorecards(calls, out_dir, owned, summary, workers, media_roots, history.recording_agents())
    records = data.call_records(history, f, exclude=summary.unreadable)
    pages = data.agent_pages(history, f, records)
    summary.agents = len(pages)

    prefixes: list[str] = []
    for a, page in pages.items():
        folder = out_dir / "agents" / safe_name(a)
        written: list[Path] = []
        agent_calls = [c for c in records if c.agent == a]
        _link_agent_calls(agent_calls, folder, out_dir, audio, rendered, written, all_calls=False)
        written.append(_write_agent_page(page, folder, filters))
        summary.pages += len(agent_calls) + 1
        for p in written:
            owned.add(p)
        if agent_bundles:
            # The bundle is the agent's folder as just written (never anything else kept there).
            bundle = out_dir / "agent-bundles" / safe_name(a)
            for p in written:
                dst = bundle / p.relative_to(folder)
                link(p, dst)
                owned.add(dst)
            summary.pages += len(agent_calls) + 1
        if f.narrowed:
            prefixes.append(f"agents/{safe_name(a)}/")
            if agent_bundles:
                prefixes.append(f"agent-bundles/{safe_name(a)}/")
    if not f.narrowed:
        # A full render: a page, recording or agent file written before and not now belongs to
        # a call or agent no longer in the history.
        prefixes += ["calls/", "audio/", "agents/"]
        names = {safe_name(a) for a in pages}
        if agent_bundles:
            prefixes.append("agent-bundles/")
        else:  # bundles not asked for this time: drop only those of agents no longer there
            prefixes += sorted({f"agent-bundles/{rel.split('/')[1]}/" for rel in owned.before
                                if rel.startswith("agent-bundles/") and rel.count("/") >= 2
                                and rel.split("/")[1] not in names})
    owned.prune(prefixes)
    names = {safe_name(a) for a in pages}  # an unfiltered render wrote every agent's folder whole
    # A filtered render leaves ruled calls outside the filter for the next update to write.
    _save_state(out_dir, (narrowed | names) if f.narrowed else set(),
                (read_at or "") if f.narrowed else now, owned)

    _write_index(out_dir, records, filters, owned)
    _write_dashboard(out_dir / "dashboard.html", data.dashboard_data(history, f, records), filters)
    owned.add(out_dir / "dashboard.html")
    summary.pages += 2
    owned.save()
    summary.seconds = time.perf_counter() - t0
    return summary


def render_update(
    history: History,
    out_dir: Path,
    call_ids: Iterable[str],
    *,
    workers: Optional[int] = None,
    media_roots: Sequence[str | Path] = (),
    written: Iterable[Path] = (),
) -> RenderSummary:
    """Render what scoring ``call_ids`` changed: their scorecards, the pages of the agents they
    belong to (each listing all that agent's calls), the index and the dashboard.

    Other calls' scorecards are left as they are, still valid and still owned. Calls of the
    history that have no scorecard page in ``out_dir`` yet (a folder rendered with filters, or
    scored with ``--no-render``) are rendered too, so every call the index lists has its page,
    and so are calls with a human ruling made since the last render here (their scorecards show
    it).
    A call that moved to another agent leaves the old agent's folder, and that agent's page is
    written again. The index and dashboard cover the whole history, as a full render's do.
    ``written``: other files the caller wrote into ``out_dir`` (scorecard JSON, say), listed
    with the outputs in the same pass.
    """
    out_dir = Path(out_dir)
    with output_lock(out_dir):
        return _render_update(history, out_dir, set(call_ids), workers, real_roots(media_roots), written)


def _render_update(history: History, out_dir: Path, call_ids: set[str], workers: Optional[int],
                   media_roots: list[Path], written_before: Iterable[Path] = ()) -> RenderSummary:
    t0 = time.perf_counter()
    _stamp()
    summary = RenderSummary(out_dir=out_dir)
    owned = OwnedFiles.load(out_dir)
    for p in written_before:
        owned.add(p)
    everything = Filter()
    narrowed, read_at = _state(out_dir)
    now = history.now()
    history.unreadable.clear()
    records = data.call_records(history, everything)  # names the calls whose columns cannot be read back
    have = owned.before
    # Calls ruled on since the last render here show a status their pages do not have yet.
    due = call_ids | history.ruled_since(read_at)
    todo = {c.call_id for c in records
            if c.call_id in due or f"calls/{safe_name(c.call_id)}.html" not in have}
    calls = history.select(Filter(call_ids=frozenset(todo))) if todo else []
    summary.unreadable = dict(history.unreadable)
    summary.calls = len(calls)
    summary.no_speech = sum(1 for c in calls if c.scorecard.no_speech)
    audio, rendered = _scorecards(calls, out_dir, owned, summary, workers, media_roots, history.recording_agents())

    # The agents whose page changes: those of the calls rendered, and any agent whose folder
    # still holds a copy of one of them though the call now belongs to someone else.
    agent_of = {c.call_id: c.agent for c in records}
    by_name = {safe_name(a): a for a in agent_of.values()}
    if summary.unreadable:  # left out of every list, as in a full render
        records = [c for c in records if c.call_id not in summary.unreadable]
    affected = {agent_of[cid] for cid in todo}
    stale: list[str] = []
    pages_of = {f"{safe_name(cid)}.html": cid for cid in todo}
    for rel in have:
        parts = rel.split("/")
        if len(parts) == 4 and parts[0] == "agents" and parts[2] == "calls" and parts[3] in pages_of:
            cid = pages_of[parts[3]]
            if parts[1] != safe_name(agent_of[cid]):
                stale.append(rel)
                audio_name = f"agents/{parts[1]}/audio/{safe_name(cid)}."
                stale += [r for r in have if r.startswith(audio_name)]
                if parts[1] in by_name:
                    affected.add(by_name[parts[1]])
                else:  # an agent no longer in the history: its folder goes
                    stale.append(f"agents/{parts[1]}/")
    # Agents without a page here yet, or last written by a filtered render, get theirs whole.
    affected |= {a for n, a in by_name.items() if n in narrowed or f"agents/{n}/index.html" not in have}
    # Recordings copied by earlier runs, for the agent copies of pages not rendered now.
    copied = {rel[len("audio/"):].rsplit(".", 1)[0]: out_dir / rel for rel in have
              if rel.startswith("audio/") and rel.count("/") == 1}
    if copied:
        for c in records:
            if c.agent in affected and c.call_id not in audio:
                found = copied.get(safe_name(c.call_id))
                if found is not None and found.is_file():
                    audio[c.call_id] = found
    pages = data.agent_pages(history, everything, records, affected)
    summary.agents = len(pages)
    for a, page in pages.items():
        folder = out_dir / "agents" / safe_name(a)
        written: list[Path] = []
        _link_agent_calls([c for c in records if c.agent == a], folder, out_dir, audio, rendered, written,
                          all_calls=True)
        written.append(_write_agent_page(page, folder, ""))
        summary.pages += 1
        for p in written:
            owned.add(p)
    owned.prune(stale)
    _save_state(out_dir, narrowed - {safe_name(a) for a in pages}, now, owned)

    _write_index(out_dir, records, "", owned)
    _write_dashboard(out_dir / "dashboard.html", data.dashboard_data(history, everything, records), "")
    owned.add(out_dir / "dashboard.html")
    summary.pages += 2
    owned.save()
    summary.seconds = time.perf_counter() - t0
    return summary


# Agents' folders last written under --since/--until/--agent show only part of their calls: a
# later update writes them again whole; scorecards of calls ruled on since the last render show
# an old status: a later update writes them again. Kept in out_dir, in a file listed with the
# outputs.
_STATE = ".qa-scorer-report.json"


def _state(out_dir: Path) -> tuple[set[str], Optional[str]]:
    """(folder names under ``agents/`` last written by a filtered render, when the history was
    last read for a render here: ISO 8601 UTC, None if unknown)."""
    try:
        state = json.loads((out_dir / _STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set(), None
    if not isinstance(state, dict):
        return set(), None
    names = state.get("narrowed_agents", [])
    at = state.get("read_at")
    return ({n for n in names if isinstance(n, str)} if isinstance(names, list) else set(),
            at if isinstance(at, str) else None)


def _save_state(out_dir: Path, names: set[str], read_at: str, owned: OwnedFiles) -> None:
    atomic_write_text(out_dir / _STATE, json.dumps({"narrowed_agents": sorted(names), "read_at": read_at},
                                                   ensure_ascii=False))
    owned.add(out_dir / _STATE)


def _write_index(out_dir: Path, records: Sequence[CallRecord], filters: str, owned: OwnedFiles) -> None:
    page = data.index_page(records)
    _write(out_dir / "index.html", "index.html", rows=page.rows, agents=page.agents, filters=filters,
           item_names=page.item_names, figures=page.figures, agent_links=page.agent_links)
    owned.add(out_dir / "index.html")


# --------------------------------------------------------------------------------------------
# Dashboard


def _pct(x: Optional[float]) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def _write_dashboard(path: Path, d: Dash, filters: str) -> None:
    weeks = d.weeks
    note = _NO_SPEECH_NOTE if d.no_speech else ""
    week_chart = bar_chart(
        weeks,
        [("奖励 rewards", GOLD, [d.per_week[w].rewards for w in weeks]),
         ("处罚 penalties", RED, [d.per_week[w].penalties for w in weeks]),
         ("红线 fatal", "#82071e", [d.per_week[w].fatal for w in weeks])],
        title="rewards and penalties per week",
    )
    mean_chart = line_chart(
        weeks, [("周平均分 weekly mean score" + note, BLUE, [d.per_week[w].mean for w in weeks])],
        title="mean score per week", ymin=0, ymax=100,
    )
    failed = [s for s in d.item_stats if s["failed"]][:10]
    failed_chart = hbar_chart(
        [(s["name"], s["failed"], f'{s["failed"]} ({_pct(s["rate"])})') for s in failed],
        title="most failed items",
    ) if failed else None
    dist = [0] * len(BINS)
    for s in d.scores:
        dist[bin_of(s)] += 1
    dist_chart = bar_chart([lab for _, _, lab in BINS], [("通话数 calls" + note, BLUE, dist)],
                           title="score distribution")
    agents = []
    for a in d.agents:
        g = d.per_agent[a]
        agents.append({
            "agent": a, "agg": g,
            "href": href("agents", safe_name(a), "index.html"),
            "trend": sparkline([d.per_agent_week[(a, w)].mean if (a, w) in d.per_agent_week else None
                                for w in weeks], lo=0, hi=100),
            "pen_trend": sparkline([d.per_agent_week[(a, w)].penalties if (a, w) in d.per_agent_week else None
                                    for w in weeks], colour=RED),
            "weeks": [d.per_agent_week.get((a, w)) for w in weeks],
        })
    versions = d.versions
    t = d.total
    _write(
        path, "dashboard.html", d=d, filters=filters, agents=agents, weeks=weeks, total=t,
        week_chart=week_chart, mean_chart=mean_chart, failed_chart=failed_chart, dist_chart=dist_chart,
        versions=versions, pct=_pct,
    )

