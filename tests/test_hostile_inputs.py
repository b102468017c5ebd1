"""Hostile and broken inputs: nothing read or written outside its place, nothing a user keeps
is lost, every bad input is a per-file error naming the file, and the rest of the batch is done.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from audio_helpers import write_pcm
from conftest_reports import Call, calls, history, write_wav  # noqa: F401 (fixtures)
from fuzz_strategies import check_manifest, check_transcript_file, manifest_text, transcript_bytes
from qa_scorer.cli import app
from qa_scorer.ingest import TranscriptError, decode_audio, discover_inputs, load_transcript
from qa_scorer.outputs import MANIFEST_NAME, temp_path
from qa_scorer.report import render_reports, safe_name
from qa_scorer.store import History

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "transcripts"
runner = CliRunner()


GOOD = {"version": 1, "call_id": "good-1", "agent_id": "A1", "started_at": "2026-11-02T10:15:00+08:00",
        "segments": [{"speaker": "agent", "text": "您好，很高兴为您服务，请问有什么可以帮您？", "start": 0.4, "end": 3.1},
                     {"speaker": "customer", "text": "我买的洗衣机坏了。", "start": 3.6, "end": 5.2},
                     {"speaker": "agent", "text": "非常抱歉，请问还有其他问题吗？感谢您的来电，再见。", "start": 5.6, "end": 9.0}]}


def doc(**changes) -> dict:
    d = json.loads(json.dumps(GOOD))
    d.update(changes)
    return d


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def score(*args: str):
    return runner.invoke(app, ["score", *map(str, args), "-q"])


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")} if folder.exists() else set()


def html_pages(out: Path) -> list[Path]:
    return list(out.rglob("*.html"))


# -- 1. a transcript's audio never brings in a file from outside --------------------------------


@pytest.mark.parametrize("ref", ["/etc/passwd", "../" * 16 + "etc/group", "/proc/version", "/dev/zero"])
def test_audio_field_naming_a_local_file_is_never_copied_linked_or_played(tmp_path: Path, ref: str) -> None:
    inputs = tmp_path / "in"
    write_json(inputs / "t.json", doc(call_id="c-1", audio=ref))
    out = tmp_path / "out"
    res = score(inputs, "--out", out)
    assert res.exit_code == 1, res.output
    assert "t.json" in res.output and "$.audio" in res.output and "outside the input folders" in res.output
    assert (out / "calls" / "c-1.html").is_file()  # the call is still scored
    res = runner.invoke(app, ["report", "--out", str(out), "--agent-bundles"])
    assert res.exit_code == 0, res.output
    target = Path(ref) if ref.startswith("/") else (inputs / ref).resolve()
    target_ino = os.stat(target).st_ino
    for p in out.rglob("*"):
        assert not p.is_symlink(), p
        if p.is_file():
            assert os.stat(p).st_ino != target_ino, p
    assert not list(out.rglob("audio/*"))
    for page in html_pages(out):
        assert "<audio" not in page.read_text(encoding="utf-8"), page
    stored = json.loads((out / "transcripts" / "c-1.json").read_text(encoding="utf-8"))
    assert "audio" not in stored and stored["metadata"]["audio_refused"]["path"] == ref


def test_a_recording_beside_its_transcript_is_still_played(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    write_wav(inputs / "rec" / "c-1.wav", seconds=1)
    t = write_json(inputs / "t.json", doc(call_id="c-1", audio="rec/c-1.wav"))
    out = tmp_path / "out"
    res = score(t, "--out", out)
    assert res.exit_code == 0, res.output
    assert (out / "audio" / "c-1.wav").read_bytes()[:4] == b"RIFF"
    assert "<audio" in (out / "calls" / "c-1.html").read_text(encoding="utf-8")


def test_a_media_root_lets_recordings_come_from_another_folder(tmp_path: Path) -> None:
    media = tmp_path / "recordings"
    write_wav(media / "c-1.wav", seconds=1)
    write_json(tmp_path / "in" / "t.json", doc(call_id="c-1", audio=str(media / "c-1.wav")))
    res = score(tmp_path / "in", "--out", tmp_path / "refused")
    assert res.exit_code == 1 and "--media-root" in res.output
    res = score(tmp_path / "in", "--out", tmp_path / "out", "--media-root", media)
    assert res.exit_code == 0, res.output
    assert "<audio" in (tmp_path / "out" / "calls" / "c-1.html").read_text(encoding="utf-8")
    # Re-rendered later, the recording checked when the call was scored is still used.
    res = runner.invoke(app, ["report", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0 and "<audio" in (tmp_path / "out" / "calls" / "c-1.html").read_text(encoding="utf-8")


def test_a_corrected_transcript_scored_again_keeps_its_checked_recording(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    rec = write_wav(inputs / "c-1.wav", seconds=1)
    write_json(inputs / "t.json", doc(call_id="c-1", audio=str(rec)))
    out = tmp_path / "out"
    assert score(inputs / "t.json", "--out", out).exit_code == 0
    written = out / "transcripts" / "c-1.json"  # names the recording outside its own folder
    res = score(written, "--out", out)
    assert res.exit_code == 0, res.output
    assert "<audio" in (out / "calls" / "c-1.html").read_text(encoding="utf-8")
    # Another call's transcript cannot borrow that recording.
    write_json(tmp_path / "other" / "t.json", doc(call_id="c-2", audio=str(rec)))
    assert score(tmp_path / "other" / "t.json", "--out", out).exit_code == 1


def test_a_symlink_in_the_input_folder_that_leads_out_is_not_followed(tmp_path: Path) -> None:
    secret = write_wav(tmp_path / "elsewhere" / "secret.wav", seconds=1)
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "link.wav").symlink_to(Path("..") / "elsewhere" / "secret.wav")
    write_json(inputs / "t.json", doc(call_id="c-1", audio="link.wav"))
    out = tmp_path / "out"
    res = score(inputs / "t.json", "--out", out)
    assert res.exit_code == 1 and "through a symbolic link" in res.output, res.output
    assert not (out / "audio").exists()
    assert secret.read_bytes()[:4] == b"RIFF"


def test_a_stored_call_naming_a_file_outside_is_refused_when_rendered(tmp_path: Path, calls: dict[str, Call]) -> None:
    c = calls["audio"]
    with History(tmp_path / "h.sqlite") as h:
        h.record(c.transcript.model_copy(update={"audio": "/etc/passwd"}),
                 c.scorecard.model_copy(update={"audio": "/etc/passwd"}), source=c.source)
        summary = render_reports(h, tmp_path / "out", agent_bundles=True)
    assert summary.audio_files == 0 and len(summary.refused_audio) == 1
    page = (tmp_path / "out" / "calls" / f"{safe_name(c.transcript.call_id)}.html").read_text(encoding="utf-8")
    assert "<audio" not in page and 'id="audio-refused"' in page
    assert not (tmp_path / "out" / "audio").exists()


# -- 2. recording symlinks ----------------------------------------------------------------------


def test_a_relative_recording_symlink_never_makes_score_write_outside_out(tmp_path: Path) -> None:
    """An earlier version hard-linked the symlink itself into audio/ and then copied through it."""
    secret = write_wav(tmp_path / "secret.wav", seconds=1)
    before = secret.read_bytes()
    inputs = tmp_path / "in"
    write_wav(inputs / "real" / "c-1.wav", seconds=2)
    (inputs / "c-1.wav").symlink_to(Path("real") / "c-1.wav")  # relative, stays inside
    t = write_json(inputs / "t.json", doc(call_id="c-1", audio="c-1.wav"))
    out = tmp_path / "out"
    # What an earlier run left behind: a relative link in audio/ pointing out of the folder.
    (out / "audio").mkdir(parents=True)
    (out / "audio" / "c-1.wav").symlink_to(Path("..") / ".." / "secret.wav")
    outside = files_under(tmp_path) - files_under(out)
    res = score(t, "--out", out)
    assert res.exit_code == 0, res.output
    assert files_under(tmp_path) - files_under(out) == outside  # nothing new outside --out
    assert secret.read_bytes() == before  # nothing written through the planted link
    copy = out / "audio" / "c-1.wav"
    assert not copy.is_symlink() and copy.read_bytes() == (inputs / "real" / "c-1.wav").read_bytes()


def test_a_symlinked_recording_found_in_a_folder_must_stay_inside_it(tmp_path: Path) -> None:
    write_wav(tmp_path / "outside.wav", seconds=1)
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "leak.wav").symlink_to(Path("..") / "outside.wav")
    inputs_found, errors = discover_inputs([inputs])
    assert inputs_found == []
    assert [Path(e.path).name for e in errors] == ["leak.wav"] and "outside the input folder" in errors[0].message


def test_a_dangling_symlink_is_a_per_file_error_and_later_runs_still_work(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "dead.wav").symlink_to("nowhere/gone.wav")
    write_json(inputs / "t.json", doc(call_id="c-1", audio="dead.wav"))
    write_json(inputs / "u.json", doc(call_id="c-2"))
    out = tmp_path / "out"
    for _ in range(2):
        res = score(inputs, "--out", out)
        assert res.exit_code == 1, res.output
        assert "dead.wav" in res.output and "dangling symbolic link" in res.output
        assert res.exception is None or isinstance(res.exception, SystemExit)
    res = runner.invoke(app, ["report", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "calls" / "c-1.html").is_file() and (out / "calls" / "c-2.html").is_file()


# -- 3. files a user keeps in --out -------------------------------------------------------------


@pytest.mark.slow
def test_files_a_user_keeps_in_out_survive_the_next_score(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = sorted(SAMPLES.glob("*.json"))[:3]
    assert score(*first, "--out", out).exit_code == 0
    mine = {out / "audio" / "recording-0001.wav": b"RIFF mine", out / "agents" / "notes" / "todo.txt": b"todo",
            out / "calls" / "mine.html": b"<p>mine</p>", out / "agents" / safe_name("A1001") / "notes.txt": b"x"}
    for path, data in mine.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for _ in range(2):
        assert score(sorted(SAMPLES.glob("*.json"))[3], "--out", out).exit_code == 0
        assert runner.invoke(app, ["report", "--out", str(out), "--agent-bundles"]).exit_code == 0
    for path, data in mine.items():
        assert path.read_bytes() == data, path
    owned = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))["files"]
    assert "calls/mine.html" not in owned and "index.html" in owned
    assert all((out / f).is_file() for f in owned)


def test_pruning_removes_only_stale_files_qa_scorer_wrote(tmp_path: Path, history: History,
                                                          calls: dict[str, Call]) -> None:
    out = tmp_path / "out"
    render_reports(history, out)
    folder = out / "agents" / safe_name("A001")
    (folder / "calls" / "keep.txt").write_text("mine", encoding="utf-8")
    c = calls["good"]
    history.record(c.transcript.model_copy(update={"agent_id": "A002"}),
                   c.scorecard.model_copy(update={"agent_id": "A002"}))
    render_reports(history, out)
    assert not (folder / "calls" / f"{safe_name(c.transcript.call_id)}.html").exists()  # stale: pruned
    assert (folder / "calls" / "keep.txt").read_text(encoding="utf-8") == "mine"


# -- 4. numbers that are not finite -------------------------------------------------------------


NAN_CASES = [
    ('"words": [{"word": "您好", "start": NaN, "end": 0.5}]', "$.segments[0].words[0].start"),
    ('"words": [{"word": "您好", "start": 0.1, "end": Infinity}]', "$.segments[0].words[0].end"),
    ('"words": [{"word": "您好", "start": 0.1, "end": 0.5, "probability": NaN}]', "$.segments[0].words[0].probability"),
    ('"start": -Infinity', "$.segments[0].start"),
    ('"end": 1e999', "$.segments[0].end"),
    ('"speaker_confidence": NaN', "$.segments[0].speaker_confidence"),
]


@pytest.mark.parametrize("field, where", NAN_CASES)
def test_non_finite_numbers_are_refused_with_file_and_json_path(tmp_path: Path, field: str, where: str) -> None:
    p = write_json(tmp_path / "nan.json", '{"version": 1, "call_id": "x", "segments": '
                                          f'[{{"speaker": "agent", "text": "您好", {field}}}]}}')
    with pytest.raises(TranscriptError) as exc:
        load_transcript(p)
    assert str(p) in str(exc.value) and where in str(exc.value) and "finite" in str(exc.value)


@pytest.mark.parametrize("raw, where", [
    ('"metadata": {"asr": {"duration": NaN}}', "$.metadata.asr.duration"),
    ('"extra": [1, {"x": Infinity}]', "$.extra[1].x"),
])
def test_non_finite_numbers_in_free_form_fields_are_refused(tmp_path: Path, raw: str, where: str) -> None:
    p = write_json(tmp_path / "nan.json", f'{{"version": 1, "call_id": "x", "segments": [], {raw}}}')
    with pytest.raises(TranscriptError) as exc:
        load_transcript(p)
    assert where in str(exc.value)


def test_the_history_never_holds_a_non_finite_number(tmp_path: Path, calls: dict[str, Call]) -> None:
    c = calls["good"]
    card = c.scorecard.model_copy(update={"score": float("nan")})
    with History(tmp_path / "h.sqlite") as h:
        with pytest.raises(ValueError, match="C20240506-001.*not a finite number"):
            h.record(c.transcript, card)
        items = [i.model_copy(update={"weight": float("inf")}) for i in c.scorecard.items]
        with pytest.raises(ValueError, match="finite"):
            h.record(c.transcript, c.scorecard.model_copy(update={"items": items}))
        assert h.count() == 0


def test_the_history_lists_a_call_it_cannot_read_back_and_returns_the_rest(history: History) -> None:
    before = len(history.calls())
    history._db.execute("UPDATE calls SET scorecard = '{\"score\": null}' WHERE call_id = 'C20240506-001'")
    assert len(history.calls()) == before - 1
    assert list(history.unreadable) == ["C20240506-001"]
    assert "cannot be read back" in history.unreadable["C20240506-001"]


def test_a_stored_call_that_cannot_be_read_back_is_named_and_the_rest_render(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert score(*sorted(SAMPLES.glob("*.json"))[:3], "--out", out).exit_code == 0
    db = sqlite3.connect(out / "qa.sqlite")
    (bad_id,) = db.execute("SELECT call_id FROM calls ORDER BY call_id LIMIT 1").fetchone()
    db.execute("UPDATE calls SET transcript = ? WHERE call_id = ?",  # what an older version let in
               ('{"version": 1, "call_id": "%s", "segments": [{"speaker": "agent", "text": "x", "start": NaN}]}'
                % bad_id, bad_id))
    db.commit()
    db.close()
    for args in (["report", "--out", str(out)], ["export", "--out", str(tmp_path / "csv"), "--db", str(out / "qa.sqlite")]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        assert bad_id in res.output and "cannot be read back" in res.output
    res = score(sorted(SAMPLES.glob("*.json"))[3], "--out", out)
    assert res.exit_code == 0 and bad_id in res.output
    index = (out / "index.html").read_text(encoding="utf-8")
    for f in sorted(SAMPLES.glob("*.json"))[1:4]:
        assert json.loads(f.read_text(encoding="utf-8"))["call_id"] in index


# -- 5. one call, two inputs --------------------------------------------------------------------


def test_one_call_id_in_two_files_is_an_error_naming_both(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    a = write_json(inputs / "a.json", doc(call_id="same", agent_id="A1"))
    b = write_json(inputs / "b.json", doc(call_id="same", agent_id="A2"))
    write_json(inputs / "c.json", doc(call_id="other"))
    out = tmp_path / "out"
    res = runner.invoke(app, ["score", str(inputs), "--out", str(out), "--json", str(tmp_path / "all.json"), "-q"])
    assert res.exit_code == 1
    assert str(a) in res.output and str(b) in res.output
    cards = json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))
    assert sorted((c["call_id"], c["agent_id"]) for c in cards) == [("other", "A1"), ("same", "A1")]
    assert (out / "index.html").is_file()


def test_two_manifest_rows_for_one_recording_name_both_lines(tmp_path: Path) -> None:
    write_pcm(tmp_path / "x.wav", np.zeros(800), 8000)
    m = tmp_path / "m.csv"
    m.write_text("call_id,agent_id,audio\nC-1,A1,x.wav\nC-2,A2,./x.wav\n", encoding="utf-8")
    inputs, errors = discover_inputs([], manifest=m)
    assert [i.call_id for i in inputs] == ["C-1"]
    assert len(errors) == 1 and errors[0].path == f"{m}:3" and "line 2" in errors[0].message


# -- 6 and 11. atomic output files; runs sharing one folder -------------------------------------


@pytest.mark.slow
def test_a_killed_json_rewrite_leaves_the_previous_good_file(tmp_path: Path) -> None:
    target = tmp_path / "all.json"
    script = (
        "import sys, itertools\n"
        "from qa_scorer.pipeline import write_json\n"
        "from qa_scorer.models import Scorecard\n"
        "card = Scorecard(call_id='c', agent_id='a', rubric_id='r', rubric_version='v', score=90, items=[])\n"
        "for n in itertools.count(1):\n"
        "    write_json([card] * (20000 + n % 7), sys.argv[1])\n"
    )
    for delay in (0.9, 1.3, 1.7):
        proc = subprocess.Popen([sys.executable, "-c", script, str(target)])
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if target.exists():
            data = json.loads(target.read_text(encoding="utf-8"))  # never empty or truncated
            assert len(data) >= 20000
    assert target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name != target.name and not p.name.endswith(".tmp")]


def test_temporary_names_are_unique_per_process_and_write(tmp_path: Path) -> None:
    names = {temp_path(tmp_path / "index.html").name for _ in range(50)}
    assert len(names) == 50 and all(f".{os.getpid()}." in n for n in names)


@pytest.mark.slow
def test_two_runs_sharing_one_out_both_finish_and_the_index_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "out"
    batches = []
    for b in range(2):
        folder = tmp_path / f"in{b}"
        for i in range(15):
            write_json(folder / f"{i}.json", doc(call_id=f"b{b}-{i:02d}", agent_id=f"A{i % 3}"))
        batches.append(folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    procs = [subprocess.Popen([sys.executable, "-m", "qa_scorer", "score", str(f), "--out", str(out), "-q"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env) for f in batches]
    for p in procs:
        output = p.communicate(timeout=300)[0].decode()
        assert p.returncode == 0, output
        assert "Traceback" not in output
    index = (out / "index.html").read_text(encoding="utf-8")
    for b in range(2):
        for i in range(15):
            assert f"b{b}-{i:02d}" in index
    assert not list(out.rglob("*.tmp"))


# -- 10. hostile JSON: one file, one error; the rest of the batch is done --------------------------


HOSTILE_JSON = {
    "lone-surrogate": '{"version": 1, "call_id": "x", "segments": [{"speaker": "agent", "text": "a\\ud800b"}]}',
    "surrogate-key": '{"version": 1, "call_id": "x", "segments": [], "metadata": {"\\udfff": 1}}',
    "5000-digit-int": '{"version": 1, "call_id": "x", "segments": [{"speaker": "agent", "text": "a", "start": '
                      + "1" * 5000 + "}]}",
    "5000-digit-float": '{"version": 1, "call_id": "x", "segments": [{"speaker": "agent", "text": "a", "start": '
                        + "1" * 5000 + ".5}]}",
    "nested-100000": '{"version": 1, "call_id": "x", "segments": [], "metadata": {"a": ' + "[" * 100000
                     + "]" * 100000 + "}}",
    "nested-900": '{"version": 1, "call_id": "x", "segments": [], "metadata": {"a": ' + "[" * 900 + "]" * 900 + "}}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_JSON))
def test_hostile_json_is_a_per_file_error_and_the_batch_goes_on(tmp_path: Path, name: str) -> None:
    inputs = tmp_path / "in"
    write_json(inputs / "a.json", doc(call_id="before"))
    bad = write_json(inputs / "b-bad.json", HOSTILE_JSON[name])
    write_json(inputs / "c.json", doc(call_id="after"))
    out = tmp_path / "out"
    res = score(inputs, "--out", out)
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and str(bad) in res.output
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "before" in index and "after" in index


def test_any_unexpected_error_from_one_input_is_a_per_file_error(tmp_path: Path, monkeypatch) -> None:
    import qa_scorer.pipeline as pipeline

    real = pipeline.score_transcript

    def flaky(transcript, rubric, source=None, call=None):
        if transcript.call_id == "boom":
            raise KeyError("something no one expected")
        return real(transcript, rubric, source=source, call=call)

    monkeypatch.setattr(pipeline, "score_transcript", flaky)
    inputs = tmp_path / "in"
    write_json(inputs / "a.json", doc(call_id="fine"))
    bad = write_json(inputs / "b.json", doc(call_id="boom"))
    res = score(inputs, "--out", tmp_path / "out")
    assert res.exit_code == 1 and str(bad) in res.output and "KeyError" in res.output
    assert "fine" in (tmp_path / "out" / "index.html").read_text(encoding="utf-8")


# -- 12. recordings with more than two channels -------------------------------------------------


def _dominant_hz(x: np.ndarray, sr: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[int(np.argmax(spectrum))])


def test_a_six_channel_wav_is_decoded_as_its_first_two_channels(tmp_path: Path) -> None:
    t = np.arange(8000 * 2) / 8000
    six = np.stack([0.3 * np.sin(2 * np.pi * (200 + 100 * i) * t) for i in range(6)])
    channels = decode_audio(write_pcm(tmp_path / "six.wav", six, 8000))
    assert len(channels) == 2
    assert all(abs(len(c) / 16000 - 2.0) < 0.01 for c in channels)  # not six times too long
    assert [round(_dominant_hz(c)) for c in channels] == [200, 300]
    assert all(0.25 < float(np.abs(c).max()) < 0.35 for c in channels)  # scaled like the others



@pytest.mark.parametrize("count", [8, 9, 64])
def test_a_wav_of_eight_channels_or_more_is_decoded_without_crashing_the_batch(tmp_path: Path, count: int) -> None:
    # planar frames of eight channels or more crashed the process (a segfault lost the whole
    # batch); in a child process so that a crash fails this test, not the run
    import subprocess
    import sys

    t = np.arange(8000 * 2) / 8000
    many = np.stack([0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) for i in range(count)])
    wav = write_pcm(tmp_path / "many.wav", many, 8000)
    code = ("import sys, numpy as np; from qa_scorer.ingest import decode_audio; c = decode_audio(sys.argv[1]); "
            "s = lambda x: float(np.fft.rfftfreq(len(x), 1 / 16000)[int(np.argmax(np.abs(np.fft.rfft(x))))]); "
            "print(len(c), [round(s(x)) for x in c], round(len(c[0]) / 16000, 2))")
    done = subprocess.run([sys.executable, "-c", code, str(wav)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["2", "[200,", "250]", "2.0"]

# -- 13. quiet wrong results ---------------------------------------------------------------------


def test_an_empty_transcript_is_flagged_no_speech_not_a_silent_100(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    write_json(inputs / "empty.json", doc(call_id="empty", segments=[]))
    write_json(inputs / "blank.json", doc(call_id="blank", segments=[{"speaker": "agent", "text": " 。"}]))
    out = tmp_path / "out"
    res = runner.invoke(app, ["score", str(inputs), "--out", str(out), "--json", str(tmp_path / "all.json")])
    assert res.exit_code == 0, res.output
    assert "no speech" in res.output and "无有效语音" in res.output
    for card in json.loads((tmp_path / "all.json").read_text(encoding="utf-8")):
        assert card["no_speech"] is True
        assert {i["status"] for i in card["items"]} == {"na"}
        page = (out / "calls" / f"{card['call_id']}.html").read_text(encoding="utf-8")
        assert 'id="no-speech-banner"' in page and "无有效语音" in page
    assert "无有效语音" in (out / "index.html").read_text(encoding="utf-8")


def test_text_whose_case_folding_depends_on_context_is_scored(tmp_path: Path) -> None:
    # ǅ becomes two letters under NFKC, so the map back to the original is built character by
    # character; a Σ after a letter lowers to a final ς only in context. This once failed the
    # call with a bare AssertionError.
    inputs = tmp_path / "in"
    write_json(inputs / "sigma.json", doc(call_id="sigma", segments=[
        {"speaker": "agent", "text": "ǅΣ 您好，很高兴为您服务"}, {"speaker": "customer", "text": "东西坏了ǅΣ"}]))
    res = runner.invoke(app, ["score", str(inputs), "--out", str(tmp_path / "out"), "--json", str(tmp_path / "all.json")])
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))[0]
    assert {i["id"]: i["status"] for i in card["items"]}["greeting"] == "pass"


def test_a_normal_call_is_not_flagged_no_speech(tmp_path: Path) -> None:
    write_json(tmp_path / "in" / "ok.json", doc())
    res = runner.invoke(app, ["score", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                              "--json", str(tmp_path / "all.json"), "-q"])
    assert res.exit_code == 0
    assert json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))[0]["no_speech"] is False
    assert 'id="no-speech-banner"' not in (tmp_path / "out" / "calls" / "good-1.html").read_text(encoding="utf-8")


def test_silent_and_tone_only_recordings_are_flagged_no_speech(tmp_path: Path) -> None:
    t = np.arange(16000 * 6) / 16000
    (tmp_path / "in").mkdir()
    write_pcm(tmp_path / "in" / "silence.wav", np.zeros((2, 16000 * 6)), 16000)
    write_pcm(tmp_path / "in" / "tone.wav", np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2), 16000)
    res = runner.invoke(app, ["score", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                              "--json", str(tmp_path / "all.json"), "-q", "--workers", "1", "--threads", "2"])
    assert res.exit_code == 0, res.output
    cards = {c["call_id"]: c for c in json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))}
    assert set(cards) == {"silence", "tone"}
    for card in cards.values():
        assert card["no_speech"] is True and {i["status"] for i in card["items"]} == {"na"}
    assert "无有效语音" in res.output


@pytest.mark.parametrize("call_id", [" ", "\n", "a\nb", "a\rb", "tab\there", "\u3000"])
def test_blank_or_line_breaking_call_ids_are_refused(tmp_path: Path, call_id: str) -> None:
    p = write_json(tmp_path / "t.json", doc(call_id=call_id))
    with pytest.raises(TranscriptError) as exc:
        load_transcript(p)
    assert str(p) in str(exc.value) and "$.call_id" in str(exc.value)


@pytest.mark.parametrize("started_at", ["yesterday", "2024-13-45", "11/02/2026", "2026-11-02T25:00"])
def test_an_unparseable_started_at_is_refused(tmp_path: Path, started_at: str) -> None:
    p = write_json(tmp_path / "t.json", doc(started_at=started_at))
    with pytest.raises(TranscriptError) as exc:
        load_transcript(p)
    assert str(p) in str(exc.value) and "$.started_at" in str(exc.value)


@pytest.mark.parametrize("started_at", ["2026-11-02", "2026-11-02T10:15:00+08:00", "2026-11-02T02:15:00Z",
                                        "2026-11-02 10:15", ""])
def test_iso_dates_are_accepted(tmp_path: Path, started_at: str) -> None:
    load_transcript(write_json(tmp_path / "t.json", doc(started_at=started_at)))


def test_calls_stored_before_these_checks_still_read_back(tmp_path: Path, calls: dict[str, Call]) -> None:
    c = calls["good"]
    with History(tmp_path / "h.sqlite") as h:
        h.record(c.transcript, c.scorecard)
        (raw,) = h._db.execute("SELECT transcript FROM calls").fetchone()
        old = json.loads(raw)
        old.update(started_at="2024/05/06 morning", agent_id="A001\t")  # accepted by earlier versions
        h._db.execute("UPDATE calls SET transcript = ?", (json.dumps(old),))
        (stored,) = h.calls()
        assert stored.transcript.started_at == "2024/05/06 morning" and not h.unreadable


def test_manifest_mistakes_in_ids_dates_and_quotes_name_the_line(tmp_path: Path) -> None:
    for name in ("a", "b", "c", "d"):
        write_pcm(tmp_path / f"{name}.wav", np.zeros(800), 8000)
    m = tmp_path / "m.csv"
    m.write_text('call_id,agent_id,audio,started_at\n'
                 'C-1,A1,a.wav,2026-11-02\n'
                 '"C\n2",A1,b.wav,\n'
                 'C-3,A1,c.wav,someday\n'
                 'C-4,"A\x001",c.wav,\n'
                 'C-5,"A1,d.wav,\n'
                 'C-6,A1,d.wav,\n', encoding="utf-8")
    inputs, errors = discover_inputs([], manifest=m)
    assert [i.call_id for i in inputs] == ["C-1"]
    by_line = {e.path.rsplit(":", 1)[1]: e.message for e in errors}
    assert "line break" in by_line["3"] and "started_at" in by_line["5"] and "agent_id" in by_line["6"]
    assert "unbalanced quote" in by_line["7"] and "never closed" in by_line["7"]
    assert all(e.path.startswith(str(m)) for e in errors)


def test_control_characters_never_reach_the_html(tmp_path: Path) -> None:
    text = "您好\x00，很高兴\x1b[31m为您服务\r\x07\x7f"
    write_json(tmp_path / "in" / "t.json", doc(call_id="ctl", agent_id="A\x00", segments=[
        {"speaker": "agent", "text": text, "start": 0.1, "end": 2.0}], metadata={"note": "\x00"}))
    res = score(tmp_path / "in", "--out", tmp_path / "out")
    assert res.exit_code == 1 and "$.agent_id" in res.output  # an id with control characters is refused
    write_json(tmp_path / "in" / "t.json", doc(call_id="ctl", segments=[
        {"speaker": "agent", "text": text, "start": 0.1, "end": 2.0}]))
    res = score(tmp_path / "in", "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    for page in html_pages(tmp_path / "out"):
        raw = page.read_text(encoding="utf-8")
        assert not [c for c in raw if (ord(c) < 32 and c not in "\t\n") or c == "\x7f"], page
    assert "很高兴[31m为您服务" in (tmp_path / "out" / "calls" / "ctl.html").read_text(encoding="utf-8")


# -- property-based fuzzing (a fixed budget here; bench/fuzz_inputs.py runs longer) ------------

FUZZ = settings(max_examples=150, deadline=timedelta(seconds=3), derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@pytest.mark.slow
@FUZZ
@given(raw=transcript_bytes())
def test_fuzzed_transcript_files_load_and_score_or_fail_with_a_per_file_error(tmp_path: Path, raw: bytes,
                                                                             default_rubric) -> None:
    check_transcript_file(tmp_path / "fuzz.json", raw, default_rubric)


@pytest.mark.slow
@FUZZ
@given(text=manifest_text())
def test_fuzzed_manifests_read_or_fail_with_line_numbered_errors(tmp_path: Path, text: str) -> None:
    folder = tmp_path / "m"
    folder.mkdir(exist_ok=True)
    if not (folder / "x.wav").exists():
        write_pcm(folder / "x.wav", np.zeros(800), 8000)
    check_manifest(folder, text)


def test_ids_that_would_read_differently_in_a_terminal_or_a_page_are_refused(tmp_path: Path) -> None:
    """A C1 control (U+009B starts an escape sequence in some terminals), a bidirectional override
    (U+202E shows 'exe.txt' as 'txt.exe') or a Unicode line separator in a call or agent id is
    refused with the file and field named; the rest of the batch is scored."""
    segs = [{"speaker": "agent", "text": "您好，很高兴为您服务", "start": 0.1, "end": 2.0}]
    write_json(tmp_path / "in" / "a.json", doc(call_id="C-1\u009b31m", segments=segs))
    write_json(tmp_path / "in" / "b.json", doc(call_id="bill\u202etxt.exe", segments=segs))
    write_json(tmp_path / "in" / "c.json", doc(call_id="C-3", agent_id="A\u20281", segments=segs))
    write_json(tmp_path / "in" / "d.json", doc(call_id="C-4", segments=segs))
    res = score(tmp_path / "in", "--out", tmp_path / "out")
    assert res.exit_code == 1
    assert "a.json: $.call_id" in res.output and "b.json: $.call_id" in res.output
    assert "c.json: $.agent_id" in res.output
    assert "\u009b" not in res.output and "\u202e" not in res.output
    cards = [json.loads(p.read_text(encoding="utf-8")) for p in (tmp_path / "out" / "scorecards").glob("*.json")]
    assert [c["call_id"] for c in cards] == ["C-4"]


def test_a_fifo_named_as_rubric_model_manifest_labels_or_training_data_is_refused_not_waited_on(tmp_path: Path) -> None:
    # recordings and transcripts that are FIFOs were refused; these five blocked the run for ever
    import sys

    call = write_json(tmp_path / "call.json", doc(call_id="c1"))
    for name in ("fifo.yaml", "m.json", "man.csv", "labels.csv", "train.csv"):
        os.mkfifo(tmp_path / name)
    (tmp_path / "rub.yaml").write_text(
        "id: t\nitems:\n  - id: x\n    kind: required\n    points: 10\n    type: classifier\n"
        "    speaker: agent\n    model: m.json\n", encoding="utf-8")
    runs = {
        "rubric": (["rubric", "check", str(tmp_path / "fifo.yaml")], 3),
        "model": (["rubric", "check", str(tmp_path / "rub.yaml")], 3),
        "manifest": (["score", str(call), "--manifest", str(tmp_path / "man.csv"), "--out", str(tmp_path / "o")], 1),
        "labels": (["eval", str(call), "--labels", str(tmp_path / "labels.csv")], 5),
        "train": (["train", str(tmp_path / "train.csv"), "--out", str(tmp_path / "t.json")], 5),
    }
    for what, (args, code) in runs.items():
        done = subprocess.run([sys.executable, "-m", "qa_scorer", *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == code, (what, done.returncode, done.stdout[-800:], done.stderr[-800:])
        assert "not a regular file" in done.stdout + done.stderr, (what, done.stdout[-800:], done.stderr[-800:])


@pytest.mark.parametrize("blank", ["\u200b", "\u200f", "\ufeff", "\u2060", "\u3164", "\u2800", "\U000e0001", "\u200b\u200c",
                                   "\u034f", "\ufe0f", "\u17b4", "\u180b", "\U000e0100", "\ufff0", "\u200b\u034f"])
def test_an_id_of_invisible_characters_only_is_refused_naming_the_field(tmp_path: Path, blank: str) -> None:
    # calls and agents listed with blank names in the index and the app: the README says ids
    # must have visible characters
    inputs = tmp_path / "in"
    write_json(inputs / "a.json", doc(call_id=blank))
    write_json(inputs / "b.json", doc(call_id="b1", agent_id=blank))
    write_json(inputs / "c.json", doc(call_id="c1", agent_id="\u3000"))
    write_json(inputs / "d.json", doc(call_id="d1\u200b", agent_id="a1\u200b"))  # visible beside them: kept
    res = runner.invoke(app, ["score", str(inputs), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1, res.output
    out = " ".join(res.output.split())
    assert "a.json: $.call_id" in out and "b.json: $.agent_id" in out and "c.json: $.agent_id" in out
    assert "visible character" in out
    assert "1 call(s) scored" in out


def _bundle_recordings(folder: Path) -> dict[str, int]:
    return {d.name: len(list((d / "audio").glob("*"))) for d in (folder / "agent-bundles").glob("*")}


def test_a_recording_named_by_transcripts_of_two_agents_is_played_for_neither(tmp_path: Path) -> None:
    # a1's transcript named a2's recording: a1's call page, the app and a1's bundle played it
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_pcm(inputs / "secret.wav", 0.3 * np.sin(np.arange(16000) / 8), 8000)
    write_json(inputs / "a2.json", doc(call_id="A2-secret", agent_id="a2", audio="secret.wav"))
    write_json(inputs / "a1.json", doc(call_id="A1-mine", agent_id="a1", audio="secret.wav"))
    write_json(inputs / "a3.json", doc(call_id="A3-own", agent_id="a3", audio="own.wav"))
    write_pcm(inputs / "own.wav", 0.3 * np.sin(np.arange(16000) / 8), 8000)
    out = tmp_path / "out"
    res = runner.invoke(app, ["score", str(inputs), "--out", str(out)])
    assert res.exit_code == 1, res.output
    text = " ".join(res.output.split())
    assert "a1.json: $.audio: secret.wav: also the recording of" in text and "a2.json" in text
    assert "3 call(s) scored" in text or "3 scorecard(s)" in text
    rep = tmp_path / "rep"
    assert runner.invoke(app, ["report", "--db", str(out / "qa.sqlite"), "--agent-bundles", "--out", str(rep)]).exit_code == 0
    assert _bundle_recordings(rep) == {"a1": 0, "a2": 0, "a3": 1}


def test_a_recording_another_agents_call_was_scored_with_is_refused_in_a_later_batch_and_when_it_appears_later(
        tmp_path: Path) -> None:
    first, later = tmp_path / "first", tmp_path / "later"
    first.mkdir()
    write_pcm(first / "secret.wav", 0.3 * np.sin(np.arange(16000) / 8), 8000)
    write_json(first / "a2.json", doc(call_id="A2-secret", agent_id="a2", audio="secret.wav"))
    out = tmp_path / "out"
    assert runner.invoke(app, ["score", str(first), "--out", str(out)]).exit_code == 0
    # a later batch: a1's transcript names the same file
    write_json(first / "a1.json", doc(call_id="A1-mine", agent_id="a1", audio="secret.wav"))
    res = runner.invoke(app, ["score", str(first / "a1.json"), "--out", str(out)])
    assert res.exit_code == 1 and "another agent in the history" in " ".join(res.output.split()), res.output
    # a transcript whose recording was missing when it was scored, the other agent's file put there since
    write_json(later / "a4.json", doc(call_id="A4-late", agent_id="a4", audio="late.wav"))
    res = runner.invoke(app, ["score", str(later), "--media-root", str(first), "--out", str(out)])
    assert res.exit_code == 0, res.output  # named but not there: reported at render time
    (later / "late.wav").symlink_to(first / "secret.wav")
    rep = tmp_path / "rep"
    assert runner.invoke(app, ["report", "--db", str(out / "qa.sqlite"), "--media-root", str(first),
                               "--agent-bundles", "--out", str(rep)]).exit_code == 0
    # claimed for two agents (a2's call, and a1's that named it later): played and copied for neither
    assert _bundle_recordings(rep) == {"a1": 0, "a2": 0, "a4": 0}
    # the app takes the recording as the reports do
    from qa_scorer.report.files import audio_source
    from qa_scorer.store import History

    with History(out / "qa.sqlite") as history:
        calls = {c.call_id: c for c in history.calls()}
        claimed = history.recording_agents()
    for call_id in ("A2-secret", "A1-mine", "A4-late"):
        assert "another agent" in (audio_source(calls[call_id], [first], claimed).refused or ""), call_id


def test_a_recording_claimed_first_by_the_wrong_agent_or_given_by_a_manifest_row_is_played_for_neither(
        tmp_path: Path) -> None:
    # the first to name a recording kept it when its owner named it later; a manifest row giving
    # another agent's recording to a1 gave a1 the recording and its transcript
    first = tmp_path / "first"
    first.mkdir()
    write_pcm(first / "secret.wav", 0.3 * np.sin(np.arange(16000) / 8), 8000)
    write_json(first / "a1.json", doc(call_id="A1-mine", agent_id="a1", audio="secret.wav"))
    out = tmp_path / "out"
    assert runner.invoke(app, ["score", str(first / "a1.json"), "--out", str(out)]).exit_code == 0
    write_json(first / "a2.json", doc(call_id="A2-secret", agent_id="a2", audio="secret.wav"))
    res = runner.invoke(app, ["score", str(first / "a2.json"), "--out", str(out)])
    assert res.exit_code == 1 and "played and copied for neither" in " ".join(res.output.split()), res.output
    rep = tmp_path / "rep"
    assert runner.invoke(app, ["report", "--db", str(out / "qa.sqlite"), "--agent-bundles", "--out", str(rep)]).exit_code == 0
    assert _bundle_recordings(rep) == {"a1": 0, "a2": 0}
    # a manifest row in the same batch as the owner's transcript
    second = tmp_path / "second"
    second.mkdir()
    write_pcm(second / "other.wav", 0.2 * np.sin(np.arange(16000) / 5), 8000)
    write_json(second / "b2.json", doc(call_id="B2-own", agent_id="b2", audio="other.wav"))
    (tmp_path / "manifest.csv").write_text("audio,call_id,agent_id\nsecond/other.wav,B1-x,b1\n", encoding="utf-8")
    out2 = tmp_path / "out2"
    res = runner.invoke(app, ["score", str(second / "b2.json"), str(second / "other.wav"),
                              "--manifest", str(tmp_path / "manifest.csv"), "--out", str(out2)])
    assert res.exit_code == 1 and "one recording is one call" in " ".join(res.output.split()), res.output
    rep2 = tmp_path / "rep2"
    assert runner.invoke(app, ["report", "--db", str(out2 / "qa.sqlite"), "--agent-bundles", "--out", str(rep2)]).exit_code == 0
    assert _bundle_recordings(rep2) == {"b1": 0, "b2": 0}


def test_errors_name_the_problem_not_an_internal_and_every_path_of_an_array_element(tmp_path: Path) -> None:
    import struct

    inputs = tmp_path / "in"
    inputs.mkdir()
    # a WAV whose format tag no decoder knows (0x1234): was "AttributeError: 'NoneType' object…"
    head = (b"RIFF" + struct.pack("<I", 16036) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 0x1234, 1, 8000, 16000, 2, 16)
            + b"data" + struct.pack("<I", 16000))
    (inputs / "badfmt.wav").write_bytes(head + b"\x00" * 16000)
    good = {"version": 1, "call_id": "c0", "agent_id": "a", "channel": "chat", "segments": [{"speaker": "agent", "text": "您好"}]}
    write_json(inputs / "export.json", [good, dict(good, call_id="c1"), {"version": 1}])
    res = runner.invoke(app, ["score", str(inputs), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1, res.output
    out = " ".join(res.output.split())
    assert "badfmt.wav: cannot decode audio (no decoder for its format)" in out and "AttributeError" not in out
    assert "export.json: $[2].call_id: Field required; $[2].segments: Field required" in out
    assert "2 call(s) scored" in out
    # a blank --agent selects nothing: a usage error, not an empty report
    for cmd in ("report", "export"):
        res = runner.invoke(app, [cmd, "--agent", " ", "--db", str(tmp_path / "out" / "qa.sqlite"), "--out", str(tmp_path / cmd)])
        assert res.exit_code == 2 and "--agent is empty" in res.output, (cmd, res.output)


def test_a_recording_skipped_as_a_repeat_is_not_warned_as_scored_on_an_assumption(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    tone = 0.3 * np.sin(np.arange(16000) / 8)
    write_pcm(inputs / "good.wav", tone, 8000)
    write_pcm(inputs / "good2.wav", tone, 8000)  # the same bytes under another name
    (tmp_path / "manifest.csv").write_text("audio,call_id,agent_id\nin/good.wav,g1,a1\n", encoding="utf-8")
    res = runner.invoke(app, ["score", str(inputs), "--manifest", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "out")])
    out = " ".join(res.output.split())
    assert "good2" in out  # named as the repeat it is
    assert "assumption" not in out or "good2.wav: not in the manifest" not in out, res.output


def test_a_training_csv_with_a_quote_left_open_says_so_and_lines_count_from_where_a_row_starts(tmp_path: Path) -> None:
    open_quote = tmp_path / "open.csv"
    open_quote.write_text('text,label\n你太棒了,1\n"快递没到,0\n还没到,1\n', encoding="utf-8")
    res = runner.invoke(app, ["train", str(open_quote), "--out", str(tmp_path / "m.json")])
    assert res.exit_code == 5 and "open.csv:3:" in res.output and "never closed" in res.output, res.output
    spanning = tmp_path / "span.csv"
    spanning.write_text('text,label\n你太棒了,1\n"两行\n的文本",0\n快递没到,x\n', encoding="utf-8")
    res = runner.invoke(app, ["train", str(spanning), "--out", str(tmp_path / "m.json")])
    assert res.exit_code == 5 and "span.csv:5:" in res.output, res.output


def test_evidence_of_a_whole_utterance_repeats_at_most_a_bounded_part_of_it() -> None:
    # a 16.7M-character message's text was stored again in every item's evidence: a 50 MB
    # transcript made a 335 MB history and a 200 MB page
    from qa_scorer.models import Transcript
    from qa_scorer.rubric.call import MAX_EVIDENCE_CHARS, Call

    long = "东西坏了" * 20000
    t = Transcript.model_validate({"version": 1, "call_id": "x", "channel": "chat", "segments": [
        {"speaker": "customer", "text": long}, {"speaker": "agent", "text": "抱歉"}]})
    call = Call(t)
    ev = call.evidence(0)
    assert ev.span is None and len(ev.text) == MAX_EVIDENCE_CHARS + 1 and long.startswith(ev.text[:-1])
    assert call.evidence(1).text == "抱歉"  # an ordinary turn whole
