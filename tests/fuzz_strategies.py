"""Hypothesis strategies and properties for the input fuzzing: transcript files and manifests.

Shared by tests/test_hostile_inputs.py (a short, fixed budget in CI) and bench/fuzz_inputs.py
(a longer run). The property in both: whatever the bytes, loading ends in a result or in a
clear per-file error naming the file, never another exception, and quickly.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from hypothesis import strategies as st

from qa_scorer.ingest import TranscriptError, discover_inputs, load_transcript
from qa_scorer.models import Transcript
from qa_scorer.score import has_speech, score_transcript

# Strings a telephony export or a hostile user may produce: CJK text, control characters, lone
# surrogates (as JSON escapes), markup, path tricks, very long runs.
ODD_STRINGS = ["", " ", "\n", "\t", "\x00", "\x1b[31m", "\ud800", "\udfff", "😀", "..", "../../etc/passwd",
               "/etc/passwd", "<script>alert(1)</script>", "您好，很高兴为您服务", "客服", "customer", "agent",
               "2024-05-14T09:00:00+08:00", "2024-13-45", "Z", "NaN", "\u202e", "a" * 300]
ODD_NUMBERS = [0, -1, 1.5, 1e308, -1e308, 1e-320, float("nan"), float("inf"), float("-inf"), 10**30, 2**63, True]

text = st.one_of(st.sampled_from(ODD_STRINGS), st.text(max_size=40),
                 st.text(alphabet=st.characters(codec=None, categories=["Cs", "Cc", "Lo"]), max_size=8))
number = st.one_of(st.sampled_from(ODD_NUMBERS), st.floats(allow_nan=True, allow_infinity=True),
                   st.integers(min_value=-(10**40), max_value=10**40))
scalar = st.one_of(st.none(), st.booleans(), number, text)
json_value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(text, inner, max_size=4)),
                          max_leaves=20)

# Mostly plausible values (so that many documents load and get scored), some hostile ones.
PHRASES = ["您好，很高兴为您服务", "请问有什么可以帮您？", "非常抱歉", "我要投诉", "你自己去查", "我保证明天到",
           "还有其他问题吗", "再见", "请您稍等", "谢谢您的耐心等待", "嗯", "滚筒洗衣机坏了", "你服务太好了", "。", ""]
good_text = st.one_of(st.sampled_from(PHRASES),
                      st.lists(st.sampled_from(PHRASES), max_size=4).map("".join),
                      st.text(alphabet="您好抱歉投诉保证的了吗，。？! abc123", max_size=30))
good_time = st.floats(min_value=0, max_value=7200, allow_nan=False)


good_word = st.fixed_dictionaries({"word": good_text, "start": good_time, "end": good_time},
                                  optional={"probability": st.floats(0, 1)})
good_segment = st.fixed_dictionaries(
    {"speaker": st.sampled_from(["agent", "customer", "客服", "客户", "Agent "]), "text": good_text},
    optional={"start": good_time, "end": good_time, "words": st.lists(good_word, max_size=3),
              "speaker_confidence": st.floats(0, 1)})
good_doc = st.fixed_dictionaries(
    {"version": st.just(1), "call_id": st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True),
     "segments": st.lists(good_segment, max_size=8)},
    optional={"agent_id": st.sampled_from(["A1", "张伟", "../A2<img>"]),
              "channel": st.sampled_from(["phone", "chat"]),
              "started_at": st.sampled_from(["2024-05-14", "2024-05-14T09:00:00+08:00", "2024-05-14T01:00:00Z"]),
              "metadata": st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), good_text), max_size=3)})
hostile = st.one_of(text, number, json_value)
TOP_KEYS = ["version", "call_id", "agent_id", "channel", "started_at", "audio", "segments", "metadata", "note"]
SEGMENT_KEYS = ["speaker", "text", "start", "end", "words", "speaker_confidence", "extra"]
WORD_KEYS = ["word", "start", "end", "probability"]


@st.composite
def transcript_doc(draw) -> dict:
    """A valid transcript with zero to three fields replaced by hostile values."""
    d = draw(good_doc)
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["top", "segment", "word"]))
        segs = d.get("segments") if isinstance(d.get("segments"), list) else []
        if where == "segment" and segs and isinstance(segs[0], dict):
            seg = segs[draw(st.integers(0, len(segs) - 1))]
            if isinstance(seg, dict):
                seg[draw(st.sampled_from(SEGMENT_KEYS))] = draw(hostile)
        elif where == "word" and segs and isinstance(segs[0], dict) and segs[0].get("words"):
            words = segs[0]["words"]
            if isinstance(words, list) and words and isinstance(words[0], dict):
                words[0][draw(st.sampled_from(WORD_KEYS))] = draw(hostile)
        else:
            d[draw(st.sampled_from(TOP_KEYS))] = draw(hostile)
    return d


@st.composite
def transcript_bytes(draw) -> bytes:
    """A transcript file's bytes: mostly well-formed JSON with hostile values, sometimes
    deeply nested, truncated, or arbitrary bytes."""
    kind = draw(st.sampled_from(["doc", "doc", "doc", "value", "nested", "truncated", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "nested":
        depth = draw(st.sampled_from([10, 63, 64, 65, 500, 5000, 50000]))
        inner = "[" * depth + "]" * depth
        return f'{{"version": 1, "call_id": "x", "segments": [], "metadata": {{"deep": {inner}}}}}'.encode()
    doc = draw(transcript_doc()) if kind in ("doc", "truncated") else draw(json_value)
    raw = json.dumps(doc, ensure_ascii=draw(st.booleans()), allow_nan=True).encode("utf-8", "surrogatepass")
    if kind == "truncated":
        raw = raw[: draw(st.integers(min_value=0, max_value=max(0, len(raw) - 1)))]
    return raw


def check_transcript_file(path: Path, raw: bytes, rubric=None, budget_s: float = 2.0) -> None:
    """Loading ends in a Transcript with finite numbers and valid text (which the rubric then
    scores), or a TranscriptError naming the file; and fast."""
    path.write_bytes(raw)
    t0 = time.perf_counter()
    try:
        t = load_transcript(path)
    except TranscriptError as exc:
        assert str(path) in str(exc) and exc.message
    else:
        assert isinstance(t, Transcript)
        t.model_dump_json().encode("utf-8")  # storable: valid Unicode, nothing refused by the history
        for s in t.segments:
            for x in (s.start, s.end, s.speaker_confidence):
                assert x is None or math.isfinite(x)
            for w in s.words or ():
                assert math.isfinite(w.start) and math.isfinite(w.end)
        if rubric is not None:
            card = score_transcript(t, rubric)
            assert math.isfinite(card.score) and card.no_speech == (not has_speech(t))
    assert time.perf_counter() - t0 < budget_s


# Manifests: header variants and cells with quotes, separators, line breaks and odd text.
cell = st.one_of(st.sampled_from(['"', '""', '"x', 'x"', "a,b", "a\nb", "\r", " ", "", "x.wav", "../x.wav",
                                  "/etc/passwd", "left", "middle", "2024-05-01", "2024-99-99", "\x00", "\ufeff"]),
                 st.text(max_size=12))
header = st.sampled_from(["call_id,agent_id,audio,started_at,agent_channel", "call_id,audio", "id,file", "",
                          'call_id,"audio', "call_id,agent_id,audio,started_at,agent_channel,queue"])
good_row = st.tuples(st.from_regex(r"C-[0-9]{1,3}", fullmatch=True), st.sampled_from(["A1", "A2", ""]),
                     st.sampled_from(["x.wav", "./x.wav", "y.wav"]),
                     st.sampled_from(["2024-05-01", "2024-05-01T10:00:00+08:00", ""]),
                     st.sampled_from(["left", "right", "auto", "mono", ""]))


@st.composite
def manifest_row(draw) -> list[str]:
    row = list(draw(good_row))
    for _ in range(draw(st.integers(0, 2))):  # zero to two hostile cells
        row[draw(st.integers(0, len(row) - 1))] = draw(cell)
    return row[: draw(st.integers(len(row) - 1, len(row)))] if draw(st.booleans()) else row


@st.composite
def manifest_text(draw) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=300))
    rows = draw(st.lists(st.one_of(manifest_row(), manifest_row(), st.lists(cell, max_size=7)), max_size=8))
    sep = draw(st.sampled_from(["\n", "\r\n"]))
    head = draw(st.one_of(st.just("call_id,agent_id,audio,started_at,agent_channel"), header))
    return head + sep + sep.join(",".join(r) for r in rows) + draw(st.sampled_from(["", sep]))


def check_manifest(folder: Path, text: str, budget_s: float = 2.0) -> None:
    """Reading a manifest ends in inputs and errors that name the manifest, never an exception."""
    m = folder / "manifest.csv"
    m.write_bytes(text.encode("utf-8", "surrogatepass"))
    t0 = time.perf_counter()
    inputs, errors = discover_inputs([], manifest=m)
    assert time.perf_counter() - t0 < budget_s
    for e in errors:
        assert e.path.startswith(str(m)) and e.message
    for inp in inputs:
        assert inp.path.resolve().is_relative_to(folder.resolve())
