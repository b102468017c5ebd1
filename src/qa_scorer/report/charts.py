"""Charts: small inline SVG, no library. Every label is escaped."""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from markupsafe import Markup, escape

def num(x: Optional[float]) -> str:
    if x is None:
        return "–"
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.1f}"


GREEN, RED, BLUE, GOLD, GREY = "#2da44e", "#cf222e", "#0969da", "#d4a72c", "#8c959f"


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
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{num(t)}</text>')
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
                f' fill="{colour}"><title>{escape(lab)} · {escape(name)}: {num(v)}</title></rect>'
            )
            if v and n * len(series) <= 24:
                out.append(f'<text class="val" x="{x + bw / 2:.1f}" y="{top + ph - h - 3:.1f}"'
                           f' text-anchor="middle">{num(v)}</text>')
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
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{num(lo + t)}</text>')
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
            fill = RED if i < len(marks) and marks[i] else colour
            out.append(f'<circle class="pt" cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{fill}">'
                       f'<title>{escape(labels[i])} · {escape(name)}: {num(v)}</title></circle>')
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
                   f' fill="{RED}"><title>{escape(lab)}: {escape(txt)}{escape(unit)}</title></rect>')
        out.append(f'<text class="val" x="{left + w + 5:.1f}" y="{y + 15}">{escape(txt)}</text>')
    return _svg(width, height, out, title)


def sparkline(values: Sequence[Optional[float]], *, colour: str = BLUE, lo: float = 0,
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

