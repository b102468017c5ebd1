"""Reader for the golden fixture format (see tests/golden/README.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from qa_scorer.models import Transcript

_SPEAKERS = {"a": "agent", "agent": "agent", "c": "customer", "customer": "customer"}
_LINE = re.compile(r"^(?P<who>\w+)(?:\s+(?P<start>[\d.]+)\s+(?P<end>[\d.]+))?\s*\|\s*(?P<rest>.*)$")
_MARK = re.compile(r"\s+([+-][a-z_]+)")


@dataclass
class Case:
    file: str
    name: str
    line: int
    transcript: Transcript
    expect: dict[str, str] = field(default_factory=dict)
    must: list[tuple[int, str]] = field(default_factory=list)  # (segment index, item)
    must_not: list[tuple[int, str]] = field(default_factory=list)


def read_cases(path: Path) -> list[Case]:
    cases: list[Case] = []
    raw: dict | None = None

    def close():
        if raw is not None:
            t = Transcript(version=1, call_id=raw["name"], agent_id="golden",
                           segments=raw["segments"], **raw["fields"])
            cases.append(Case(path.name, raw["name"], raw["line"], t, raw["expect"], raw["must"], raw["must_not"]))

    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("## case "):
            close()
            raw = {"name": line[8:].strip(), "line": n, "segments": [], "fields": {},
                   "expect": {}, "must": [], "must_not": []}
            continue
        assert raw is not None, f"{path}:{n}: line outside a case"
        if line.startswith("@ "):
            for kv in line[2:].split():
                k, v = kv.split("=", 1)
                raw["fields"][k] = v
        elif line.startswith("= "):
            item, status = line[2:].split()
            raw["expect"][item] = status
        else:
            m = _LINE.match(line)
            assert m, f"{path}:{n}: cannot read {line!r}"
            rest = m["rest"]
            marks = _MARK.findall(rest)
            text = _MARK.sub("", rest).strip()
            seg = {"speaker": _SPEAKERS[m["who"]], "text": text}
            if m["start"] is not None:
                seg["start"], seg["end"] = float(m["start"]), float(m["end"])
            index = len(raw["segments"])
            raw["segments"].append(seg)
            for mark in marks:
                (raw["must"] if mark[0] == "+" else raw["must_not"]).append((index, mark[1:]))
    close()
    return cases
