"""Longer property-based fuzzing of the transcript loader (with scoring) and the manifest reader.

    .venv/bin/python bench/fuzz_inputs.py [--examples 5000] [--seed N]

The same properties as the short run in tests/test_hostile_inputs.py (see tests/fuzz_strategies.py):
any input ends in a result or a clear per-file error naming the file, within a time bound, never
another exception. Exits 1 and prints the smallest failing input when one is found.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from audio_helpers import write_pcm  # noqa: E402
from fuzz_strategies import check_manifest, check_transcript_file, manifest_text, transcript_bytes  # noqa: E402
from qa_scorer.rubric.loader import load_rubric  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=5000, help="examples per property")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one)")
    args = ap.parse_args()
    rubric = load_rubric(ROOT / "rubrics" / "default.yaml")
    config = settings(max_examples=args.examples, deadline=timedelta(seconds=5), database=None,
                      suppress_health_check=list(HealthCheck))

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_pcm(folder / "x.wav", np.zeros(800), 8000)

        @config
        @given(raw=transcript_bytes())
        def transcripts(raw: bytes) -> None:
            check_transcript_file(folder / "fuzz.json", raw, rubric)

        @config
        @given(text=manifest_text())
        def manifests(text: str) -> None:
            check_manifest(folder, text)

        failed = False
        for name, prop in (("transcript loader + scorer", transcripts), ("manifest reader", manifests)):
            if args.seed is not None:
                prop = seed(args.seed)(prop)
            t0 = time.perf_counter()
            try:
                prop()
            except Exception as exc:  # noqa: BLE001 - report and go on to the next property
                failed = True
                print(f"{name}: FAILED after {time.perf_counter() - t0:.0f} s: {type(exc).__name__}: {exc}")
            else:
                print(f"{name}: {args.examples} examples, no failure, {time.perf_counter() - t0:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
