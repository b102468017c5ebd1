#!/usr/bin/env python3
"""The written customer utterances of phone calls as a speech recogniser hears them.

    .venv/bin/python bench/asr_utterances.py [--max-n 1400] [--work DIR]

Writes bench/real/written-utterances-asr.jsonl (``{"n", "asr"}`` per line), which
``bench/train_models.py`` adds to the customer-side models' training data: real calls reach the
models through a recogniser, whose mistakes (homophones, dropped and merged syllables) are not a
writer's. Each phone-call utterance of bench/real/written-utterances.jsonl (n up to ``--max-n``)
is spoken by the offline voice of ../shared/tts/ (alternating its two derived customer voices,
8 kHz, a little noise; needs the voice's own environment, named by ``$QA_BENCH_TTS_PYTHON``,
default /tmp/tts-venv/bin/python) and transcribed with qa-scorer's own decoder
(``transcribe.engine.decode_batch``: Whisper base, beam 5, the default prompt): the clips are
packed, one second apart, into windows of at most 28 s by the same packing a call's speech
regions get (``transcribe.utterances.pack_windows``), and each word goes back to the clip its
time falls in. Rendering takes about 10 minutes and
transcribing about 15 on two cores; clips already rendered in ``--work`` are reused. The file in
the repository came from a run that also packed the agent utterances' clips into the same
windows (in the order of their names), so a run of this script gives a slightly different file:
a window's neighbouring clips change what the recogniser hears. Utterances the recogniser looped
on (3 of 603) are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "bench" / "real"
TTS = ROOT.parent / "shared" / "tts"
RENDER = """
import sys, json, pathlib
sys.path.insert(0, sys.argv[1])
import numpy as np, soundfile as sf
import zh_voice
out = pathlib.Path(sys.argv[2])
rng = np.random.default_rng(0)
for line in open(sys.argv[3], encoding="utf-8"):
    it = json.loads(line)
    p = out / f"c{it['n']}.wav"
    if p.exists():
        continue
    a = zh_voice.synthesize(it["text"], ["customer", "customer2"][it["n"] % 2], 8000)
    a = a + rng.normal(0, 0.003, len(a)).astype(np.float32)
    pad = np.zeros(2400, np.float32)
    sf.write(p, np.concatenate([pad, a, pad]), 8000, subtype="PCM_16")
"""
SR = 16000


def _load(path: Path) -> np.ndarray:
    from qa_scorer.ingest import decode_audio

    return decode_audio(path, SR)[0][: 27 * SR]  # as qa-scorer reads a recording (16 kHz)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-n", type=int, default=1400)
    ap.add_argument("--work", type=Path, default=Path("/tmp/qa-scorer-asr-utterances"))
    ap.add_argument("--out", type=Path, default=REAL / "written-utterances-asr.jsonl")
    args = ap.parse_args()
    rows = [json.loads(line) for line in (REAL / "written-utterances.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r["channel"] == "phone" and r["n"] <= args.max_n]
    args.work.mkdir(parents=True, exist_ok=True)
    todo = args.work / "todo.jsonl"
    todo.write_text("".join(json.dumps({"n": r["n"], "text": r["text"]}, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    python = os.environ.get("QA_BENCH_TTS_PYTHON", "/tmp/tts-venv/bin/python")
    subprocess.run([python, "-c", RENDER, str(TTS), str(args.work), str(todo)], check=True)

    from qa_scorer.normalize import to_simplified
    from qa_scorer.transcribe import engine
    from qa_scorer.transcribe.guard import has_loop
    from qa_scorer.transcribe.options import TranscribeOptions
    from qa_scorer.transcribe.utterances import pack_windows

    options = TranscribeOptions()
    model = engine.load_model(options)
    # every clip and a second of silence after it, one after another, packed into windows the
    # way a call's speech regions are; a word goes back to the clip its time falls in
    clips = [_load(args.work / f"c{r['n']}.wav") for r in rows]
    starts = np.cumsum([0] + [len(c) + SR for c in clips[:-1]]) / SR
    stream = np.concatenate([np.concatenate([c, np.zeros(SR, np.float32)]) for c in clips])
    regions = [(float(a), float(a) + len(c) / SR + 1.0) for a, c in zip(starts, clips)]
    windows = pack_windows([regions], [stream], 28.0)
    words: dict[int, list] = {r["n"]: [] for r in rows}
    for i in range(0, len(windows), 8):
        chunk = windows[i:i + 8]
        for window, decoded in zip(chunk, engine.decode_batch(model, [w.audio([stream]) for w in chunk], options)):
            for w in decoded.words:
                _, a, b = window.to_source(w.start, max(w.start, w.end))
                k = max(0, int(np.searchsorted(starts, (a + b) / 2, side="right")) - 1)
                words[rows[k]["n"]].append(w)
        print(f"{min(i + 8, len(windows))}/{len(windows)} windows", file=sys.stderr)
    # a clip the recogniser looped on is left out (qa-scorer's guard would decode it again)
    heard = {n: "" if has_loop(ws, options.max_repeats) else to_simplified("".join(w.word for w in ws).strip())
             for n, ws in words.items()}
    out = args.out
    out.write_text("".join(json.dumps({"n": n, "asr": heard[n]}, ensure_ascii=False) + "\n"
                           for n in sorted(heard) if heard[n]), encoding="utf-8")
    print(f"{out}: {sum(1 for n in heard if heard[n])} utterances")


if __name__ == "__main__":
    main()
