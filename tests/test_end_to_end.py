"""End to end on the sample recordings: `qa-scorer score` on the stereo audio gives the same item
results as scoring the transcripts the audio was rendered from, for every item the audio can
carry. Where ASR loses the words an item depends on, the difference is listed below with the
reason, and the test fails if any other item differs (or if a listed one stops differing, so
the list stays true)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa_scorer.cli import app
from qa_scorer.ingest import load_transcript
from qa_scorer.score import score_transcript

ROOT = Path(__file__).resolve().parents[1]
CALLS = ROOT / "samples" / "calls"

# (call, item): why the audio's result differs from the source transcript's.
ASR_LIMITS = {
    ("c07_repair_booking", "apology"): (
        "Whisper base hears the customer's 热水器不出热水了 as 认识 记不出认识轮, so no problem "
        "is reported in the audio's transcript and the apology item is na instead of pass"),
}


# Calls whose speech is too fast for Whisper base to decode without falling back to sampling:
# their transcript (and so the items judged on its wording) can change from run to run. They are
# still transcribed and scored; only the exact comparison skips them.
SAMPLED = {"c05_warranty_fast"}


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    stereo = sorted(p for p in CALLS.glob("*.wav") if not p.stem.endswith("-mono"))
    res = CliRunner().invoke(app, ["score", *map(str, stereo), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "坐席声道可能有误" not in res.output  # the agent is on the left, as given
    return out, [p.stem for p in stereo]


def test_audio_scores_like_its_source_transcript(scored, default_rubric):
    out, calls = scored
    assert len(calls) >= 8
    differences = {}
    for call_id in calls:
        if call_id in SAMPLED:
            card = json.loads((out / "scorecards" / f"{call_id}.json").read_text(encoding="utf-8"))
            assert card["items"], call_id
            continue
        card = json.loads((out / "scorecards" / f"{call_id}.json").read_text(encoding="utf-8"))
        source = score_transcript(load_transcript(CALLS / "src" / f"{call_id}.json"), default_rubric)
        for item, want in zip(card["items"], source.items):
            assert item["id"] == want.id
            if item["status"] != want.status:
                differences[(call_id, item["id"])] = f"audio {item['status']}, source {want.status}: {item['reason']}"
    unexpected = {k: v for k, v in differences.items() if k not in ASR_LIMITS}
    assert not unexpected, unexpected
    assert set(differences) == set(ASR_LIMITS), "a listed ASR limit no longer differs; update ASR_LIMITS"


def test_reports_play_the_recordings(scored):
    out, calls = scored
    page = (out / "calls" / f"{calls[0]}.html").read_text(encoding="utf-8")
    assert "<audio" in page
    assert any((out / "audio").glob(f"{calls[0]}*"))


def test_rescoring_with_an_edited_rubric_does_not_transcribe_again(scored, tmp_path):
    from qa_scorer import transcribe as tr

    out, calls = scored
    rubric = tmp_path / "r.yaml"
    rubric.write_text((ROOT / "rubrics" / "default.yaml").read_text(encoding="utf-8").replace(
        "points: 10", "points: 15", 1), encoding="utf-8")
    before = tr.STATS["model_runs"]
    res = CliRunner().invoke(app, ["score", str(CALLS / f"{calls[0]}.wav"), "--rubric", str(rubric),
                                   "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert tr.STATS["model_runs"] == before


def test_a_call_with_its_channels_swapped_is_named_in_a_warning(tmp_path):
    """Scored with the default agent channel (left), a recording whose customer is on the left is
    named in a warning that says which channel sounds like the agent and how to say so."""
    import numpy as np
    from audio_helpers import write_pcm

    from qa_scorer.ingest import decode_audio

    left, right = decode_audio(CALLS / "c07_repair_booking.wav")
    swapped = write_pcm(tmp_path / "swapped.wav", np.stack([right, left]), 16000)
    res = CliRunner().invoke(app, ["score", str(swapped), "--out", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "1 call(s) may have been judged on the wrong sides (坐席声道可能有误" in res.output
    assert "swapped: the right channel sounds like the agent, not the left one" in res.output
    assert "--agent-channel auto" in res.output
    kept = json.loads((tmp_path / "out" / "transcripts" / "swapped.json").read_text(encoding="utf-8"))
    assert "the right channel sounds like the agent" in kept["metadata"]["roles"]["doubt"]
