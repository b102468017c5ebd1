"""Crosstalk suppression on stereo calls: how much of an echo it finds, how much real speech it takes.

    .venv/bin/python bench/bench_crosstalk.py            # writes bench/RESULTS-crosstalk.md (about a minute)

Each sample call (`samples/calls/`) and, when they can be rendered, the four longer calls of
`bench/long_calls.py` get each party's voice added to the other's channel in several ways (plain,
20 / 30 / 40 dB down and 30 ms late; telephone band, softly clipped, 18 dB down, 120 ms late, over
a noise floor 55 dB down). Against the scripts' timings: the share of the echo frames that are
audible (the other party speaking, this one not, the channel above a floor) that
`qa_scorer.transcribe.crosstalk.echo_frames` finds, and the share of each party's own speech
frames it takes (mean over calls and sides, and the worst). Then double talk: the agent of one
sample call over the customer of another, the customer quieter, with and without an echo.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from qa_scorer.ingest import decode_audio  # noqa: E402
from qa_scorer.transcribe.crosstalk import _levels, echo_frames  # noqa: E402

SR = 16000
KINDS = [
    ("none (the clean calls)", None),
    ("20 dB down, 30 ms late", (20, 0.03, False)),
    ("30 dB down, 30 ms late", (30, 0.03, False)),
    ("40 dB down, 30 ms late", (40, 0.03, False)),
    ("18 dB down, 120 ms late, telephone band, softly clipped, noise floor 55 dB down", (18, 0.12, True)),
]


def _band(x: np.ndarray) -> np.ndarray:
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / SR)
    spec[(f < 300) | (f > 3400)] = 0
    return np.fft.irfft(spec, len(x)).astype(np.float32)


def _echoed(left, right, kind, rng):
    if kind is None:
        return left, right
    db, delay, phone = kind
    g, d = 10 ** (-db / 20), int(delay * SR)

    def echo(x):
        x = _band(x) if phone else x
        e = g * np.concatenate([np.zeros(d, np.float32), x[:-d]])
        return np.tanh(3 * e) / 3 if phone else e

    out_l, out_r = left + echo(right), right + echo(left)
    if phone:
        out_l = out_l + rng.normal(0, 10 ** (-55 / 20), len(out_l)).astype(np.float32)
        out_r = out_r + rng.normal(0, 10 ** (-55 / 20), len(out_r)).astype(np.float32)
    return out_l, out_r


def _calls() -> list[tuple[str, Path, list[dict]]]:
    calls = []
    for wav in sorted((ROOT / "samples" / "calls").glob("c0*.wav")):
        if not wav.stem.endswith("-mono"):
            src = ROOT / "samples" / "calls" / "src" / f"{wav.stem}.json"
            calls.append((wav.stem, wav, json.loads(src.read_text(encoding="utf-8"))["segments"]))
    try:
        from long_calls import render_all

        for js, wav in render_all(4):
            calls.append((js.stem, wav, json.loads(js.read_text(encoding="utf-8"))["segments"]))
    except SystemExit as exc:  # the offline voice is not installed: sample calls only
        print(f"longer calls left out: {exc}")
    return calls


def main() -> None:
    started = time.time()
    rng = np.random.default_rng(0)
    calls = _calls()
    rows = []
    for label, kind in KINDS:
        found, taken = [], []
        for _, wav, segs in calls:
            left, right = _echoed(*decode_audio(wav), kind, rng)
            chans = (left, right)
            for k, (own, other) in enumerate((("agent", "customer"), ("customer", "agent"))):
                mask = echo_frames(chans[k], chans[1 - k])
                n = len(mask)
                on = {who: np.zeros(n, dtype=bool) for who in ("agent", "customer")}
                for s in segs:
                    on[s["speaker"]][int(s["start"] * 100):int(s["end"] * 100)] = True
                floor = -45 if kind and kind[2] else -70
                audible = on[other] & ~on[own] & (_levels(chans[k])[:n] > floor)
                if kind is not None and audible.any():
                    found.append(mask[audible].mean())
                taken.append(mask[on[own]].mean())
        rows.append((label, np.mean(found) if found else None, np.mean(taken), max(taken)))
    # Double talk: the agent of one sample call over the customer of another (independent speech),
    # the customer 0-20 dB below the agent, without and with an echo of the agent on the
    # customer's channel; the customer's voice counted where it is above the echo and within 20 dB
    # of its own loud frames.
    samples = [(decode_audio(wav)) for _, wav, _ in calls[:8]]
    talk = []
    for echo_db in (None, 20, 25, 30):
        for gap in (0, 10, 15, 20):
            taken = total = echo_found = echo_all = 0
            for i, (agent, _) in enumerate(samples):
                for j, (_, cust) in enumerate(samples):
                    if i == j:
                        continue
                    n = min(len(agent), len(cust))
                    c = cust[:n] * 10 ** (-gap / 20)
                    e = (np.zeros(n, np.float32) if echo_db is None else
                         10 ** (-echo_db / 20) * np.concatenate([np.zeros(480, np.float32), agent[:n - 480]]))
                    mask = echo_frames(c + e + rng.normal(0, 1e-3, n).astype(np.float32),
                                       agent[:n] + rng.normal(0, 1e-3, n).astype(np.float32))
                    k = len(mask)
                    lc, le, la = _levels(c)[:k], _levels(e)[:k], _levels(agent[:n])[:k]
                    voice = (lc > le + 3) & (lc > np.percentile(lc[lc > -60], 95) - 20) & (la > -50)
                    total += voice.sum()
                    taken += mask[voice].sum()
                    only = (le > -60) & (lc < le - 10)
                    echo_all += only.sum()
                    echo_found += mask[only].sum()
            talk.append((echo_db, gap, taken / max(total, 1), total / 100, echo_found / echo_all if echo_all else None))
    lines = [
        "# Crosstalk suppression",
        "",
        f"Written by `bench/bench_crosstalk.py` on {time.strftime('%Y-%m-%d %H:%M')} ({time.time() - started:.0f} s): "
        f"{len(calls)} stereo calls, each party added to the other's channel as below; frames of 10 ms against the "
        "scripts' timings.",
        "",
        "| echo | audible echo frames found | own speech frames taken: mean | worst side of a call |",
        "|---|---|---|---|",
    ]
    for label, f, mean, worst in rows:
        lines.append(f"| {label} | {'–' if f is None else f'{100 * f:.1f} %'} | {100 * mean:.2f} % | {100 * worst:.2f} % |")
    lines += [
        "",
        "Double talk: the agent of one sample call over the customer of another (56 pairs), the customer "
        "below the agent as given, with and without an echo of the agent on the customer's channel (30 ms late). "
        "The customer's voice is counted where it is above the echo, within 20 dB of its own loud frames, while "
        "the agent talks.",
        "",
        "| echo of the agent | customer below the agent | customer's voice taken | of (s) | echo found |",
        "|---|---|---|---|---|",
    ]
    for echo_db, gap, share, seconds, found in talk:
        lines.append(f"| {'none' if echo_db is None else f'{echo_db} dB down'} | {gap} dB | {100 * share:.2f} % | "
                     f"{seconds:.0f} | {'–' if found is None else f'{100 * found:.1f} %'} |")
    out = ROOT / "bench" / "RESULTS-crosstalk.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
