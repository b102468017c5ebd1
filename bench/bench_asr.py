#!/usr/bin/env python3
"""Transcription speed and accuracy on this machine; writes bench/RESULTS.md.

    .venv/bin/python bench/bench_asr.py            # about 4 minutes on 2 cores

Phases, each in its own process (so peak memory is per phase):
  bare    faster-whisper alone (base, int8, VAD, beam 5, language zh) on the mono mixdowns of the
          sample calls: the baseline.
  stereo  qa-scorer end to end on the stereo sample calls (transcribe_batch, empty cache): decode,
          one pass per channel, utterances, guard, roles. Also timing error and CER against the
          source transcripts.
  mono    qa-scorer on the mono mixdowns: role accuracy of the voice separation.
  real    qa-scorer on the real speech clips (tests/data/realaudio and ../shared/realaudio): CER.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CALLS = ROOT / "samples" / "calls"
SHARED_REAL = ROOT.parent / "shared" / "realaudio"
THREADS = os.cpu_count() or 1


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def norm(text: str) -> str:
    from qa_scorer.transcribe import to_simplified

    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", to_simplified(text))).lower()


def edits(a: str, b: str) -> int:
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[:], i
        for j, cb in enumerate(b, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (ca != cb))
    return d[-1]


def sample_ids() -> list[str]:
    return sorted(p.stem for p in (CALLS / "src").glob("*.json"))


def truth(cid: str) -> list[dict]:
    return json.loads((CALLS / "src" / f"{cid}.json").read_text(encoding="utf-8"))["segments"]


def mixdowns(folder: Path) -> list[Path]:
    from qa_scorer.ingest import decode_audio

    out = []
    for cid in sample_ids():
        left, right = decode_audio(CALLS / f"{cid}.wav", 8000)
        mono = np.clip((left + right) / 2, -1, 1)
        path = folder / f"{cid}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes((mono * 32767).astype("<i2").tobytes())
        out.append(path)
    return out


def audio_seconds(paths) -> float:
    from qa_scorer.ingest import probe_duration

    return sum(probe_duration(p) or 0 for p in paths)


def count_windows() -> dict:
    """Counts every 30-second decoder window and those that fell back to sampling (temperature > 0,
    best of 5: the costly case, mostly repetition loops)."""
    import faster_whisper.transcribe as fwt

    counts = {"windows": 0, "fallbacks": 0}
    inner = fwt.WhisperModel.generate_with_fallback

    def counted(self, *args, **kwargs):
        result = inner(self, *args, **kwargs)
        counts["windows"] += 1
        counts["fallbacks"] += result[2] > 0
        return result

    fwt.WhisperModel.generate_with_fallback = counted
    return counts


# --- phases (run in child processes) ---------------------------------------------------------------

def phase_bare(folder: Path) -> dict:
    from faster_whisper import WhisperModel

    from qa_scorer.asr_models import resolve_model

    paths = mixdowns(folder)
    counts = count_windows()
    started = time.perf_counter()
    model = WhisperModel(resolve_model("base"), device="cpu", compute_type="int8", cpu_threads=THREADS)
    for p in paths:
        segments, _ = model.transcribe(str(p), language="zh", beam_size=5, vad_filter=True,
                                       condition_on_previous_text=False)
        list(segments)
    wall = time.perf_counter() - started
    return {"audio_s": audio_seconds(paths), "wall_s": wall, "peak_mb": peak_mb(), **counts}


def _match(segments, ref, same_side=True):
    """Start/end errors per reference utterance (first/last overlapping segment on its side)."""
    starts, ends, missed = [], [], 0
    for r in ref:
        parts = [s for s in segments if (not same_side or s.speaker == r["speaker"])
                 and s.start < r["end"] and s.end > r["start"]]
        if not parts:
            missed += 1
            continue
        starts.append(abs(parts[0].start - r["start"]))
        ends.append(abs(parts[-1].end - r["end"]))
    return starts, ends, missed


def phase_stereo(folder: Path) -> dict:
    from qa_scorer import transcribe as tr
    from qa_scorer.ingest import discover_inputs

    paths = [CALLS / f"{cid}.wav" for cid in sample_ids()]
    inputs, _ = discover_inputs(paths)
    counts = count_windows()
    started = time.perf_counter()
    done, errors = tr.transcribe_batch(inputs, tr.TranscribeOptions(), folder / "cache", progress=False)
    wall = time.perf_counter() - started
    starts, ends, missed, e, n = [], [], 0, 0, 0
    overlaps = []
    for inp, t in done:
        ref = truth(inp.call_id)
        s, en, m = _match(t.segments, ref)
        starts += s
        ends += en
        missed += m
        for side in ("agent", "customer"):
            r = norm("".join(x["text"] for x in ref if x["speaker"] == side))
            h = norm("".join(x.text for x in t.segments if x.speaker == side))
            e += edits(r, h)
            n += len(r)
        # Interruptions: true overlap of >= 1 s vs the measured one.
        for a in ref:
            for b in ref:
                if a["speaker"] == "customer" and b["speaker"] == "agent" and b["start"] > a["start"]:
                    true = min(a["end"], b["end"]) - b["start"]
                    if true >= 1.0:
                        ha = [x for x in t.segments if x.speaker == "customer" and x.start < a["end"] and x.end > a["start"]]
                        hb = [x for x in t.segments if x.speaker == "agent" and x.start < b["end"] and x.end > b["start"]]
                        got = (min(ha[-1].end, hb[0].end) - hb[0].start) if ha and hb else None
                        overlaps.append((inp.call_id, round(true, 2), None if got is None else round(got, 2)))
    return {"audio_s": audio_seconds(paths), "wall_s": wall, "peak_mb": tr.LAST_BATCH.get("peak_rss_mb"),
            "workers": tr.LAST_BATCH.get("workers"), "threads": tr.LAST_BATCH.get("threads"),
            "errors": [e_.message for e_ in errors], "starts": starts, "ends": ends, "missed": missed,
            "cer": e / n, "overlaps": overlaps, **counts, "model_runs": tr.STATS["model_runs"]}


def phase_mono(folder: Path) -> dict:
    from qa_scorer import transcribe as tr
    from qa_scorer.ingest import CallInput

    paths = mixdowns(folder)
    inputs = [CallInput(path=p, kind="audio", call_id=p.stem) for p in paths]
    started = time.perf_counter()
    done, _ = tr.transcribe_batch(inputs, tr.TranscribeOptions(), folder / "cache", progress=False)
    wall = time.perf_counter() - started
    right = total = 0
    per_call = {}
    for inp, t in done:
        ref = truth(inp.call_id)
        ok = 0
        for r in ref:
            cands = [s for s in t.segments if s.start < r["end"] and s.end > r["start"]]
            if not cands:
                continue
            best = max(cands, key=lambda s: min(s.end, r["end"]) - max(s.start, r["start"]))
            ok += best.speaker == r["speaker"]
        per_call[inp.call_id] = f"{ok}/{len(ref)}"
        right += ok
        total += len(ref)
    return {"audio_s": audio_seconds(paths), "wall_s": wall, "accuracy": right / total,
            "right": right, "total": total, "per_call": per_call}


def phase_real(folder: Path) -> dict:
    from qa_scorer import transcribe as tr
    from qa_scorer.ingest import CallInput, decode_audio

    model = tr._load_model(tr.TranscribeOptions())
    out = {}
    for name, base in (("tests/data/realaudio (5 clips)", ROOT / "tests" / "data" / "realaudio"),
                       ("../shared/realaudio (all 9 clips)", SHARED_REAL)):
        tsv = base / "transcripts.tsv"
        if not tsv.is_file():
            continue
        e = n = 0
        for line in tsv.read_text(encoding="utf-8").splitlines()[1:]:
            fn, ref = line.split("\t")[:2]
            inp = CallInput(path=base / fn, kind="audio", call_id=fn, agent_channel="mono")
            t = tr.transcribe_audio(inp, decode_audio(base / fn), tr.TranscribeOptions(), model)
            e += edits(norm(ref), norm("".join(s.text for s in t.segments)))
            n += len(norm(ref))
        out[name] = e / n
    return out


PHASES = {"bare": phase_bare, "stereo": phase_stereo, "mono": phase_mono, "real": phase_real}


def child(name: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, __file__, "--phase", name, tmp], capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    if proc.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pct(xs, q):
    return float(np.percentile(xs, q)) if xs else float("nan")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--phase":
        print(json.dumps(PHASES[sys.argv[2]](Path(sys.argv[3]))))
        return
    r = {name: child(name) for name in PHASES}
    import faster_whisper

    bare, st, mono, real = r["bare"], r["stereo"], r["mono"], r["real"]
    x_bare = bare["audio_s"] / bare["wall_s"]
    x_st = st["audio_s"] / st["wall_s"]
    x_mono = mono["audio_s"] / mono["wall_s"]
    lines = [
        "# Transcription benchmark",
        "",
        f"Written by `bench/bench_asr.py` on {time.strftime('%Y-%m-%d')}: {os.cpu_count()} CPU cores "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}, "
        f"faster-whisper {faster_whisper.__version__}, Whisper base int8 (assembled from the PyPI packages), "
        f"{THREADS} threads. Input: the {len(sample_ids())} sample calls in `samples/calls/` "
        f"({st['audio_s']:.0f} s of calls, 8 kHz μ-law).",
        "",
        "## Speed (audio seconds per wall-clock second, model load included)",
        "",
        "| path | audio s | wall s | × real time | peak RSS per worker |",
        "|---|---:|---:|---:|---:|",
        f"| (a) bare faster-whisper, mono mixdowns, VAD, beam 5 | {bare['audio_s']:.0f} | {bare['wall_s']:.1f} | "
        f"{x_bare:.1f} | {bare['peak_mb']:.0f} MB |",
        f"| (b) qa-scorer end to end, stereo ({st['workers']} worker × {st['threads']} threads) | "
        f"{st['audio_s']:.0f} | {st['wall_s']:.1f} | {x_st:.1f} | {st['peak_mb']:.0f} MB |",
        f"| (c) qa-scorer on the mono mixdowns (voice separation) | {mono['audio_s']:.0f} | "
        f"{mono['wall_s']:.1f} | {x_mono:.1f} | |",
        "",
        f"Ratio (b)/(a): **{x_st / x_bare:.2f}**. Decoder work: (a) {bare['windows']} windows of up to "
        f"30 s, {bare['fallbacks']} of them decoded again by sampling; (b) {st['windows']} windows in "
        f"{st['model_runs']} model runs, {st['fallbacks']} sampled again. qa-scorer decodes each "
        "channel separately; the speech detector drops each channel's silence (the other party's "
        "turns, holds), so the decoder sees about as much audio as in the mixdown, but each channel "
        "ends in a part-filled window. It also computes word timestamps (for utterance edges) and "
        "decodes a stretch caught in a repetition loop again region by region.",
        "",
        "## Accuracy on the sample calls (stereo path)",
        "",
        f"- Character error rate against the source transcripts: **{st['cer'] * 100:.1f}%** "
        "(after traditional→simplified and punctuation removal; errors are mostly homophones of the "
        "synthetic voice, e.g. 耐心→脉心, 核对→合对, and digits written as numerals).",
        f"- Utterance timing against the rendered truth ({len(st['starts'])} utterances, {st['missed']} not found): "
        f"start error median **{np.median(st['starts']) * 1000:.0f} ms**, 90th percentile "
        f"{pct(st['starts'], 90) * 1000:.0f} ms, max {max(st['starts']) * 1000:.0f} ms; end error median "
        f"**{np.median(st['ends']) * 1000:.0f} ms**, 90th percentile {pct(st['ends'], 90) * 1000:.0f} ms, "
        f"max {max(st['ends']) * 1000:.0f} ms.",
        "- Interruptions (agent starts ≥ 1 s before the customer stops), true vs measured overlap:",
        "",
        "| call | true overlap s | measured s |",
        "|---|---:|---:|",
    ]
    lines += [f"| {c} | {t} | {g} |" for c, t, g in st["overlaps"]]
    lines += [
        "",
        "## Roles on mono recordings",
        "",
        f"Voice separation (numpy voice prints + 2-way clustering, agent chosen by wording) on the "
        f"mono mixdowns: **{mono['accuracy'] * 100:.0f}%** of reference utterances get the right role "
        f"({mono['right']}/{mono['total']}; per call: "
        + ", ".join(f"{k} {v}" for k, v in mono["per_call"].items()) + "). "
        "The synthetic customer voice is a pitch-shifted copy of the agent's, so real calls with two "
        "similar voices will do worse; mono roles are always marked with a confidence below 1.",
        "",
        "## Real speech (single-speaker clips)",
        "",
    ]
    lines += [f"- {k}: CER **{v * 100:.1f}%**" for k, v in real.items()]
    lines += [""]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
