"""A longer run of the rubric and scorer fuzz properties in tests/test_hostile_rubric.py.

    .venv/bin/python bench/fuzz_rubric.py [--examples 3000]

CI runs each property with a small fixed, derandomized budget; this runs the same properties
with random examples (``--examples`` per property, scaled down for the slow ones through
QA_SCORER_FUZZ_EXAMPLES) and appends the outcome to bench/RESULTS-fuzz.md. A failure shows
hypothesis's smallest failing example; the exit status is pytest's.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=3000)
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS-fuzz.md")))
    args = ap.parse_args()
    env = dict(os.environ, QA_SCORER_FUZZ_EXAMPLES=str(args.examples))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0",
                           "-k", "fuzz", str(ROOT / "tests" / "test_hostile_rubric.py")],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    print(proc.stdout[-6000:], proc.stderr[-2000:])
    rows = []
    for line in proc.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)s call\s+\S+::(test_fuzz_\w+)", line)
        if m:
            rows.append(f"| `{m.group(2)}` | {float(m.group(1)):.0f} |")
    summary = (proc.stdout.strip().splitlines() or ["?"])[-1]
    with open(args.out, "a", encoding="utf-8") as fh:
        fh.write(f"\n## {time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}, "
                 f"QA_SCORER_FUZZ_EXAMPLES={args.examples}: {summary} ({took:.0f} s)\n\n"
                 "| property | seconds |\n|---|---|\n" + "\n".join(sorted(rows)) + "\n")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
