#!/usr/bin/env python3
"""Batched transcription throughput and accuracy on a CUDA GPU; writes bench/RESULTS-gpu.md.

    .venv/bin/python bench/bench_gpu.py [--calls 300] [--workers 1,4] [--budget-s 100] [--extra DIR]
    .venv/bin/python bench/bench_gpu.py --device cpu --compute-type int8 --calls 4 --out /tmp/x.md  # dry run

Never run by the tests. Needs a CUDA device that CTranslate2 sees (it stops with a message
otherwise). Input: the sample calls (`samples/calls/`) and, with ``--extra DIR``, the longer calls
rendered by `bench/long_calls.py` (``DIR`` holds ``<id>.json`` + ``<id>.wav`` pairs). To reach
``--calls`` recordings, each source call is written again with a small gain change and a little
noise (a different file, so nothing comes from the cache, and the decoder sees different audio);
the script it was rendered from stays its ground truth.

Measured: qa-scorer's `transcribe_batch` (device cuda, float16, the default options otherwise),
once per worker count in ``--workers`` (one process per worker, each with its own copy of the
model on the GPU), wall clock from the first call to the last, model load apart; × real time;
character error rate in time order and per side; and, for reference, bare faster-whisper on the
GPU (beam 5, VAD filter) on the first ``--bare-calls`` (20) mono mixdowns. A device's time is lent by the minute, so
a warm-up batch of one copy of each script (also reported) sets how many calls each worker count
gets: as many as the warm-up's rate lets finish in ``--budget-s`` seconds, at most ``--calls``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
CALLS = ROOT / "samples" / "calls"


def write_wav(path: Path, channels: list[np.ndarray], rate: int) -> Path:
    x = np.clip(np.stack(channels, axis=1), -1, 1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(x.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((x * 32767).astype("<i2").tobytes())
    return path


def sources(extra: Path | None) -> list[tuple[str, Path, list[dict]]]:
    out = []
    for ref in sorted((CALLS / "src").glob("*.json")):
        out.append((ref.stem, CALLS / f"{ref.stem}.wav", json.loads(ref.read_text(encoding="utf-8"))["segments"]))
    if extra:
        for js in sorted(extra.glob("*.json")):
            wav = js.with_suffix(".wav")
            if wav.is_file():
                out.append((js.stem, wav, json.loads(js.read_text(encoding="utf-8"))["segments"]))
    return out


def cer(done, truth) -> tuple[float, float]:
    from bench_asr import edits, norm, side_edits

    e = n = es = ns = 0
    for inp, t in done:
        ref = truth[inp.call_id]
        r = norm("".join(s["text"] for s in sorted(ref, key=lambda s: s["start"])))
        e += edits(r, norm("".join(s.text for s in t.segments)))
        n += len(r)
        se, sn = side_edits(ref, t.segments)
        es += se
        ns += sn
    return e / max(1, n) * 100, es / max(1, ns) * 100


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--extra", type=Path, default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--compute-type", default="float16")
    ap.add_argument("--workers", default="1,4", help="worker counts to measure, comma-separated")
    ap.add_argument("--budget-s", type=float, default=100.0, help="about how long each worker count may run")
    ap.add_argument("--bare-calls", type=int, default=20, help="calls for bare faster-whisper's reference figure")
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                    help="cpu only to try the script itself on a machine without a GPU")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS-gpu.md")
    a = ap.parse_args()

    import ctranslate2

    if a.device == "cuda" and ctranslate2.get_cuda_device_count() < 1:
        raise SystemExit("bench_gpu: no CUDA device visible to CTranslate2; run this on a GPU machine")

    from qa_scorer import transcribe as tr
    from qa_scorer.ingest import CallInput, decode_audio, probe_duration

    src = sources(a.extra)
    rng = np.random.default_rng(7)
    truth: dict[str, list[dict]] = {}
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        decoded = {cid: decode_audio(wav, 8000) for cid, wav, _ in src}
        inputs: list = []

        def copies(n: int) -> list:
            """The first n noisy copies, written on first use (outside any timing)."""
            while len(inputs) < n:
                i = len(inputs)
                cid, _, ref = src[i % len(src)]
                g = float(rng.uniform(0.8, 1.2))
                noisy = [np.clip(c * g + rng.normal(0, 0.002, c.shape), -1, 1).astype(np.float32)
                         for c in decoded[cid]]
                name = f"{i:04d}_{cid}"
                inputs.append(CallInput(path=write_wav(tmp / f"{name}.wav", noisy, 8000), kind="audio", call_id=name))
                truth[name] = ref
            return inputs[:n]

        def options(workers: int):
            return tr.TranscribeOptions(device=a.device, compute_type=a.compute_type, batch_size=a.batch_size,
                                        workers=workers)

        def run(calls: list, workers: int, cache: str) -> tuple[float, float, int, list]:
            t0 = time.perf_counter()
            done, errors = tr.transcribe_batch(calls, options(workers), tmp / cache, progress=False)
            wall = time.perf_counter() - t0
            audio = sum(probe_duration(i.path) or 0 for i in calls)
            return audio, wall, len(errors), done

        t0 = time.perf_counter()
        tr.load_model(options(1))
        load_s = time.perf_counter() - t0
        warm = copies(len(src))
        audio, wall, failed, done = run(warm, 1, "warm")
        rate = audio / wall
        c, cs = cer(done, truth)
        rows.append(f"- Warm-up, one worker, one copy of each of the {len(src)} scripts ({audio:.0f} s): "
                    f"{rate:.0f}× real time, CER {c:.1f}% ({failed} failed; model load {load_s:.1f} s apart).")
        print(rows[-1], flush=True)
        per_call = audio / len(warm)
        for w in (int(x) for x in a.workers.split(",") if x.strip()):
            n = max(len(src), min(a.calls, int(a.budget_s * rate / per_call)))
            audio, wall, failed, done = run(copies(n), w, f"w{w}")
            c, cs = cer(done, truth)
            rows.append(f"- qa-scorer `transcribe_batch`, **{w} worker{'s' if w > 1 else ''}**, {n} stereo calls "
                        f"({audio:.0f} s of audio): **{audio / wall:.0f}× real time** ({wall:.1f} s wall, "
                        f"{failed} failed); character error rate **{c:.1f}%** in time order, {cs:.1f}% per side.")
            print(rows[-1], flush=True)

        # Bare faster-whisper on the GPU, for reference: the first calls' mono mixdowns.
        from faster_whisper import WhisperModel

        bare = WhisperModel(tr.resolve_model("base"), device=a.device, compute_type=a.compute_type)
        subset = copies(a.bare_calls)
        monos = []
        for inp in subset:
            left, right = decode_audio(inp.path, 8000)
            monos.append(write_wav(tmp / f"{inp.call_id}-mono.wav", [(left + right) / 2], 8000))
        t0 = time.perf_counter()
        for p in monos:
            segments, _ = bare.transcribe(str(p), language="zh", beam_size=5, vad_filter=True,
                                          condition_on_previous_text=False)
            list(segments)
        bare_wall = time.perf_counter() - t0
        bare_audio = sum(probe_duration(i.path) or 0 for i in subset)
        rows.append(f"- Bare faster-whisper on the same device (beam 5, VAD filter, one call after another), mono "
                    f"mixdowns of the first {len(subset)} calls ({bare_audio:.0f} s): "
                    f"{bare_audio / bare_wall:.0f}× real time.")

    import faster_whisper

    gpu = ""
    if a.device == "cuda":
        try:
            import subprocess

            gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            gpu = ""
    lines = [
        "# Transcription on a GPU",
        "",
        f"Written by `bench/bench_gpu.py` on {time.strftime('%Y-%m-%d %H:%M')}: {a.device}"
        f"{' (' + gpu + ')' if gpu else ''}, {os.cpu_count()} CPU cores, faster-whisper "
        f"{faster_whisper.__version__}, CTranslate2 {ctranslate2.__version__}, Whisper base {a.compute_type}, "
        f"batch size {a.batch_size}. Calls: copies of the {len(src)} sample scripts, each with its own gain "
        f"and noise (a different file, so nothing comes from the cache).",
        "",
        *rows,
        "",
    ]
    a.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
