"""HTML reports and CSV exports from the history: scorecards, index, agents' pages, dashboard.

Everything written here opens straight from disk (file://) with no network: the stylesheet
and script are inlined, charts are inline SVG drawn below, audio is copied next to the pages.
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

from __future__ import annotations

import base64
import csv
import hashlib
import os
import re
import stat
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from statistics import mean, median
from typing import Iterable, Optional, Sequence
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape

from qa_scorer.ingest import RecordingError, locate_recording, real_roots
from qa_scorer.models import Evidence, ItemResult, Segment
from qa_scorer.outputs import OwnedFiles, atomic_copy, atomic_open, atomic_write_text, output_lock
from qa_scorer.store import History, StoredCall

__all__ = ["RenderSummary", "export_csv", "render_call", "render_reports", "safe_name"]

_HERE = Path(__file__).parent
PENALTY_KINDS = ("prohibited", "fatal")  # a failed item of these kinds is a penalty
REWARD_KINDS = ("reward",)  # a passed item of these kinds is a reward


# --------------------------------------------------------------------------------------------
# File names


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
_WINDOWS_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(10)] + [f"lpt{i}" for i in range(10)]
)
_MAX_NAME = 60


def safe_name(s: str) -> str:
    """A file name for an id that stays inside its folder and never collides with another id's.

    Lower-case ASCII letters, digits, ``-_.`` and CJK ideographs are kept; anything else
    (``/``, ``\\``, spaces, control characters...) becomes ``_``, upper case is folded, and
    leading or trailing dots are dropped. Whenever that changed the id, ``~`` and a hash of
    the original id are appended: kept ids never contain ``~``, so two different ids never
    get the same name, even on case-insensitive file systems.
    """
    out = []
    for c in s:
        if c in _NAME_CHARS or "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf":
            out.append(c)
        elif "A" <= c <= "Z":
            out.append(c.lower())
        else:
            out.append("_")
    name = "".join(out).strip(".")[:_MAX_NAME].rstrip(".")
    if name != s or not name or name.split(".")[0] in _WINDOWS_RESERVED:
        digest = hashlib.sha256(s.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        name = f"{name or '_'}~{digest}"
    return name


def _href(*parts: str) -> str:
    """A relative URL from path parts (file names from ``safe_name``)."""
    return "/".join(quote(p) for p in parts)


def _audio_suffix(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,6}", suffix) else ".audio"


# --------------------------------------------------------------------------------------------
# Formatting


def _num(x: Optional[float]) -> str:
    if x is None:
        return "–"
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.1f}"


def _clock(t: Optional[float]) -> str:
    if t is None:
        return ""
    t = int(t)
    h, rest = divmod(t, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _short(version: str) -> str:
    return version[:10]


def _item_label(item: ItemResult) -> str:
    return item.name or item.id


def _failed(item: ItemResult) -> bool:
    """A failure to work on: a reward not earned is not one."""
    return item.status == "fail" and item.kind not in REWARD_KINDS


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=_num, clock=_clock, short=_short)
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
# Charts: small inline SVG, no library. Labels are escaped.


_GREEN, _RED, _BLUE, _GOLD, _GREY = "#2da44e", "#cf222e", "#0969da", "#d4a72c", "#8c959f"


def _svg(width: int, height: int, body: Iterable[str], label: str) -> Markup:
    return Markup(
        f'<svg class="chart-svg" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}"'
        f' xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>'
    )


def _ticks(top: float, n: int = 4) -> list[float]:
    if top <= 0:
        return [0.0]
    raw = top / n
    mag = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return [i * step for i in range(int(top // step) + 2) if i * step <= top * 1.0001 or i == 0]


def _label_every(n: int, room: int) -> int:
    return max(1, -(-n // max(1, room)))


def bar_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    *,
    title: str,
    width: int = 640,
    height: int = 240,
) -> Markup:
    """Grouped vertical bars: one group per label, one bar per (name, colour, values) series."""
    left, right, top, bottom = 40, 10, 36, 34
    pw, ph = width - left - right, height - top - bottom
    vmax = max([v for _, _, vals in series for v in vals] + [1])
    ticks = _ticks(vmax)
    vmax = max(vmax, ticks[-1])
    out: list[str] = []
    for t in ticks:
        y = top + ph - ph * t / vmax
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaeef2"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_num(t)}</text>')
    n = max(1, len(labels))
    gw = pw / n
    bw = max(2.0, min(28.0, gw * 0.8 / max(1, len(series))))
    every = _label_every(n, pw // 56)
    for i, lab in enumerate(labels):
        x0 = left + gw * i + (gw - bw * len(series)) / 2
        for j, (name, colour, vals) in enumerate(series):
            v = vals[i]
            h = ph * v / vmax
            x = x0 + j * bw
            out.append(
                f'<rect class="bar" x="{x:.1f}" y="{top + ph - h:.1f}" width="{bw - 1:.1f}" height="{h:.1f}"'
                f' fill="{colour}"><title>{escape(lab)} · {escape(name)}: {_num(v)}</title></rect>'
            )
            if v and n * len(series) <= 24:
                out.append(f'<text class="val" x="{x + bw / 2:.1f}" y="{top + ph - h - 3:.1f}"'
                           f' text-anchor="middle">{_num(v)}</text>')
        if i % every == 0:
            out.append(f'<text x="{left + gw * i + gw / 2:.1f}" y="{height - bottom + 16}"'
                       f' text-anchor="middle">{escape(lab)}</text>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{top + ph}" y2="{top + ph}" stroke="#8c959f"/>')
    out.append(_legend(series, left, 14))
    return _svg(width, height, out, title)


def _legend(series: Sequence[tuple[str, str, object]], x: float, y: float) -> str:
    parts = ['<g class="legend">']
    for name, colour, _ in series:
        parts.append(f'<rect x="{x:.0f}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{x + 14:.0f}" y="{y}">{escape(name)}</text>')
        x += 24 + 12 * len(name)
    parts.append("</g>")
    return "".join(parts)


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[Optional[float]]]],
    *,
    title: str,
    width: int = 640,
    height: int = 240,
    ymin: float = 0,
    ymax: Optional[float] = None,
    marks: Sequence[bool] = (),
) -> Markup:
    """Lines with dots; ``None`` values break a line. ``marks`` draws those points red."""
    left, right, top, bottom = 40, 34, 36, 34
    pw, ph = width - left - right, height - top - bottom
    vals = [v for _, _, vs in series for v in vs if v is not None]
    top_v = ymax if ymax is not None else max(vals + [1])
    top_v = max(top_v, max(vals + [top_v]))
    lo = min([ymin] + vals)
    span = (top_v - lo) or 1
    out: list[str] = []
    for t in _ticks(span):
        y = top + ph - ph * t / span
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaeef2"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_num(lo + t)}</text>')
    n = len(labels)
    step = pw / max(1, n - 1) if n > 1 else 0

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (step * i if n > 1 else pw / 2)
        return x, top + ph - ph * (v - lo) / span

    for name, colour, vs in series:
        path: list[str] = []
        for i, v in enumerate(vs):
            if v is None:
                path.append("")
                continue
            x, y = xy(i, v)
            path.append(f"{x:.1f},{y:.1f}")
        for run in " ".join(p if p else "|" for p in path).split("|"):
            pts = run.split()
            if len(pts) > 1:
                out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(pts)}"/>')
        r = 3.5 if n <= 60 else 2
        for i, v in enumerate(vs):
            if v is None:
                continue
            x, y = xy(i, v)
            fill = _RED if i < len(marks) and marks[i] else colour
            out.append(f'<circle class="pt" cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{fill}">'
                       f'<title>{escape(labels[i])} · {escape(name)}: {_num(v)}</title></circle>')
    every = _label_every(n, pw // 70)
    for i, lab in enumerate(labels):
        if i % every == 0 or i == n - 1 and n <= pw // 70:
            x, _ = xy(i, lo)
            out.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{escape(lab)}</text>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{top + ph}" y2="{top + ph}" stroke="#8c959f"/>')
    out.append(_legend(series, left, 14))
    return _svg(width, height, out, title)


def hbar_chart(rows: Sequence[tuple[str, float, str]], *, title: str, unit: str = "", width: int = 640) -> Markup:
    """Horizontal bars, one per (label, value, value text)."""
    row_h, left, right = 24, 150, 70
    height = max(1, len(rows)) * row_h + 10
    vmax = max([v for _, v, _ in rows] + [1e-9])
    out: list[str] = []
    for i, (lab, v, txt) in enumerate(rows):
        y = 5 + i * row_h
        w = (width - left - right) * v / vmax
        short = lab if len(lab) <= 14 else lab[:13] + "…"
        out.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" style="font-size:12px;fill:#1f2328">'
                   f'{escape(short)}<title>{escape(lab)}</title></text>')
        out.append(f'<rect class="bar" x="{left}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 8}"'
                   f' fill="{_RED}"><title>{escape(lab)}: {escape(txt)}{escape(unit)}</title></rect>')
        out.append(f'<text class="val" x="{left + w + 5:.1f}" y="{y + 15}">{escape(txt)}</text>')
    return _svg(width, height, out, title)


def sparkline(values: Sequence[Optional[float]], *, colour: str = _BLUE, lo: float = 0,
              hi: Optional[float] = None, width: int = 90, height: int = 22) -> Markup:
    vals = [v for v in values if v is not None]
    if not vals:
        return Markup("")
    hi = max(vals + [hi if hi is not None else max(vals)])
    lo = min(vals + [lo])
    span = (hi - lo) or 1
    n = len(values)
    pts = []
    for i, v in enumerate(values):
        if v is None:
            continue
        x = 2 + (width - 4) * (i / (n - 1) if n > 1 else 0.5)
        y = height - 2 - (height - 4) * (v - lo) / span
        pts.append(f"{x:.1f},{y:.1f}")
    line = f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{" ".join(pts)}"/>'
    last = pts[-1].split(",")
    dot = f'<circle cx="{last[0]}" cy="{last[1]}" r="2.2" fill="{colour}"/>'
    return Markup(f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
                  f' xmlns="http://www.w3.org/2000/svg">{line}{dot}</svg>')


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
    if item.kind in REWARD_KINDS:
        return "ev-reward" if item.status == "pass" else "ev-pass"
    return "ev-fail" if item.status == "fail" else "ev-pass"


def _call_context(call: StoredCall) -> dict:
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
                               item.flagged and item.kind not in REWARD_KINDS),
        })
    # The transcript lanes are built here rather than in the template: they are most of a
    # scorecard's markup and this is several times faster. Every text goes through escape().
    turns = []
    for k, seg in enumerate(segs):
        timed = seg.start is not None and seg.end is not None
        data = f' data-start="{seg.start}" data-end="{seg.end}"' if timed else ""
        stamp = (f'<a class="seek t" href="#seg-{k}" data-t="{seg.start}" data-seg="seg-{k}">{_clock(seg.start)}</a>'
                 if seg.start is not None else f'<span class="t">#{k + 1}</span>')
        seg_refs = "".join(f'<a href="#item-{i}" class="ref">↑ {escape(lab)}</a>' for i, lab in refs.get(k, {}).items())
        turns.append(
            f'<div class="turn {escape(seg.speaker)}" id="seg-{k}" style="grid-row:{k + 2}"{data}>{stamp} '
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
        "duration": _clock(duration) if duration is not None else "–",
        "source": call.source or sc.source,
    }


@dataclass
class _Recording:
    path: Optional[Path] = None  # the real file to copy
    missing: Optional[str] = None  # named but not there
    refused: Optional[str] = None  # named but not allowed: why


def _audio_source(call: StoredCall, media_roots: Sequence[Path] = ()) -> _Recording:
    """Where the call's recording may be copied from, or why it may not.

    A recording checked when the call was scored (``StoredCall.recording``) is used if it is
    still that regular file. Otherwise the transcript's ``audio`` must lead, after every link,
    to a regular file inside the folder of the call's source file or a media root.
    """
    ref = call.scorecard.audio or call.transcript.audio
    if call.recording:
        p = Path(call.recording)
        try:
            real = p.resolve(strict=True)
            st = real.stat()
        except (OSError, RuntimeError):
            return _Recording(missing=ref or call.recording)
        if real != p or not stat.S_ISREG(st.st_mode):
            return _Recording(refused=f"{call.recording}: no longer the regular file checked when the call was scored")
        return _Recording(path=real)
    if not ref:
        return _Recording()
    source = call.source or call.scorecard.source
    base = Path(source).parent if source else None
    roots = real_roots(([base] if base is not None else []) + list(media_roots))
    try:
        return _Recording(path=locate_recording(ref, base, roots))
    except RecordingError as exc:
        if exc.missing:
            return _Recording(missing=ref)
        return _Recording(refused=exc.message)


def _copy(src: Path, dst: Path) -> bool:
    """Put the recording ``src`` (a checked, real path) at ``dst`` unless that copy is already
    there. True if written. A link or anything but a regular file at ``dst`` is replaced."""
    try:
        st = src.stat()
        dt = os.lstat(dst)
        if stat.S_ISREG(dt.st_mode) and dt.st_size == st.st_size and (
                dt.st_ino == st.st_ino or int(dt.st_mtime) >= int(st.st_mtime)):
            return False
    except OSError:
        pass
    atomic_copy(src, dst)
    return True


def _link(src: Path, dst: Path) -> None:
    """Hard-link src to dst (same bytes, no extra disk), copying where links are not supported."""
    atomic_copy(src, dst)


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
    ``_audio_source``). ``audio_problem`` is ("missing" | "refused", text) to show instead.
    """
    out_path = Path(out_path)
    audio_missing = audio_refused = None
    if audio_problem is not None:
        kind, text = audio_problem
        audio_missing, audio_refused = (text, None) if kind == "missing" else (None, text)
    elif audio_file is None and (call.scorecard.audio or call.transcript.audio or call.recording):
        rec = _audio_source(call, media_roots)
        if rec.path is not None:
            audio_file = out_path.parent.parent / "audio" / (
                safe_name(call.call_id) + _audio_suffix(rec.path.name))
            _copy(rec.path, audio_file)
        audio_missing, audio_refused = rec.missing, rec.refused
    audio_href = None
    if audio_file is not None:
        rel = os.path.relpath(audio_file, out_path.parent)
        audio_href = "/".join(quote(p) for p in Path(rel).parts)
    if not _GENERATED.value:
        _stamp()
    _write(out_path, "call.html", back_href=back_href, back_label=back_label,
           audio_href=audio_href, audio_missing=audio_missing, audio_refused=audio_refused,
           **_call_context(call))
    return out_path


# --------------------------------------------------------------------------------------------
# Aggregates shared by the dashboard and the CSV export


@dataclass
class _Agg:
    calls: int = 0
    score_sum: float = 0
    fatal: int = 0
    rewards: int = 0
    penalties: int = 0
    by_item: Counter = field(default_factory=Counter)

    @property
    def mean(self) -> Optional[float]:
        return self.score_sum / self.calls if self.calls else None


@dataclass
class _Dash:
    agents: list[str]
    weeks: list[str]
    per_agent: dict[str, _Agg]
    per_week: dict[str, _Agg]
    per_agent_week: dict[tuple[str, str], _Agg]
    penalty_items: list[tuple[str, str]]  # (id, name) in rubric order
    reward_items: list[tuple[str, str]]
    item_stats: list[dict]  # per item: id, name, kind, applicable, failed, flagged, rate
    scores: list[float]
    versions: list[dict]
    version_items: list[dict]
    fatal_calls: list[dict]

    @property
    def total(self) -> _Agg:
        agg = _Agg()
        for a in self.per_agent.values():
            agg.calls += a.calls
            agg.score_sum += a.score_sum
            agg.fatal += a.fatal
            agg.rewards += a.rewards
            agg.penalties += a.penalties
        return agg


_BINS = [(0, 50, "<50")] + [(lo, lo + 10, f"{lo}–{lo + 9}") for lo in range(50, 100, 10)] + [(100, 10**9, "100+")]


def _bin(score: float) -> int:
    for i, (lo, hi, _) in enumerate(_BINS):
        if score < hi:
            return i
    return len(_BINS) - 1


def _dashboard_data(history: History, since, until, agent, calls: Optional[list[StoredCall]] = None) -> _Dash:
    rows = history.call_rows(since, until, agent)
    counts = history.item_counts(since, until, agent)
    per_agent: dict[str, _Agg] = defaultdict(_Agg)
    per_week: dict[str, _Agg] = defaultdict(_Agg)
    per_aw: dict[tuple[str, str], _Agg] = defaultdict(_Agg)
    for r in rows:
        for agg in (per_agent[r.agent_id], per_week[r.week], per_aw[(r.agent_id, r.week)]):
            agg.calls += 1
            agg.score_sum += r.score
            agg.fatal += int(r.fatal)
    penalty_items: dict[str, str] = {}
    reward_items: dict[str, str] = {}
    item_tot: dict[str, dict] = {}
    for c in counts:
        st = item_tot.setdefault(c.item_id, {"id": c.item_id, "name": c.name or c.item_id, "kind": c.kind,
                                             "applicable": 0, "failed": 0, "flagged": 0})
        if c.status != "na":
            st["applicable"] += c.count
        if c.status == "fail" and c.kind not in REWARD_KINDS:
            st["failed"] += c.count
        if c.flagged:
            st["flagged"] += c.count
        if c.kind in PENALTY_KINDS:
            penalty_items.setdefault(c.item_id, c.name or c.item_id)
        if c.kind in REWARD_KINDS:
            reward_items.setdefault(c.item_id, c.name or c.item_id)
        is_penalty = c.kind in PENALTY_KINDS and c.status == "fail"
        is_reward = c.kind in REWARD_KINDS and c.status == "pass"
        if is_penalty or is_reward:
            for agg in (per_agent[c.agent_id], per_week[c.week], per_aw[(c.agent_id, c.week)]):
                if is_penalty:
                    agg.penalties += c.count
                else:
                    agg.rewards += c.count
                agg.by_item[c.item_id] += c.count
    stats = []
    for st in item_tot.values():
        st["rate"] = st["failed"] / st["applicable"] if st["applicable"] else 0.0
        stats.append(st)
    stats.sort(key=lambda s: (-s["failed"], -s["rate"], s["id"]))

    # Rubric versions: every version's result, not just each call's latest.
    all_rows = history.call_rows(since, until, agent, latest_only=False)
    by_version: dict[str, dict] = {}
    order = {v.version: i for i, v in enumerate(history.rubric_versions())}
    for r in all_rows:
        v = by_version.setdefault(r.rubric_version, {
            "rubric_id": r.rubric_id, "version": r.rubric_version, "calls": 0, "score_sum": 0.0,
            "fatal": 0, "scores": {}, "first": r.recorded_at, "last": r.recorded_at})
        v["calls"] += 1
        v["score_sum"] += r.score
        v["fatal"] += int(r.fatal)
        v["scores"][r.call_id] = r.score
        v["first"] = min(v["first"], r.recorded_at)
        v["last"] = max(v["last"], r.recorded_at)
    versions = sorted(by_version.values(), key=lambda v: (order.get(v["version"], 1 << 30), v["first"]))
    prev = None
    for v in versions:
        v["mean"] = v["score_sum"] / v["calls"] if v["calls"] else None
        v["fatal_rate"] = v["fatal"] / v["calls"] if v["calls"] else 0.0
        v["common"] = 0
        v["delta"] = None
        if prev is not None:
            common = set(v["scores"]) & set(prev["scores"])
            v["common"] = len(common)
            if common:
                v["delta"] = mean(v["scores"][c] - prev["scores"][c] for c in common)
        prev = v
    version_items: dict[str, dict] = {}
    for c in history.item_counts(since, until, agent, latest_only=False):
        row = version_items.setdefault(c.item_id, {"id": c.item_id, "name": c.name or c.item_id,
                                                   "kind": c.kind, "rates": {}})
        app_fail = row["rates"].setdefault(c.rubric_version, [0, 0])
        if c.status != "na":
            app_fail[0] += c.count
        if c.flagged:
            app_fail[1] += c.count
    for row in version_items.values():
        row["rates"] = {k: (f / a if a else None) for k, (a, f) in row["rates"].items()}

    fatal_calls = []
    if calls is None:
        calls = [c for c in history.calls(since, until, agent) if c.scorecard.fatal]
    for c in calls:
        if c.scorecard.fatal:
            fatal_items = [it for it in c.scorecard.items if it.kind == "fatal" and it.status == "fail"]
            fatal_calls.append({
                "call_id": c.call_id, "agent": c.agent_id, "date": c.call_date.isoformat(),
                "score": c.scorecard.score,
                "fatal_items": [_item_label(it) for it in fatal_items],
                "reasons": [it.reason for it in fatal_items if it.reason],
                "href": _href("calls", safe_name(c.call_id) + ".html"),
                "agent_href": _href("agents", safe_name(c.agent_id), "index.html"),
            })
    return _Dash(
        agents=sorted(per_agent),
        weeks=sorted(per_week),
        per_agent=dict(per_agent),
        per_week=dict(per_week),
        per_agent_week=dict(per_aw),
        penalty_items=list(penalty_items.items()),
        reward_items=list(reward_items.items()),
        item_stats=stats,
        scores=[r.score for r in rows],
        versions=versions,
        version_items=list(version_items.values()),
        fatal_calls=fatal_calls,
    )


def _tables(d: _Dash) -> dict[str, tuple[list[str], list[list]]]:
    """The dashboard's tables as (header, rows): what the CSV export writes."""
    def r1(x: Optional[float]) -> Optional[float]:
        return None if x is None else round(x, 1)

    pen = [f"penalty:{iid} {name}" for iid, name in d.penalty_items]
    rew = [f"reward:{iid} {name}" for iid, name in d.reward_items]
    agents = (
        ["agent", "calls", "mean_score", "fatal_calls", "rewards", "penalties"] + rew + pen,
        [[a, g.calls, r1(g.mean), g.fatal, g.rewards, g.penalties]
         + [g.by_item.get(i, 0) for i, _ in d.reward_items]
         + [g.by_item.get(i, 0) for i, _ in d.penalty_items]
         for a, g in sorted(d.per_agent.items())],
    )
    agent_weeks = (
        ["agent", "week", "calls", "mean_score", "fatal_calls", "rewards", "penalties"] + rew + pen,
        [[a, w, g.calls, r1(g.mean), g.fatal, g.rewards, g.penalties]
         + [g.by_item.get(i, 0) for i, _ in d.reward_items]
         + [g.by_item.get(i, 0) for i, _ in d.penalty_items]
         for (a, w), g in sorted(d.per_agent_week.items())],
    )
    weeks = (
        ["week", "calls", "mean_score", "fatal_calls", "rewards", "penalties"],
        [[w, g.calls, r1(g.mean), g.fatal, g.rewards, g.penalties] for w, g in sorted(d.per_week.items())],
    )
    items = (
        ["item_id", "name", "kind", "applicable_calls", "failed_calls", "fail_rate", "flagged_calls"],
        [[s["id"], s["name"], s["kind"], s["applicable"], s["failed"], round(s["rate"], 4), s["flagged"]]
         for s in d.item_stats],
    )
    dist = [0] * len(_BINS)
    for s in d.scores:
        dist[_bin(s)] += 1
    distribution = (["score_range", "calls"], [[lab, n] for (_, _, lab), n in zip(_BINS, dist)])
    fatal = (
        ["call_id", "agent", "date", "score", "fatal_items", "reasons"],
        [[f["call_id"], f["agent"], f["date"], f["score"], "; ".join(f["fatal_items"]), "; ".join(f["reasons"])]
         for f in d.fatal_calls],
    )
    versions = (
        ["rubric_id", "rubric_version", "first_recorded", "last_recorded", "calls", "mean_score",
         "fatal_calls", "calls_also_in_previous_version", "mean_change_on_those_calls"],
        [[v["rubric_id"], v["version"], v["first"], v["last"], v["calls"], r1(v["mean"]), v["fatal"],
          v["common"], r1(v["delta"])] for v in d.versions],
    )
    vers = [v["version"] for v in d.versions]
    version_items = (
        ["item_id", "name", "kind"] + [f"flagged_rate@{v}" for v in vers],
        [[r["id"], r["name"], r["kind"]] + [
            None if r["rates"].get(v) is None else round(r["rates"][v], 4) for v in vers]
         for r in d.version_items],
    )
    return {
        "agents": agents, "agent_weeks": agent_weeks, "weeks": weeks, "items": items,
        "score_distribution": distribution, "fatal_calls": fatal, "rubric_versions": versions,
        "rubric_version_items": version_items,
    }


# --------------------------------------------------------------------------------------------
# Pages


@dataclass
class RenderSummary:
    out_dir: Path
    calls: int = 0
    agents: int = 0
    pages: int = 0
    audio_files: int = 0
    missing_audio: list[str] = field(default_factory=list)
    # Recordings named but not copied (outside the allowed folders, a link leading out ...):
    # "call id: why".
    refused_audio: list[str] = field(default_factory=list)
    # Calls whose page could not be rendered: "call id: why" (the rest were rendered).
    failed: list[str] = field(default_factory=list)
    # Stored calls that could not be read back: call id → why (the rest were rendered).
    unreadable: dict[str, str] = field(default_factory=dict)
    no_speech: int = 0  # calls without speech to judge
    seconds: float = 0.0


def _row(call: StoredCall, href: str, agent_href: Optional[str]) -> dict:
    sc = call.scorecard
    failed = [it for it in sc.items if _failed(it)]
    return {
        "call_id": sc.call_id, "agent": sc.agent_id, "date": call.call_date.isoformat(),
        "score": sc.score, "bonus": sc.bonus, "fatal": sc.fatal, "no_speech": sc.no_speech,
        "failed": [_item_label(it) for it in failed], "failed_ids": [it.id for it in failed],
        "rewards": [_item_label(it) for it in sc.items if it.kind in REWARD_KINDS and it.status == "pass"],
        "href": href, "agent_href": agent_href,
    }


def _describe(since, until, agent) -> str:
    parts = []
    if since or until:
        parts.append(f"{since or '…'} – {until or '…'}")
    if agent:
        parts.append(f"agent {agent}")
    return ", ".join(parts)


def _item_choices(calls: Sequence[StoredCall]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for c in calls:
        for it in c.scorecard.items:
            if _failed(it):
                seen.setdefault(it.id, _item_label(it))
    return sorted(seen.items())


def _render_agent(agent: str, calls: list[StoredCall], folder: Path, out_dir: Path, audio: dict[str, Path],
                  filters: str, rendered: set[str], written: list[Path]) -> int:
    """Write one agent's folder: index.html, calls/ and audio/. Returns the number of pages.

    A scorecard page is the same file in ``out_dir/calls/`` and in the agent's ``calls/``
    (``../index.html`` and ``../audio/`` resolve inside whichever folder holds it), so the
    agent's copies are hard links to the pages already written, and so is their audio: the
    folder is whole on its own and costs next to no disk. Only calls in ``rendered`` have a
    page; every file written is appended to ``written``. Files from earlier renders that are
    not written again are pruned by the caller (only those qa-scorer wrote).
    """
    for c in calls:
        name = safe_name(c.call_id)
        if c.call_id not in rendered:
            continue
        dst = folder / "calls" / f"{name}.html"
        _link(out_dir / "calls" / f"{name}.html", dst)
        written.append(dst)
        if c.call_id in audio:
            dst = folder / "audio" / audio[c.call_id].name
            _link(audio[c.call_id], dst)
            written.append(dst)
    pages = len(calls)
    rows = [_row(c, _href("calls", safe_name(c.call_id) + ".html"), None) for c in calls]
    scores = [c.scorecard.score for c in calls]

    # What the agent fails most, with the rubric's advice and their own examples.
    failed: Counter = Counter()
    applicable: Counter = Counter()
    latest: dict[str, ItemResult] = {}
    examples: dict[str, list[dict]] = defaultdict(list)
    rewards: Counter = Counter()
    reward_examples: dict[str, list[dict]] = defaultdict(list)
    for c in reversed(calls):  # newest first
        for i, it in enumerate(c.scorecard.items):
            latest.setdefault(it.id, it)
            href = _href("calls", safe_name(c.call_id) + ".html") + f"#item-{i}"
            quote_ = next((ev.text for ev in it.evidence if ev.text), "") or it.reason
            if it.status != "na":
                applicable[it.id] += 1
            if it.kind in REWARD_KINDS and it.status == "pass":
                rewards[it.id] += 1
                if len(reward_examples[it.id]) < 5:
                    reward_examples[it.id].append({"href": href, "date": c.call_date.isoformat(),
                                                   "text": quote_, "call_id": c.call_id})
            elif _failed(it):
                failed[it.id] += 1
                if len(examples[it.id]) < 3:
                    examples[it.id].append({"href": href, "date": c.call_date.isoformat(),
                                            "text": quote_, "call_id": c.call_id})
    most_failed = [
        {"item": latest[iid], "failed": n, "applicable": applicable[iid], "examples": examples[iid]}
        for iid, n in failed.most_common(6)
    ]
    reward_list = [
        {"item": latest[iid], "count": n, "examples": reward_examples[iid]} for iid, n in rewards.most_common()
    ]
    weeks: dict[str, list[StoredCall]] = defaultdict(list)
    for c in calls:
        weeks[c.week].append(c)
    week_rows = []
    for w in sorted(weeks):
        cs = weeks[w]
        week_rows.append({
            "week": w, "calls": len(cs), "mean": mean(x.scorecard.score for x in cs),
            "fatal": sum(x.scorecard.fatal for x in cs),
            "rewards": sum(1 for x in cs for it in x.scorecard.items
                           if it.kind in REWARD_KINDS and it.status == "pass"),
            "penalties": sum(1 for x in cs for it in x.scorecard.items
                             if it.kind in PENALTY_KINDS and it.status == "fail"),
        })
    recent = calls[-60:]
    trend = line_chart(
        [c.call_date.strftime("%m-%d") for c in recent],
        [("得分 score", _BLUE, [c.scorecard.score for c in recent])],
        title="score trend", ymin=0, ymax=max([100.0] + [c.scorecard.score for c in recent]),
        marks=[c.scorecard.fatal for c in recent],
    ) if calls else Markup("")
    weekly = line_chart(
        [r["week"] for r in week_rows],
        [("周平均分 weekly mean", _BLUE, [r["mean"] for r in week_rows])],
        title="weekly mean", ymin=0, ymax=100,
    ) if len(week_rows) > 1 else None
    written.append(folder / "index.html")
    _write(
        folder / "index.html", "agent.html", agent=agent, rows=rows, filters=filters,
        figures={"calls": len(calls), "mean": mean(scores) if scores else None,
                 "fatal": sum(c.scorecard.fatal for c in calls), "rewards": sum(rewards.values()),
                 "failed": sum(failed.values())},
        trend=trend, weekly=weekly, week_rows=week_rows, most_failed=most_failed, rewards=reward_list,
        item_names=_item_choices(calls), n_recent=len(recent),
    )
    return pages + 1


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
        return _render_reports(history, out_dir, since, until, agent, agent_bundles, workers,
                               real_roots(media_roots))


def _render_reports(history: History, out_dir: Path, since, until, agent, agent_bundles: bool,
                    workers: Optional[int], media_roots: list[Path]) -> RenderSummary:
    t0 = time.perf_counter()
    _stamp()
    summary = RenderSummary(out_dir=out_dir)
    owned = OwnedFiles.load(out_dir)
    history.unreadable.clear()
    calls = history.calls(since, until, agent)
    summary.unreadable = dict(history.unreadable)
    filters = _describe(since, until, agent)
    summary.calls = len(calls)
    summary.no_speech = sum(1 for c in calls if c.scorecard.no_speech)

    # Recordings: copied once into out_dir/audio/, shared by the call pages.
    audio: dict[str, Path] = {}
    problems: dict[str, tuple[str, str]] = {}
    for c in calls:
        rec = _audio_source(c, media_roots)
        if rec.path is not None:
            dst = out_dir / "audio" / (safe_name(c.call_id) + _audio_suffix(rec.path.name))
            try:
                _copy(rec.path, dst)
            except OSError as exc:
                rec = _Recording(missing=f"{rec.path} ({exc.strerror or exc})")
            else:
                owned.add(dst)
                audio[c.call_id] = dst
                summary.audio_files += 1
        if rec.missing:
            summary.missing_audio.append(rec.missing)
            problems[c.call_id] = ("missing", rec.missing)
        elif rec.refused:
            summary.refused_audio.append(f"{c.call_id}: {rec.refused}")
            problems[c.call_id] = ("refused", rec.refused)

    by_agent: dict[str, list[StoredCall]] = defaultdict(list)
    for c in calls:
        by_agent[c.agent_id].append(c)
    (out_dir / "calls").mkdir(exist_ok=True)
    jobs: list[_Job] = [(c, out_dir / "calls" / (safe_name(c.call_id) + ".html"), audio.get(c.call_id),
                         problems.get(c.call_id)) for c in calls]
    failed = dict(_render_all_calls(jobs, workers))
    summary.failed = [f"{cid}: {why}" for cid, why in failed.items()]
    rendered = {c.call_id for c in calls if c.call_id not in failed}
    for c, page, _, _ in jobs:
        if c.call_id in rendered:
            owned.add(page)
    summary.pages += len(rendered)
    summary.agents = len(by_agent)

    prefixes: list[str] = []
    for a, cs in by_agent.items():
        folder = out_dir / "agents" / safe_name(a)
        written: list[Path] = []
        summary.pages += _render_agent(a, cs, folder, out_dir, audio, filters, rendered, written)
        for f in written:
            owned.add(f)
        if agent_bundles:
            # The bundle is the agent's folder as just written (never anything else kept there).
            bundle = out_dir / "agent-bundles" / safe_name(a)
            for f in written:
                dst = bundle / f.relative_to(folder)
                _link(f, dst)
                owned.add(dst)
            summary.pages += len(cs) + 1
        if since or until or agent:
            prefixes.append(f"agents/{safe_name(a)}/")
            if agent_bundles:
                prefixes.append(f"agent-bundles/{safe_name(a)}/")
    if not (since or until or agent):
        # A full render: a page, recording or agent file written before and not now belongs to
        # a call or agent no longer in the history.
        prefixes += ["calls/", "audio/", "agents/"]
        names = {safe_name(a) for a in by_agent}
        if agent_bundles:
            prefixes.append("agent-bundles/")
        else:  # bundles not asked for this time: drop only those of agents no longer there
            prefixes += sorted({f"agent-bundles/{rel.split('/')[1]}/" for rel in owned.before
                                if rel.startswith("agent-bundles/") and rel.count("/") >= 2
                                and rel.split("/")[1] not in names})
    owned.prune(prefixes)

    rows = [
        _row(c, _href("calls", safe_name(c.call_id) + ".html"),
             _href("agents", safe_name(c.agent_id), "index.html"))
        for c in calls
    ]
    scores = [c.scorecard.score for c in calls]
    _write(
        out_dir / "index.html", "index.html", rows=rows, agents=sorted(by_agent), filters=filters,
        item_names=_item_choices(calls),
        figures={
            "calls": len(calls), "agents": len(by_agent),
            "mean": mean(scores) if scores else None, "median": median(scores) if scores else None,
            "fatal": sum(c.scorecard.fatal for c in calls),
            "flagged": sum(1 for c in calls if any(_failed(it) for it in c.scorecard.items)),
            "no_speech": summary.no_speech,
        },
        agent_links=[(a, _href("agents", safe_name(a), "index.html")) for a in sorted(by_agent)],
    )
    owned.add(out_dir / "index.html")
    summary.pages += 1
    _write_dashboard(out_dir / "dashboard.html", _dashboard_data(history, since, until, agent, calls), filters)
    owned.add(out_dir / "dashboard.html")
    summary.pages += 1
    owned.save()
    summary.seconds = time.perf_counter() - t0
    return summary


def _pct(x: Optional[float]) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def _write_dashboard(path: Path, d: _Dash, filters: str) -> None:
    weeks = d.weeks
    week_chart = bar_chart(
        weeks,
        [("奖励 rewards", _GOLD, [d.per_week[w].rewards for w in weeks]),
         ("处罚 penalties", _RED, [d.per_week[w].penalties for w in weeks]),
         ("红线 fatal", "#82071e", [d.per_week[w].fatal for w in weeks])],
        title="rewards and penalties per week",
    )
    mean_chart = line_chart(
        weeks, [("周平均分 weekly mean score", _BLUE, [d.per_week[w].mean for w in weeks])],
        title="mean score per week", ymin=0, ymax=100,
    )
    failed = [s for s in d.item_stats if s["failed"]][:10]
    failed_chart = hbar_chart(
        [(s["name"], s["failed"], f'{s["failed"]} ({_pct(s["rate"])})') for s in failed],
        title="most failed items",
    ) if failed else None
    dist = [0] * len(_BINS)
    for s in d.scores:
        dist[_bin(s)] += 1
    dist_chart = bar_chart([lab for _, _, lab in _BINS], [("通话数 calls", _BLUE, dist)],
                           title="score distribution")
    agents = []
    for a in d.agents:
        g = d.per_agent[a]
        agents.append({
            "agent": a, "agg": g,
            "href": _href("agents", safe_name(a), "index.html"),
            "trend": sparkline([d.per_agent_week[(a, w)].mean if (a, w) in d.per_agent_week else None
                                for w in weeks], lo=0, hi=100),
            "pen_trend": sparkline([d.per_agent_week[(a, w)].penalties if (a, w) in d.per_agent_week else None
                                    for w in weeks], colour=_RED),
            "weeks": [d.per_agent_week.get((a, w)) for w in weeks],
        })
    versions = d.versions
    t = d.total
    _write(
        path, "dashboard.html", d=d, filters=filters, agents=agents, weeks=weeks, total=t,
        week_chart=week_chart, mean_chart=mean_chart, failed_chart=failed_chart, dist_chart=dist_chart,
        versions=versions, pct=_pct,
    )


# --------------------------------------------------------------------------------------------
# CSV


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(v: object) -> object:
    """A CSV cell; text that Excel would run as a formula is prefixed with an apostrophe."""
    if v is None:
        return ""
    if isinstance(v, str) and v.startswith(_FORMULA_START):
        return "'" + v
    return v


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
    calls = history.calls(since, until, agent)
    d = _dashboard_data(history, since, until, agent, calls)
    tables = {
        "calls": (
            ["call_id", "agent", "date", "week", "channel", "rubric_id", "rubric_version", "score", "bonus",
             "fatal", "duration_s", "failed_items", "rewards", "source"],
            [[c.call_id, c.agent_id, c.call_date.isoformat(), c.week, c.scorecard.channel,
              c.scorecard.rubric_id, c.scorecard.rubric_version, c.scorecard.score, c.scorecard.bonus,
              int(c.scorecard.fatal), c.scorecard.duration,
              "; ".join(it.id for it in c.scorecard.items if _failed(it)),
              "; ".join(it.id for it in c.scorecard.items if it.kind in REWARD_KINDS and it.status == "pass"),
              c.source or c.scorecard.source]
             for c in calls],
        ),
        **_tables(d),
    }
    written = []
    for name, (header, rows) in tables.items():
        path = out_dir / f"{name}.csv"
        with atomic_open(path, "w", encoding="utf-8-sig", newline="") as f:
            w = csv.writer(f)
            w.writerow([_cell(h) for h in header])
            for row in rows:
                w.writerow([_cell(v) for v in row])
        written.append(path)
    return written
