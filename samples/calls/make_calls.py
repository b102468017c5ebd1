#!/usr/bin/env python3
"""Render the sample calls in calls_script.py with the offline Mandarin voice.

Run with the voice's own environment (see samples/README.md):

    $TTS_VENV/bin/python samples/calls/make_calls.py --tts-dir ../shared/tts

For each call it writes ``src/<call_id>.json`` (transcript format v1; each segment's start and
end are the voiced extent measured from the rendered audio, so they are the ground truth for
timing checks) and ``<call_id>.wav`` (8 kHz stereo G.711 mu-law, agent left, customer right).
``--mono CALL_ID`` also writes ``<call_id>-mono.wav``, the two channels mixed into one.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
RATE = 8000
GAIN = 0.6       # same level as the voice tool's render_call.py
NOISE = 0.003    # line noise, same as render_call.py
FRAME = 80       # 10 ms at 8 kHz


def voiced_extent(audio: np.ndarray) -> tuple[int, int]:
    """First and last sample of the 10 ms frames that carry speech."""
    n = len(audio) // FRAME
    rms = np.sqrt((audio[: n * FRAME].reshape(n, FRAME) ** 2).mean(axis=1))
    idx = np.nonzero(rms > 0.02 * rms.max())[0]
    if len(idx) == 0:
        return 0, len(audio)
    return int(idx[0] * FRAME), int(min(len(audio), (idx[-1] + 1) * FRAME))


def render_call(call: dict, zh_voice) -> tuple[np.ndarray, dict]:
    voices = {"agent": "agent", "customer": "customer"}
    placed = []   # (channel, sample position, audio, voiced start s, voiced end s, speaker, text)
    prev_end = 0.0   # end of the previous segment
    all_end = 0.0    # end of everything said so far
    for speaker, text, *rest in call["segments"]:
        hints = rest[0] if rest else {}
        params = dict(zh_voice.VOICES[voices[speaker]])
        params["speed"] *= hints.get("speed", 1.0)
        audio = zh_voice.synthesize(text, params, RATE) * GAIN
        v0, v1 = voiced_extent(audio)
        if "overlap" in hints:
            start = prev_end - hints["overlap"]
        else:
            start = all_end + hints.get("gap", 0.6)
        pos = int(round(start * RATE)) - v0   # the voiced part begins at `start`
        t0 = (pos + v0) / RATE
        t1 = (pos + v1) / RATE
        placed.append((0 if speaker == "agent" else 1, pos, audio, t0, t1, speaker, text))
        prev_end = t1
        all_end = max(all_end, t1)
    n = max(p + len(a) for _, p, a, *_ in placed) + int(0.5 * RATE)
    out = np.zeros((n, 2), np.float32)
    for ch, pos, a, *_ in placed:
        out[pos:pos + len(a), ch] += a
    out += np.random.default_rng(0).normal(0, NOISE, out.shape).astype(np.float32)
    out = np.clip(out, -1, 1)
    doc = {
        "version": 1,
        "call_id": call["call_id"],
        "agent_id": call.get("agent_id", "unknown"),
        "channel": "phone",
        "started_at": call.get("started_at"),
        "audio": f"{call['call_id']}.wav",
        "segments": [
            {"speaker": sp, "text": tx, "start": round(t0, 2), "end": round(t1, 2)}
            for _, _, _, t0, t1, sp, tx in sorted(placed, key=lambda p: p[3])
        ],
        "metadata": {"source": "synthetic call rendered by samples/calls/make_calls.py with an offline voice; timings measured from the audio"},
    }
    return out, doc


def write_wav(path: pathlib.Path, audio: np.ndarray) -> None:
    import soundfile as sf
    sf.write(str(path), audio, RATE, subtype="ULAW")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tts-dir", default=str(HERE.parents[2] / "shared" / "tts"),
                    help="folder holding zh_voice.py (the offline voice)")
    ap.add_argument("--only", nargs="*", help="call ids to render (default: all)")
    ap.add_argument("--mono", default="c07_repair_booking", help="call id to also mix down to mono")
    a = ap.parse_args()
    sys.path.insert(0, a.tts_dir)
    import zh_voice  # noqa: E402  (lives outside the repo, with its own environment)

    sys.path.insert(0, str(HERE))
    from calls_script import CALLS  # noqa: E402

    (HERE / "src").mkdir(exist_ok=True)
    for call in CALLS:
        cid = call["call_id"]
        if a.only and cid not in a.only:
            continue
        audio, doc = render_call(call, zh_voice)
        write_wav(HERE / f"{cid}.wav", audio)
        (HERE / "src" / f"{cid}.json").write_text(
            json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        if cid == a.mono:
            write_wav(HERE / f"{cid}-mono.wav", audio.mean(axis=1))
        print(f"{cid}: {len(audio) / RATE:.1f} s, {len(doc['segments'])} segments", flush=True)


if __name__ == "__main__":
    main()
