"""The batch job behind ``qa-scorer score``: inputs → transcripts → scorecards → files.

Every stage is called from here in order; a bad input is recorded as an error and the batch
goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from qa_scorer.ingest import TranscriptError, find_transcripts, load_transcript
from qa_scorer.models import InputError, Scorecard, Transcript
from qa_scorer.rubric.registry import Rubric
from qa_scorer.score import score_transcript


@dataclass
class ScoredCall:
    transcript: Transcript
    scorecard: Scorecard
    source: str


@dataclass
class BatchResult:
    calls: list[ScoredCall] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)

    @property
    def scorecards(self) -> list[Scorecard]:
        return [c.scorecard for c in self.calls]


def score_transcript_files(
    paths: Iterable[str | Path],
    rubric: Rubric,
    *,
    on_progress: Optional[Callable[[int, int], None]] = None,
) -> BatchResult:
    """Load and score transcript files (directories are searched recursively)."""
    result = BatchResult()
    files = find_transcripts(paths)
    for n, path in enumerate(files, 1):
        try:
            transcript = load_transcript(path)
        except TranscriptError as exc:
            result.errors.append(InputError(path=exc.path, message=exc.message))
        else:
            card = score_transcript(transcript, rubric, source=str(path))
            result.calls.append(ScoredCall(transcript, card, str(path)))
        if on_progress:
            on_progress(n, len(files))
    return result


def write_json(cards: list[Scorecard], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [c.model_dump(mode="json") for c in cards]
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def _file_stem(call_id: str) -> str:
    import hashlib
    import re

    stem = re.sub(r"[^\w.-]+", "_", call_id).strip("._") or "call"
    if stem != call_id:
        stem = f"{stem[:80]}-{hashlib.sha1(call_id.encode('utf-8')).hexdigest()[:8]}"
    return stem


def write_scorecards(calls: list[ScoredCall], out_dir: Path) -> None:
    """One JSON scorecard per call under out_dir/scorecards/."""
    folder = Path(out_dir) / "scorecards"
    folder.mkdir(parents=True, exist_ok=True)
    for c in calls:
        path = folder / f"{_file_stem(c.scorecard.call_id)}.json"
        path.write_text(c.scorecard.model_dump_json(indent=1), encoding="utf-8")
