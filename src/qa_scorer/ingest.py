"""Find inputs and load transcripts (format v1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from pydantic import ValidationError

from qa_scorer.models import Transcript

TRANSCRIPT_SUFFIXES = {".json"}


class TranscriptError(Exception):
    """A transcript file that cannot be read; the message names the file and the JSON path."""

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


def _json_path(loc: Iterable[Any]) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def parse_transcript(data: Any, path: str | Path = "<memory>") -> Transcript:
    """Validate already-decoded JSON as a transcript v1, with errors naming the JSON path."""
    if not isinstance(data, dict):
        raise TranscriptError(path, "$: expected a JSON object with 'version', 'call_id' and 'segments'")
    try:
        return Transcript.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
            msgs.append(f"{_json_path(loc)}: {err['msg']}")
        raise TranscriptError(path, "; ".join(msgs)) from None


def load_transcript(path: str | Path) -> Transcript:
    """Read one transcript v1 JSON file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise TranscriptError(p, f"cannot read file: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise TranscriptError(p, f"not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise TranscriptError(p, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    return parse_transcript(data, p)


def find_transcripts(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and directories (recursively) into transcript files, sorted and unique."""
    found: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in TRANSCRIPT_SUFFIXES)
        else:
            files = [p]
        for f in files:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                found.append(f)
    return found
