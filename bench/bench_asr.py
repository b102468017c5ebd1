#!/usr/bin/env python3
"""Transcription speed and accuracy: qa-scorer against bare faster-whisper, in one run; writes
bench/RESULTS.md.

    .venv/bin/python bench/bench_asr.py            # about 6 minutes on 2 cores

Inputs: the 8 sample calls (`samples/calls/`, stereo 8 kHz), 4 longer calls scripted and rendered by
`bench/long_calls.py` (into the user's cache folder, not the repository), and the real
single-speaker clips (`tests/data/realaudio`, `../shared/realaudio`).

Both sides run in one process, call by call, interleaved (bare first on even calls, qa-scorer
first on odd ones), so that load from other work on the machine falls on both alike; faster-whisper
with all its defaults (no VAD) runs between them on every call as a third reference:
  bare       faster-whisper alone, as a user would call it: WhisperModel(base, int8, 2 threads),
             transcribe(mono mixdown file, language zh, beam 5, VAD filter, no conditioning on
             previous text); its other defaults (temperature fallback, timestamps) as they are.
  qa-scorer  transcribe_batch on the stereo file with an empty cache and the default options:
             decode, per-channel speech detection, batched decoding, guard, utterances, roles,
             cache write. For the real clips (mono) the same on the clip.
Model loading is timed apart and not in the ratios. Character error rate (CER) is computed for
both sides the same way: the whole call's text in time order against the script in time order,
after traditional→simplified and removing punctuation; for qa-scorer also per side (agent text
against the agent's script, customer against customer's), which needs no time order.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
CALLS = ROOT / "samples" / "calls"
SHARED_REAL = ROOT.parent / "shared" / "realaudio"
THREADS = 2


def cpu_model() -> str:
    """The processor's name where the system tells it (CTranslate2's int8 kernels differ between
    processors, so the recognised text, and both sides' character error, can differ a little
    between machines; compare runs of one machine)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def norm(text: str) -> str:
    from qa_scorer.normalize import to_simplified

    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", to_simplified(text))).lower()


def edits(a: str, b: str) -> int:
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[:], i
        for j, cb in enumerate(b, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (ca != cb))
    return d[-1]


def side_edits(ref: list[dict], segments) -> tuple[int, int]:
    """(character edits, reference characters) per side: the agent's transcript against the
    agent's script plus the customer's against the customer's."""
    e = n = 0
    for side in ("agent", "customer"):
        r = norm("".join(x["text"] for x in ref if x["speaker"] == side))
        e += edits(r, norm("".join(x.text for x in segments if x.speaker == side)))
        n += len(r)
    return e, n


def write_mono(stereo: Path, out: Path) -> Path:
    from qa_scorer.ingest import decode_audio

    left, right = decode_audio(stereo, 8000)
    mono = np.clip((left + right) / 2, -1, 1)
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((mono * 32767).astype("<i2").tobytes())
    return out


def count_fallbacks() -> dict:
    """Counts sequential 30-second decoder windows and those decoded again by sampling
    (temperature > 0): the costly case, mostly repetition loops."""
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


def _match(segments, ref):
    """Start/end errors per reference utterance (first/last overlapping segment on its side)."""
    starts, ends, missed = [], [], 0
    for r in ref:
        parts = [s for s in segments if s.speaker == r["speaker"] and s.start < r["end"] and s.end > r["start"]]
        if not parts:
            missed += 1
            continue
        starts.append(abs(parts[0].start - r["start"]))
        ends.append(abs(parts[-1].end - r["end"]))
    return starts, ends, missed


def _overlaps(call_id, ref, segments):
    """Interruptions in the script (agent starts >= 1 s before the customer stops): true vs measured."""
    out = []
    for a in ref:
        for b in ref:
            if a["speaker"] == "customer" and b["speaker"] == "agent" and b["start"] > a["start"]:
                true = min(a["end"], b["end"]) - b["start"]
                if true >= 1.0:
                    ha = [x for x in segments if x.speaker == "customer" and x.start < a["end"] and x.end > a["start"]]
                    hb = [x for x in segments if x.speaker == "agent" and x.start < b["end"] and x.end > b["start"]]
                    got = (min(ha[-1].end, hb[0].end) - hb[0].start) if ha and hb else None
                    out.append((call_id, round(true, 2), None if got is None else round(got, 2)))
    return out


def phase_compare(folder: Path) -> dict:
    from faster_whisper import WhisperModel

    from qa_scorer import transcribe as tr
    from qa_scorer.ingest import CallInput, probe_duration
    from long_calls import render_all

    sets = {"sample": [], "long": [], "real": []}
    for ref in sorted((CALLS / "src").glob("*.json")):
        sets["sample"].append((ref.stem, CALLS / f"{ref.stem}.wav", ref))
    for js, wav in render_all(4):
        sets["long"].append((js.stem, wav, js))
    seen_clips: set[str] = set()
    for base in (ROOT / "tests" / "data" / "realaudio", SHARED_REAL):
        tsv = base / "transcripts.tsv"
        if tsv.is_file():
            for line in tsv.read_text(encoding="utf-8").splitlines()[1:]:
                fn, text = line.split("\t")[:2]
                if fn not in seen_clips:  # a clip in both folders is measured once
                    seen_clips.add(fn)
                    sets["real"].append((f"{base.name}/{fn}", base / fn, text))

    counts = count_fallbacks()
    t0 = time.perf_counter()
    bare_model = WhisperModel(tr.resolve_model("base"), device="cpu", compute_type="int8", cpu_threads=THREADS)
    load_bare = time.perf_counter() - t0
    opts = tr.TranscribeOptions(cpu_threads=THREADS, workers=1)
    t0 = time.perf_counter()
    tr.load_model(opts)
    load_qa = time.perf_counter() - t0

    res: dict = {"load_bare_s": load_bare, "load_qa_s": load_qa, "sets": {}}
    k = 0
    for name, items in sets.items():
        acc = {"audio_s": 0.0, "bare_s": 0.0, "qa_s": 0.0, "calls": len(items), "bare_e": 0, "qa_e": 0,
               "plain_s": 0.0, "plain_e": 0,
               "qa_side_e": 0, "n": 0, "n_side": 0, "bare_windows": 0, "bare_fallbacks": 0,
               "qa_windows": 0, "qa_fallback_windows": 0, "qa_tail_retries": 0, "starts": [], "ends": [], "missed": 0,
               "overlaps": [], "per_call": []}
        for cid, path, ref in items:
            acc["audio_s"] += probe_duration(path) or 0.0
            if name == "real":
                ref_text = norm(ref)
                bare_input = path
                inp = CallInput(path=path, kind="audio", call_id=cid.replace("/", "_"), agent_channel="mono")
            else:
                segs_ref = json.loads(ref.read_text(encoding="utf-8"))["segments"]
                ref_text = norm("".join(s["text"] for s in sorted(segs_ref, key=lambda s: s["start"])))
                bare_input = write_mono(path, folder / f"{cid}-mono.wav")
                inp = CallInput(path=path, kind="audio", call_id=cid)

            def bare():
                c0 = dict(counts)
                started = time.perf_counter()
                segments, _ = bare_model.transcribe(str(bare_input), language="zh", beam_size=5, vad_filter=True,
                                                    condition_on_previous_text=False)
                text = "".join(s.text for s in segments)
                wall = time.perf_counter() - started
                acc["bare_windows"] += counts["windows"] - c0["windows"]
                acc["bare_fallbacks"] += counts["fallbacks"] - c0["fallbacks"]
                return text, wall

            def plain():
                # faster-whisper with its defaults (no VAD, conditioning on previous text), as the
                # throughput issue measured it
                started = time.perf_counter()
                segments, _ = bare_model.transcribe(str(bare_input), language="zh")
                text = "".join(s.text for s in segments)
                return text, time.perf_counter() - started

            def qa():
                started = time.perf_counter()
                (done, errors) = tr.transcribe_batch([inp], opts, folder / f"cache-{k}", progress=False)
                wall = time.perf_counter() - started
                assert not errors, errors
                return done[0][1], wall

            if k % 2 == 0:
                (btext, bwall), (ptext, pwall), (t, qwall) = bare(), plain(), qa()
            else:
                (t, qwall), (ptext, pwall), (btext, bwall) = qa(), plain(), bare()
            k += 1
            acc["plain_s"] += pwall
            acc["plain_e"] += edits(ref_text, norm(ptext))
            dec = t.metadata["asr"]["decoder"]
            acc["qa_windows"] += dec["windows"]
            acc["qa_fallback_windows"] += dec["fallback_windows"]
            acc["qa_tail_retries"] += dec["tail_retries"]
            acc["bare_s"] += bwall
            acc["qa_s"] += qwall
            be = edits(ref_text, norm(btext))
            qe = edits(ref_text, norm("".join(s.text for s in t.segments)))
            acc["bare_e"] += be
            acc["qa_e"] += qe
            acc["n"] += len(ref_text)
            acc["per_call"].append((cid, round(probe_duration(path) or 0, 1), round(bwall, 1), round(qwall, 1),
                                    round(be / max(1, len(ref_text)), 3), round(qe / max(1, len(ref_text)), 3)))
            if name != "real":
                se, sn = side_edits(segs_ref, t.segments)
                acc["qa_side_e"] += se
                acc["n_side"] += sn
                s, e, m = _match(t.segments, segs_ref)
                acc["starts"] += s
                acc["ends"] += e
                acc["missed"] += m
                acc["overlaps"] += _overlaps(cid, segs_ref, t.segments)
        res["sets"][name] = acc
    return res


def phase_mono(folder: Path) -> dict:
    """Voice separation on the sample calls' mono mixdowns: share of utterances with the right role."""
    from qa_scorer import transcribe as tr
    from qa_scorer.ingest import CallInput

    inputs = []
    for ref in sorted((CALLS / "src").glob("*.json")):
        inputs.append(CallInput(path=write_mono(CALLS / f"{ref.stem}.wav", folder / f"{ref.stem}.wav"),
                                kind="audio", call_id=ref.stem))
    done, _ = tr.transcribe_batch(inputs, tr.TranscribeOptions(cpu_threads=THREADS, workers=1),
                                  folder / "cache", progress=False)
    right = total = 0
    per_call = {}
    for inp, t in done:
        ref = json.loads((CALLS / "src" / f"{inp.call_id}.json").read_text(encoding="utf-8"))["segments"]
        ok = 0
        for r in ref:
            cands = [s for s in t.segments if s.start < r["end"] and s.end > r["start"]]
            if cands:
                best = max(cands, key=lambda s: min(s.end, r["end"]) - max(s.start, r["start"]))
                ok += best.speaker == r["speaker"]
        per_call[inp.call_id] = f"{ok}/{len(ref)}"
        right += ok
        total += len(ref)
    return {"accuracy": right / total, "right": right, "total": total, "per_call": per_call}


PHASES = {"compare": phase_compare, "mono": phase_mono}


def child(name: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, __file__, "--phase", name, tmp], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    if proc.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pct(xs, q):
    return float(np.percentile(xs, q)) if xs else float("nan")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--phase":
        print(json.dumps(PHASES[sys.argv[2]](Path(sys.argv[3]))))
        return
    started = time.perf_counter()
    r = {name: child(name) for name in PHASES}
    import faster_whisper

    cmp_, mono = r["compare"], r["mono"]
    sets = cmp_["sets"]
    titles = {"sample": "8 sample calls (`samples/calls/`)",
              "long": "4 longer rendered calls (`bench/long_calls.py`)",
              "real": "real single-speaker clips (mono)"}
    tot = {k: sum(sets[s][k] for s in ("sample", "long"))
           for k in ("audio_s", "bare_s", "qa_s", "bare_e", "qa_e", "n", "plain_s", "plain_e")}
    lines = [
        "# Transcription benchmark",
        "",
        f"Written by `bench/bench_asr.py` on {time.strftime('%Y-%m-%d %H:%M')} in one run "
        f"({(time.perf_counter() - started) / 60:.0f} min): {os.cpu_count()} CPU cores shared with other work "
        f"({cpu_model()}, {platform.machine()}), Python {platform.python_version()}, faster-whisper "
        f"{faster_whisper.__version__}, Whisper base int8 (assembled from the PyPI packages), {THREADS} threads "
        "on both sides. Both sides ran in one process, call by call, interleaved (bare first on even calls, "
        "qa-scorer first on odd ones), so load from other work on the machine falls on both alike. "
        "The recognised text itself differs a little between processors (CTranslate2's int8 kernels), "
        "so character error rates are comparable within one run, or runs on one processor. "
        f"Model load (not in the figures below): bare {cmp_['load_bare_s']:.1f} s, qa-scorer {cmp_['load_qa_s']:.1f} s.",
        "",
        "- **bare**: faster-whisper alone on the mono mixdown: `WhisperModel(base, int8, cpu_threads=2)."
        "transcribe(file, language='zh', beam_size=5, vad_filter=True, condition_on_previous_text=False)`.",
        "- **qa-scorer**: `transcribe_batch` on the stereo call (empty cache, default options): decode, "
        "per-channel speech detection, both channels' speech packed into 30 s windows and decoded in one "
        "batch (beam 5), failed windows decoded again, the unheard end of a window whose decoding stopped early "
        "decoded again, guard, utterances, roles, cache write.",
        "",
        "## Speed and character error rate",
        "",
        "| input | audio s | bare wall s | bare × real time | qa-scorer wall s | qa-scorer × real time | "
        "**speed ratio** | bare CER | qa-scorer CER | qa-scorer CER per side |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("sample", "long", "real"):
        s = sets[name]
        side = f"{s['qa_side_e'] / s['n_side'] * 100:.1f}%" if s["n_side"] else ""
        lines.append(
            f"| {titles[name]} | {s['audio_s']:.0f} | {s['bare_s']:.1f} | {s['audio_s'] / s['bare_s']:.1f} | "
            f"{s['qa_s']:.1f} | {s['audio_s'] / s['qa_s']:.1f} | **{s['bare_s'] / s['qa_s']:.2f}×** | "
            f"{s['bare_e'] / s['n'] * 100:.1f}% | {s['qa_e'] / s['n'] * 100:.1f}% | {side} |")
    lines.append(
        f"| **all calls (sample + long)** | {tot['audio_s']:.0f} | {tot['bare_s']:.1f} | "
        f"{tot['audio_s'] / tot['bare_s']:.1f} | {tot['qa_s']:.1f} | {tot['audio_s'] / tot['qa_s']:.1f} | "
        f"**{tot['bare_s'] / tot['qa_s']:.2f}×** | {tot['bare_e'] / tot['n'] * 100:.1f}% | "
        f"{tot['qa_e'] / tot['n'] * 100:.1f}% | |")
    lines += [
        "",
        "Against faster-whisper with its defaults (`transcribe(file, language='zh')`: beam 5, no VAD, "
        "conditioning on previous text; base int8, 2 threads, on the mono mixdown), as the throughput issue "
        "measured it, timed in the same run between the two runs above:",
        "",
        "| input | defaults wall s | defaults × real time | **speed ratio** | defaults CER | qa-scorer CER |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in [(titles[n], sets[n]) for n in ("sample", "long", "real")] + [("**all calls (sample + long)**", tot)]:
        lines.append(f"| {name} | {s['plain_s']:.1f} | {s['audio_s'] / s['plain_s']:.1f} | "
                     f"**{s['plain_s'] / s['qa_s']:.2f}×** | {s['plain_e'] / s['n'] * 100:.1f}% | "
                     f"{s['qa_e'] / s['n'] * 100:.1f}% |")
    lines += [
        "",
        "CER in time order is the same measure for both sides; on a mono mixdown overlapping speech "
        "interleaves, which costs bare faster-whisper some errors that per-channel decoding does not make. "
        "Per side: qa-scorer's agent text against the agent's script and the customer's against the "
        "customer's.",
        "",
        "Decoder work: " + "; ".join(
            f"{titles[n].split(' (')[0]}: bare {sets[n]['bare_windows']} sequential windows, "
            f"{sets[n]['bare_fallbacks']} decoded again by sampling; qa-scorer {sets[n]['qa_windows']} "
            f"batched windows, {sets[n]['qa_fallback_windows']} decoded again, {sets[n]['qa_tail_retries']} "
        "with an unheard end decoded again" for n in ("sample", "long", "real")) + ".",
        "",
        "Per call (audio s, bare wall s, qa-scorer wall s, bare CER, qa-scorer CER):",
        "",
        "| call | audio s | bare s | qa-scorer s | bare CER | qa-scorer CER |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ("sample", "long", "real"):
        lines += [f"| {c} | {a} | {b} | {q} | {be * 100:.1f}% | {qe * 100:.1f}% |"
                  for c, a, b, q, be, qe in sets[name]["per_call"]]
    for name in ("sample", "long"):
        s = sets[name]
        lines += [
            "",
            f"## Utterance timing and interruptions: {titles[name]}",
            "",
            f"- Utterance edges against the script ({len(s['starts'])} utterances found, {s['missed']} not found): "
            f"start error median **{np.median(s['starts']) * 1000:.0f} ms**, 90th percentile "
            f"{pct(s['starts'], 90) * 1000:.0f} ms, max {max(s['starts']) * 1000:.0f} ms; end error median "
            f"**{np.median(s['ends']) * 1000:.0f} ms**, 90th percentile {pct(s['ends'], 90) * 1000:.0f} ms, "
            f"max {max(s['ends']) * 1000:.0f} ms."
            + (" (The voice stretches or squeezes a line to fit its scripted length only within limits, so "
               "scripted ends of the longer calls are approximate.)" if name == "long" else ""),
            "- Interruptions (the agent starts ≥ 1 s before the customer stops), true vs measured overlap:",
            "",
            "| call | true overlap s | measured s |",
            "|---|---:|---:|",
        ]
        lines += [f"| {c} | {tv} | {g} |" for c, tv, g in s["overlaps"]]
    lines += [
        "",
        "## Roles on mono recordings",
        "",
        f"Voice separation (numpy voice prints + 2-way clustering, agent chosen by wording) on the sample "
        f"calls' mono mixdowns: **{mono['accuracy'] * 100:.0f}%** of reference utterances get the right role "
        f"({mono['right']}/{mono['total']}; per call: " + ", ".join(f"{k} {v}" for k, v in mono["per_call"].items())
        + "). The synthetic customer voice is a pitch-shifted copy of the agent's; mono roles always carry a "
        "confidence below 1.",
        "",
    ]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
