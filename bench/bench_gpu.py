#!/usr/bin/env python3
"""Batched transcription throughput and accuracy on a CUDA GPU; writes bench/RESULTS-gpu.md.

    .venv/bin/python bench/bench_gpu.py [--calls 300] [--extra DIR] [--batch-size 16]

Never run by the tests. Needs a CUDA device that CTranslate2 sees (it stops with a message
otherwise). Input: the sample calls (`samples/calls/`) and, with ``--extra DIR``, the longer calls
rendered by `bench/long_calls.py` (``DIR`` holds ``<id>.json`` + ``<id>.wav`` pairs). To reach
``--calls`` recordings, each source call is written again with a small gain change and a little
noise (a different file, so nothing comes from the cache, and the decoder sees different audio);
the script it was rendered from stays its ground truth.

Measured: qa-scorer's `transcribe_batch` (device cuda, float16, the default options otherwise)
over all the calls, wall clock from the first call to the last, model load apart; × real time;
character error rate in time order and per side; and, for reference, bare faster-whisper on the
GPU (beam 5, VAD filter) on the first 20 mono mixdowns.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--extra", type=Path, default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--compute-type", default="float16")
    a = ap.parse_args()

    import ctranslate2

    if ctranslate2.get_cuda_device_count() < 1:
        raise SystemExit("bench_gpu: no CUDA device visible to CTranslate2; run this on a GPU machine")
    from bench_asr import edits, norm

    from qa_scorer import transcribe as tr
    from qa_scorer.ingest import CallInput, decode_audio, probe_duration

    src = sources(a.extra)
    rng = np.random.default_rng(7)
    truth: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        inputs = []
        for i in range(a.calls):
            cid, wav, ref = src[i % len(src)]
            left, right = decode_audio(wav, 8000)
            g = float(rng.uniform(0.8, 1.2))
            noisy = [np.clip(c * g + rng.normal(0, 0.002, c.shape), -1, 1).astype(np.float32) for c in (left, right)]
            name = f"{i:04d}_{cid}"
            inputs.append(CallInput(path=write_wav(tmp / f"{name}.wav", noisy, 8000), kind="audio", call_id=name))
            truth[name] = ref
        audio_s = sum(probe_duration(i.path) or 0 for i in inputs)
        opts = tr.TranscribeOptions(device="cuda", compute_type=a.compute_type, batch_size=a.batch_size)
        t0 = time.perf_counter()
        tr.load_model(opts)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        done, errors = tr.transcribe_batch(inputs, opts, tmp / "cache", progress=False)
        wall = time.perf_counter() - t0
        e = n = es = ns = 0
        for inp, t in done:
            ref = truth[inp.call_id]
            r = norm("".join(s["text"] for s in sorted(ref, key=lambda s: s["start"])))
            e += edits(r, norm("".join(s.text for s in t.segments)))
            n += len(r)
            for side in ("agent", "customer"):
                rs = norm("".join(s["text"] for s in ref if s["speaker"] == side))
                es += edits(rs, norm("".join(s.text for s in t.segments if s.speaker == side)))
                ns += len(rs)

        # Bare faster-whisper on the GPU, for reference: the first 20 calls' mono mixdowns.
        from faster_whisper import WhisperModel

        bare = WhisperModel(tr.resolve_model("base"), device="cuda", compute_type=a.compute_type)
        subset = inputs[:20]
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

    import faster_whisper

    lines = [
        "# Transcription on a GPU",
        "",
        f"Written by `bench/bench_gpu.py` on {time.strftime('%Y-%m-%d %H:%M')}: {ctranslate2.get_cuda_device_count()} "
        f"CUDA device(s), {os.cpu_count()} CPU cores, faster-whisper {faster_whisper.__version__}, CTranslate2 "
        f"{ctranslate2.__version__}, Whisper base {a.compute_type}, batch size {a.batch_size}.",
        "",
        f"- qa-scorer `transcribe_batch`, {len(inputs)} stereo calls ({len(src)} distinct scripts, each copy with "
        f"its own gain and noise), {audio_s:.0f} s of audio: **{audio_s / wall:.0f}× real time** "
        f"({wall:.1f} s wall, model load {load_s:.1f} s apart; {len(errors)} failed).",
        f"- Character error rate: **{e / max(1, n) * 100:.1f}%** in time order, {es / max(1, ns) * 100:.1f}% per side.",
        f"- Bare faster-whisper on the same GPU (beam 5, VAD filter, mono mixdowns of the first {len(subset)} calls, "
        f"{bare_audio:.0f} s): {bare_audio / bare_wall:.0f}× real time.",
        "",
    ]
    (ROOT / "bench" / "RESULTS-gpu.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
