"""History and report speed: record and render 10,000 scored calls.

    .venv/bin/python bench/bench_render.py [--calls 10000] [--keep DIR]

Generates scored calls (transcripts from phrase pools, scorecards built directly from the
models, seeded), records them into a fresh SQLite history one transaction per call, then
times rendering every report page (index, dashboard, one scorecard per call, agents'
folders) and the CSV export. Writes bench/RESULTS-render.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from qa_scorer.models import Evidence, ItemDoc, ItemResult, Scorecard, Segment, Transcript
from qa_scorer.report import export_csv, render_reports
from qa_scorer.store import History

AGENT = [
    "您好，很高兴为您服务，请问有什么可以帮您？", "请问是王先生吗？", "麻烦提供一下订单号。",
    "非常抱歉给您带来不便。", "请您稍等，我帮您查询一下。", "谢谢您的耐心等待，已经查到了。",
    "预计明天送达，具体以物流为准。", "我保证明天一定给您送到。", "这不归我管。",
    "好的，我马上帮您登记。", "请问您还有其他需要帮助的吗？", "感谢您的来电，祝您生活愉快，再见。",
]
CUSTOMER = [
    "你好，我买的洗衣机坏了。", "对，是我。", "订单号是一二三四五六。", "快递一直没到，等了五天了。",
    "我要投诉你们！", "好的谢谢。", "你服务态度真好。", "没有了。", "那什么时候能退款？",
]
# (id, name, kind, weight)
ITEMS = [
    ("greeting", "开场问候", "required", 5), ("identity_check", "身份核验", "required", 10),
    ("apology", "致歉安抚", "required", 10), ("banned_phrases", "禁语", "prohibited", 15),
    ("interruption", "抢话", "prohibited", 5), ("false_promise", "虚假承诺", "prohibited", 20),
    ("closing", "结束语", "required", 5), ("customer_praise", "客户表扬", "reward", 5),
    ("complaint_soothing", "投诉安抚", "fatal", 0), ("hold_etiquette", "等待礼仪", "required", 5),
    ("speech_rate", "语速", "required", 5),
]
DOC = ItemDoc(what="检查坐席是否按规范服务。", why="规范服务减少投诉。", example="“这不归我管。”",
              instead="“我理解您的着急，我这边帮您查询处理进度。”")


def make_call(rng: random.Random, i: int, agents: list[str], start: date) -> tuple[Transcript, Scorecard]:
    segs, t = [], 0.0
    for k in range(rng.randint(12, 30)):
        speaker = "agent" if k % 2 == 0 else "customer"
        text = rng.choice(AGENT if speaker == "agent" else CUSTOMER)
        dur = 0.25 * len(text)
        segs.append(Segment(speaker=speaker, text=text, start=round(t, 2), end=round(t + dur, 2)))
        t += dur + rng.uniform(0.2, 1.5)
    day = start + timedelta(days=rng.randrange(84))
    cid = f"C{day:%Y%m%d}-{i:06d}"
    tr = Transcript(call_id=cid, agent_id=rng.choice(agents), started_at=f"{day.isoformat()}T10:00:00+08:00",
                    segments=segs)
    items, deduct, bonus, fatal = [], 0.0, 0.0, False
    for iid, name, kind, weight in ITEMS:
        r = rng.random()
        status = "pass" if r < 0.8 else ("fail" if r < 0.95 else "na")
        if kind == "fatal":
            status = "fail" if r < 0.01 else "pass"
        if kind == "reward":
            status = "pass" if r < 0.1 else "fail"
        evidence = []
        if status != "na":
            k = rng.randrange(len(segs))
            text = segs[k].text
            evidence.append(Evidence(segment=k, speaker=segs[k].speaker, start=segs[k].start, end=segs[k].end,
                                     text=text[:6], span=(0, min(6, len(text)))))
        points = 0.0
        if kind == "reward" and status == "pass":
            points = weight
            bonus += weight
        elif status == "fail" and kind != "reward":
            points = -weight
            deduct += weight
            fatal = fatal or kind == "fatal"
        items.append(ItemResult(id=iid, name=name, kind=kind, status=status, points=points, weight=weight,
                                evidence=evidence, reason="示例原因", doc=DOC))
    sc = Scorecard(call_id=cid, agent_id=tr.agent_id, started_at=tr.started_at, duration=t, rubric_id="default",
                   rubric_version="sha256:bench", score=0 if fatal else max(0, 100 - deduct + bonus), bonus=bonus,
                   fatal=fatal, items=items)
    return tr, sc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--agents", type=int, default=60)
    ap.add_argument("--keep", type=Path, help="write the history and reports here instead of a temp folder")
    ap.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS-render.md"))
    args = ap.parse_args()

    rng = random.Random(20240506)
    agents = [f"A{n:03d}" for n in range(1, args.agents + 1)]
    t0 = time.perf_counter()
    calls = [make_call(rng, i, agents, date(2024, 3, 4)) for i in range(args.calls)]
    t_gen = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        db = root / "qa.sqlite"
        for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            p.unlink(missing_ok=True)
        with History(db) as h:
            t0 = time.perf_counter()
            for tr, sc in calls:
                h.record(tr, sc)
            t_record = time.perf_counter() - t0
            t0 = time.perf_counter()
            loaded = h.calls()
            t_load = time.perf_counter() - t0
            t0 = time.perf_counter()
            summary = render_reports(h, root / "reports")
            t_render = time.perf_counter() - t0
            t0 = time.perf_counter()
            render_reports(h, root / "reports-bundles", agent_bundles=True)
            t_bundles = time.perf_counter() - t0
            t0 = time.perf_counter()
            export_csv(h, root / "csv")
            t_csv = time.perf_counter() - t0
        size_db = db.stat().st_size / 1e6
        # Agents' folders hard-link the scorecards and audio: count each file once.
        inodes = {p.stat().st_ino: p.stat().st_size for p in (root / "reports").rglob("*") if p.is_file()}
        size_out = sum(inodes.values()) / 1e6
        n = len(loaded)

    rows = [
        ("record (one transaction per call)", t_record, n / t_record),
        ("load every call back (JSON → models)", t_load, n / t_load),
        ("render all reports (index, dashboard, scorecards, agents' folders)", t_render, n / t_render),
        ("render all reports + agent bundles", t_bundles, n / t_bundles),
        ("export CSV", t_csv, n / t_csv),
    ]
    lines = [
        "# History and report speed",
        "",
        f"Generated by `bench/bench_render.py` on {datetime.now():%Y-%m-%d}, Python {platform.python_version()},",
        f"{platform.machine()}, {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f} at the end);"
        f" {n:,} generated calls, {len(agents)} agents,",
        f"12 weeks, 11 items each, 12–30 segments per call (generation took {t_gen:.1f} s, not counted).",
        f"History database {size_db:.0f} MB; report folder {size_out:.0f} MB on disk, {summary.pages:,} pages.",
        "Scorecards are rendered in worker processes, one per CPU (render_reports' default).",
        "",
        "| stage | seconds | calls / s |",
        "|---|---:|---:|",
        *[f"| {name} | {sec:.1f} | {rate:,.0f} |" for name, sec, rate in rows],
        "",
        "Target: rendering 10,000 calls well under a minute.",
        "",
    ]
    args.results.write_text("\n".join(lines), encoding="utf-8")
    sys.stdout.write("\n".join(lines))


if __name__ == "__main__":
    main()
