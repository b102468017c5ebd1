"""Real transcription with faster-whisper and the packaged Whisper base model, on real and sample audio."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from audio_helpers import write_pcm

from qa_scorer import transcribe as tr
from qa_scorer.normalize import to_simplified
from qa_scorer.transcribe import guard
from qa_scorer.transcribe.options import hotword_string
from qa_scorer.ingest import CallInput, decode_audio
from qa_scorer.models import Word

ROOT = Path(__file__).resolve().parents[1]
CALLS = ROOT / "samples" / "calls"
REAL = ROOT / "tests" / "data" / "realaudio"
OPTS = tr.TranscribeOptions(cpu_threads=2, workers=1)

# Measured with base int8 on these five clips: 14.8% with beam search before, per clip in bench/RESULTS.md
# now (greedy first pass); the bound leaves a margin.
CER_BOUND = 0.19


@pytest.fixture(scope="session")
def model():
    return tr.load_model(OPTS)


def norm(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", to_simplified(text))).lower()


def edits(a: str, b: str) -> int:
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[:], i
        for j, cb in enumerate(b, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (ca != cb))
    return d[-1]


def call(path: Path, **kw) -> CallInput:
    return CallInput(path=path, kind="audio", call_id=kw.pop("call_id", path.stem), **kw)


def run(model, path: Path, options=OPTS, **kw):
    return tr.transcribe_audio(call(path, **kw), decode_audio(path), options, model)


def truth(call_id: str) -> list[dict]:
    return json.loads((CALLS / "src" / f"{call_id}.json").read_text(encoding="utf-8"))["segments"]


def find(segments, speaker: str, needle: str):
    hits = [s for s in segments if s.speaker == speaker and needle in norm(s.text)]
    assert hits, f"no {speaker} segment with {needle!r}: {[(s.speaker, s.text) for s in segments]}"
    return hits[0]


# --- accuracy on real speech ---------------------------------------------------------------------

@pytest.mark.slow
def test_character_error_rate_on_real_clips(model):
    rows = [line.split("\t") for line in (REAL / "transcripts.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    assert len(rows) == 5
    errors = chars = 0
    for name, ref, *_ in rows:
        t = run(model, REAL / name, agent_channel="mono")
        hyp = norm("".join(s.text for s in t.segments))
        assert t.segments, name
        assert all(s.text == to_simplified(s.text) for s in t.segments)  # simplified output
        errors += edits(norm(ref), hyp)
        chars += len(norm(ref))
    assert errors / chars < CER_BOUND, f"CER {errors / chars:.3f}"


# --- calls: roles, utterances, timings -----------------------------------------------------------

@pytest.mark.slow
def test_stereo_call_roles_and_interruption_timing(model):
    t = run(model, CALLS / "c03_complaint_soothed.wav")
    assert t.metadata["roles"]["method"] == "stereo-channel"
    assert {s.speaker_confidence for s in t.segments} == {1.0}
    agent_first = t.segments[0]
    assert agent_first.speaker == "agent" and "您好" in agent_first.text
    # Per-utterance segments, not one per channel.
    ref = truth("c03_complaint_soothed")
    assert len(t.segments) >= len(ref) - 2
    # The interruption: agent starts about 2 s before the customer stops.
    complaint = find(t.segments, "customer", "投诉")
    cut_in = find(t.segments, "agent", "打断")
    overlap = min(complaint.end, cut_in.end) - max(complaint.start, cut_in.start)
    true = next(s for s in ref if "投诉" in s["text"]), next(s for s in ref if "打断" in s["text"])
    true_overlap = true[0]["end"] - true[1]["start"]
    assert overlap >= 1.0 and abs(overlap - true_overlap) < 0.5, (overlap, true_overlap)
    assert abs(cut_in.start - true[1]["start"]) < 0.3
    # Every utterance's edges are close to the rendered truth: its first overlapping segment on
    # the same side starts where it starts, its last one ends where it ends (a pause may split it).
    starts, ends = [], []
    for r in ref:
        parts = [s for s in t.segments if s.speaker == r["speaker"] and s.start < r["end"] and s.end > r["start"]]
        assert parts, r["text"]
        starts.append(abs(parts[0].start - r["start"]))
        ends.append(abs(parts[-1].end - r["end"]))
    assert np.median(starts) < 0.1 and max(starts) < 0.5, starts
    assert np.median(ends) < 0.2 and max(ends) < 1.0, ends


@pytest.mark.slow
def test_a_window_whose_decoding_stopped_early_is_heard_to_its_end(model, monkeypatch):
    """Whisper can end a packed window early (its end token, no other sign of failure) and drop
    the last turns in it. Here the first pass is made to stop at each window's last piece; the
    pieces after the last word are decoded again and the closing line is back, at its time."""
    from qa_scorer.transcribe import call as call_mod, engine

    windows, real_pack, real_decode = [], call_mod.pack_windows, engine.decode_batch

    def pack(*a, **kw):
        windows[:] = real_pack(*a, **kw)
        return windows

    def first_pass_stops_early(model_, pieces, options):
        out = real_decode(model_, pieces, options)
        if len(pieces) == len(windows):  # the first pass: one stretch per window
            for w, d in zip(windows, out):
                if len(w.pieces) > 1:
                    cut = w.spans()[-1][0]
                    d.words = [x for x in d.words if x.end <= cut]
                    d.text = "".join(x.word for x in d.words)
        return out

    monkeypatch.setattr(call_mod, "pack_windows", pack)
    monkeypatch.setattr(engine, "decode_batch", first_pass_stops_early)
    wav = CALLS / "c01_late_delivery.wav"
    closing = truth("c01_late_delivery")[-1]
    assert "再见" in closing["text"]
    lost = run(model, wav, options=OPTS.model_copy(update={"tail_retry_seconds": 0.0}))
    assert not any("再见" in norm(s.text) for s in lost.segments)  # the simulated early stop bites
    t = run(model, wav)
    assert t.metadata["asr"]["decoder"]["tail_retries"] >= 1
    back = find(t.segments, "agent", "再见")
    assert abs(back.end - closing["end"]) < 1.0 and back.start > closing["start"] - 4.0
    assert sum("再见" in norm(s.text) for s in t.segments) == 1  # heard once, not twice
    assert len(t.segments) >= len(lost.segments) + 1


DIGITS = "一二三四五六七八九零幺1234567890"


@pytest.mark.slow
def test_a_turn_decoded_as_the_prompt_read_back_is_heard_again_without_it(model):
    # A customer saying a phone number digit by digit (一三八一二三四五六七八, the offline voice,
    # 8 kHz stereo): with the initial prompt Whisper writes the prompt for it, and the guard
    # that drops the prompt read back on hiss used to drop the whole turn. The first pass reads
    # the prompt back there; which second decoding brings the number back varies from process to
    # process with this int8 model on these cores (mostly the decoding without the prompt, some
    # runs a window decoded again piece by piece), so the test asks that one did, and that the
    # number, not the prompt, is what the transcript holds.
    t = run(model, ROOT / "tests" / "data" / "spoken" / "phone_number_read_as_prompt.wav")
    said = "".join(s.text for s in t.segments if s.speaker == "customer")
    assert sum(ch in DIGITS for ch in said) >= 8, said
    # and no piece of the prompt is left on either side (the agent's 好的 decoded the careful way
    # came out as 好战，使用简体中文。 in some processes)
    every = [s.text for s in t.segments]
    assert not any(piece in text for text in every for piece in ("普通话", "简体中文", "客服电")), every
    decoder = t.metadata["asr"]["decoder"]
    again = sum(decoder.get(k, 0) for k in ("prompt_retries", "fallback_windows", "gap_retries", "tail_retries"))
    assert again >= 1, decoder


def test_backchannels_and_hold_are_kept_apart(model):
    t = run(model, CALLS / "c08_double_charge.wav")
    agents = [s for s in t.segments if s.speaker == "agent"]
    please_wait = find(agents, "agent", "稍等")
    thanks = find(agents, "agent", "心等待")  # base often hears 耐心 as 脉心
    assert please_wait is not thanks
    assert thanks.start - please_wait.end > 10.0  # the 11 s hold survives as a gap
    assert not any(please_wait.end < s.start < thanks.start for s in t.segments)  # nothing invented in it
    # The agent's cut-in without an excuse overlaps the customer by about 1.5 s.
    cust = find(t.segments, "customer", "扣")
    cut = next(s for s in agents if s.start < cust.end and s.end > cust.start)
    assert min(cust.end, cut.end) - max(cust.start, cut.start) >= 1.0


@pytest.mark.slow
def test_auto_channel_finds_agent_on_the_right(model, tmp_path):
    left, right = decode_audio(CALLS / "c07_repair_booking.wav")
    swapped = write_pcm(tmp_path / "swapped.wav", np.stack([right, left]), 16000)
    t = run(model, swapped, options=OPTS.model_copy(update={"agent_channel": "auto"}))
    assert t.metadata["roles"]["agent_channel"] == "right"
    assert t.metadata["roles"]["confidence"] >= 0.75
    assert t.segments[0].speaker == "agent" and "您好" in t.segments[0].text


@pytest.mark.slow
def test_mono_mixdown_roles_are_marked_as_estimates(model):
    t = run(model, CALLS / "c07_repair_booking-mono.wav")
    roles = t.metadata["roles"]
    assert roles["method"] == "mono-voice-clustering" and "estimate" in roles["note"]
    assert all(0 < s.speaker_confidence < 1 for s in t.segments)
    ref = truth("c07_repair_booking")
    right = 0
    for r in ref:
        best = max(t.segments, key=lambda s: min(s.end, r["end"]) - max(s.start, r["start"]))
        right += best.speaker == r["speaker"]
    assert right / len(ref) >= 0.8, f"{right}/{len(ref)}"
    assert t.segments[0].speaker == "agent"


# --- silence, short input, hallucinations -------------------------------------------------------

@pytest.mark.slow
def test_silent_and_noise_recordings_give_no_segments(model, tmp_path):
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.003, 16000 * 20)
    for vad in (True, False):
        opts = OPTS.model_copy(update={"vad": vad})
        for name, x in (("zeros", np.zeros((2, 16000 * 20))), ("hiss", np.stack([noise, noise[::-1]]))):
            t = run(model, write_pcm(tmp_path / f"{name}.wav", x, 16000), options=opts)
            assert t.segments == [], (name, vad, [s.text for s in t.segments])


@pytest.mark.slow
def test_very_short_recording_transcribes(model, tmp_path):
    (clip,) = decode_audio(REAL / "wenet_nst_ID001.wav")
    t = run(model, write_pcm(tmp_path / "short.wav", clip[:4000], 16000))  # 0.25 s
    assert isinstance(t.segments, list)
    t = run(model, write_pcm(tmp_path / "blip.wav", np.full(160, 0.2), 16000))  # 10 ms
    assert t.segments == []


@pytest.mark.slow
def test_hour_long_recording_is_handled(model, tmp_path):
    """One hour, mostly line noise, one sentence at the 30-minute mark (VAD skips the rest)."""
    (clip,) = decode_audio(REAL / "wenet_aishell_BAC009S0724W0121.wav", 8000)
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.003, 8000 * 3600).astype(np.float32)
    x[8000 * 1800:8000 * 1800 + len(clip)] += clip
    path = write_pcm(tmp_path / "hour.wav", x, 8000)
    started = time.perf_counter()
    t = run(model, path)
    assert time.perf_counter() - started < 90
    assert len(t.segments) == 1 and 1799.5 < t.segments[0].start < 1801
    assert "地产" in norm(t.segments[0].text)
    assert t.metadata["asr"]["duration"] == pytest.approx(3600, abs=0.1)


def test_guard_drops_the_initial_prompt_read_back():
    def words(text):
        return [Word(word=text, start=0.0, end=1.0)]

    assert guard.echoes_prompt(words("录音，使用简体中文。"), tr.DEFAULT_PROMPT)
    assert not guard.echoes_prompt(words("普通话"), tr.DEFAULT_PROMPT)  # too short to tell
    assert not guard.echoes_prompt(words("您好，请问有什么可以帮您"), tr.DEFAULT_PROMPT)
    assert not guard.echoes_prompt(words("录音，使用简体中文。"), None)
    # on a poor line a word of it misheard, or a few real words heard with it (decoded again
    # without the prompt: see transcribe_channels)
    assert guard.echoes_prompt(words("而是普通话客服电话录音，使用简体中文。"), tr.DEFAULT_PROMPT)
    assert guard.echoes_prompt(words("以下是普通话客服电话录音 我要投诉"), tr.DEFAULT_PROMPT)
    assert not guard.echoes_prompt(words("这是你们客服电话吗 我要投诉你们"), tr.DEFAULT_PROMPT)
    assert not guard.echoes_prompt(words("您好，客服电话录音已经开始了，请讲"), tr.DEFAULT_PROMPT)
    # ... or most of it beside a few misheard words (a phone number read out, one run in three)
    assert guard.echoes_prompt(words("音声排下。音声上是普通话客服电话录音，使用简体中文。"), tr.DEFAULT_PROMPT)
    assert not guard.echoes_prompt(words("这是客服电话录音吗 我想问一下使用简体中文的方法"), tr.DEFAULT_PROMPT)
    # ... or pieces of it making up most of the text: one piece twice, or beside a word or two
    # (decodings of a phone number read out and of an agent's 好的 with the temperature fallback)
    assert guard.echoes_prompt(words("。 以下是普通话客服电。 以下是普通话客服电。"), tr.DEFAULT_PROMPT)
    assert guard.echoes_prompt(words("好战，使用简体中文。"), tr.DEFAULT_PROMPT)
    assert not guard.echoes_prompt(words("请拨打我们的客服电话"), tr.DEFAULT_PROMPT)
    assert not guard.echoes_prompt(words("对，是这个客服电话录音的"), tr.DEFAULT_PROMPT)
    # six of its characters in a row beside other words are the prompt read back too: the turn is
    # decoded again without it, and where that fails the other words are kept
    said = [Word(word=ch, start=i * 0.2, end=i * 0.2 + 0.2) for i, ch in enumerate("使用简体中文。我六七八十")]
    assert not guard.echoes_prompt(said, tr.DEFAULT_PROMPT) and guard.holds_prompt(said, tr.DEFAULT_PROMPT)
    assert "".join(w.word for w in guard.without_prompt(said, tr.DEFAULT_PROMPT)) == "我六七八十"
    assert not guard.holds_prompt(words("请拨打我们的客服电话 以下是您的订单"), tr.DEFAULT_PROMPT)
    assert guard.without_prompt(words("以下是普通话"), None) == words("以下是普通话")


def test_guard_drops_known_hallucinations_and_loops():
    def words(texts, t0=0.0):
        return [Word(word=w, start=t0 + i * 0.2, end=t0 + i * 0.2 + 0.2) for i, w in enumerate(texts)]

    for phrase in ("字幕由Amara.org社群提供", "請不吝點贊 訂閱 轉發 打賞支持明鏡與點點欄目",
                   "谢谢观看", "優優獨播劇場——YoYo Television Series Exclusive"):
        ws = words([to_simplified(c) for c in phrase])
        assert guard.guard_words(ws, 3) == [], phrase
    kept = guard.guard_words(words(list("好的谢谢观看")), 3)
    assert "".join(w.word for w in kept) == "好的"
    loop = guard.guard_words(words(["我要"] + ["投诉"] * 12), 3)
    assert [w.word for w in loop] == ["我要", "投诉"]
    fine = guard.guard_words(words(list("尾号八八六六")), 3)
    assert len(fine) == 6


# --- batches, cache, resume, per-file errors ---------------------------------------------------

def real_inputs(n: int) -> list[CallInput]:
    names = sorted(p for p in REAL.glob("*.wav"))[:n]
    return [call(p, agent_channel="mono") for p in names]


@pytest.mark.slow
def test_batch_goes_on_past_bad_files_and_caches(model, tmp_path):
    bad_empty = tmp_path / "empty.wav"
    bad_empty.write_bytes(b"")
    bad_corrupt = tmp_path / "corrupt.mp3"
    bad_corrupt.write_bytes(b"ID3" + bytes(2000))
    transcript = CallInput(path=CALLS / "src" / "c02_refund_rude.json", kind="transcript", call_id="c02")
    inputs = real_inputs(2)[:1] + [call(bad_empty), call(bad_corrupt), transcript] + real_inputs(2)[1:]
    cache = tmp_path / "cache"
    runs = tr.STATS["model_runs"]
    done, errors = tr.transcribe_batch(inputs, OPTS, cache, progress=False)
    assert [i.call_id for i, _ in done] == [inputs[0].call_id, "c02", inputs[-1].call_id]
    assert {Path(e.path).name for e in errors} == {"empty.wav", "corrupt.mp3"}
    assert "empty file" in next(e.message for e in errors if e.path.endswith("empty.wav"))
    assert tr.STATS["model_runs"] > runs
    assert len(list(cache.glob("*.json"))) == 2

    # Second run: everything from the cache, the model is not run.
    runs, hits = tr.STATS["model_runs"], tr.STATS["cache_hits"]
    again, errors2 = tr.transcribe_batch(inputs, OPTS, cache, progress=False)
    assert tr.STATS["model_runs"] == runs and tr.STATS["cache_hits"] == hits + 2
    assert [t.model_dump() for _, t in again] == [t.model_dump() for _, t in done]
    assert len(errors2) == 2

    # The cached transcript takes the identity of the input that asks for it.
    renamed = [CallInput(path=inputs[0].path, kind="audio", call_id="other-id", agent_id="A9",
                         agent_channel="mono", metadata={"queue": "x"})]
    (_, t), = tr.transcribe_batch(renamed, OPTS, cache, progress=False)[0]
    assert (t.call_id, t.agent_id, t.metadata["queue"]) == ("other-id", "A9", "x")
    assert tr.STATS["model_runs"] == runs

    # Other options → another cache entry; --retranscribe runs the model again.
    tr.transcribe_batch(renamed, OPTS.model_copy(update={"beam_size": 2}), cache, progress=False)
    assert tr.STATS["model_runs"] > runs
    runs = tr.STATS["model_runs"]
    tr.transcribe_batch(renamed, OPTS, cache, progress=False, retranscribe=True)
    assert tr.STATS["model_runs"] > runs


def test_one_recording_under_two_names_is_one_call(model, tmp_path):
    # A recording system's re-export renames files: the same bytes under another name (and
    # extension) are reported, not scored as a second call of the agent.
    first = real_inputs(1)[0]
    copy = tmp_path / "renamed.mp3"
    copy.write_bytes(first.path.read_bytes())
    done, errors = tr.transcribe_batch([first, call(copy)], OPTS, tmp_path / "cache", progress=False)
    assert [i.call_id for i, _ in done] == [first.call_id]
    (e,) = errors
    assert e.path == str(copy) and "the same recording as" in e.message and first.path.name in e.message


@pytest.mark.slow
def test_killed_batch_resumes_without_redoing_finished_calls(tmp_path):
    cache = tmp_path / "cache"
    inputs = real_inputs(5)
    script = (
        "import sys, pathlib\n"
        "from qa_scorer import transcribe as tr\n"
        "from qa_scorer.ingest import CallInput\n"
        "paths = sys.argv[2:]\n"
        "ins = [CallInput(path=pathlib.Path(p), kind='audio', call_id=pathlib.Path(p).stem, agent_channel='mono') for p in paths]\n"
        "tr.transcribe_batch(ins, tr.TranscribeOptions(cpu_threads=2, workers=1), pathlib.Path(sys.argv[1]), progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(cache), *[str(i.path) for i in inputs]],
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    deadline = time.time() + 120
    while time.time() < deadline and not list(cache.glob("*.json")):
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    finished = len(list(cache.glob("*.json")))
    assert 1 <= finished < len(inputs), "the batch should have been stopped midway"
    runs = tr.STATS["model_runs"]
    done, errors = tr.transcribe_batch(inputs, OPTS, cache, progress=False)
    assert not errors and len(done) == len(inputs)
    assert tr.STATS["cache_hits"] >= finished
    # Only the unfinished calls were decoded (one model run per mono call).
    assert tr.STATS["model_runs"] - runs == len(inputs) - finished
    assert not list(cache.glob(".*.tmp"))


@pytest.mark.slow
def test_worker_pool_gives_the_same_transcripts(tmp_path):
    inputs = real_inputs(2)
    opts = OPTS.model_copy(update={"workers": 2, "cpu_threads": 1})
    pooled, errors = tr.transcribe_batch(inputs, opts, tmp_path / "a", progress=False)
    assert not errors and tr.LAST_BATCH["workers"] == 2 and tr.LAST_BATCH["peak_rss_mb"] > 50
    single, _ = tr.transcribe_batch(inputs, OPTS, tmp_path / "b", progress=False)
    assert [t.segments[0].text for _, t in pooled] == [t.segments[0].text for _, t in single]


def test_worker_plan_on_cpu_and_cuda(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert tr.TranscribeOptions().plan(100) == (4, 4)  # one worker per 4 cores on CPU
    assert tr.TranscribeOptions(workers=3).plan(2) == (2, 8)  # never more workers than calls
    assert tr.TranscribeOptions(device="cuda").plan(100) == (1, 16)  # one GPU worker by default
    assert tr.TranscribeOptions(device="cuda", workers=4).plan(100) == (4, 4)  # more when asked
    assert tr.TranscribeOptions(device="cuda", workers=4, cpu_threads=2).plan(100) == (4, 2)


def test_options_defaults_are_defined_once():
    o = tr.TranscribeOptions()
    assert (o.model, o.device, o.compute_type, o.language, o.vad, o.condition_on_previous_text,
            o.agent_channel) == ("base", "cpu", "int8", "zh", True, False, "left")
    assert o.initial_prompt and o.initial_prompt == to_simplified(o.initial_prompt)
    long = tr.TranscribeOptions(hotwords=["请您稍等"] * 3 + [f"短语{i}" for i in range(100)])
    hw = hotword_string(long)
    assert hw.startswith("请您稍等 短语0") and len(hw) <= long.max_hotword_chars + 10
    with pytest.raises(ValueError):
        tr.TranscribeOptions(modle="base")


# --- windows: speech packed for the decoder, times mapped back (pure) ----------------------------

def test_speech_regions_pack_into_windows_and_times_map_back():
    from qa_scorer.transcribe.utterances import pack_windows

    rng = np.random.default_rng(1)
    left = rng.normal(0, 0.1, 16000 * 200).astype(np.float32)
    left[16000 * 85:16000 * 85 + 1600] = 0.0  # a quiet spot inside the long region
    right = rng.normal(0, 0.1, 16000 * 200).astype(np.float32)
    agent = [(1.0, 9.0), (30.0, 41.0), (50.0, 55.0), (60.0, 130.0)]
    customer = [(12.0, 20.0)]
    windows = pack_windows([agent, customer], [left, right], 30.0)
    assert all(w.duration <= 30.0 + 1e-6 for w in windows)
    flat = [p for w in windows for p in w.pieces]
    # Both channels' pieces in time order, short ones whole; the 70 s region cut into windows.
    assert flat[:4] == [(0, 1.0, 9.0), (0, 30.0, 41.0), (0, 50.0, 55.0), (0, 60.0, flat[3][2])]
    assert flat[-1] == (1, 12.0, 20.0) and all(len({c for c, _, _ in w.pieces}) == 1 for w in windows)
    assert [len(w.pieces) for w in windows][:2] == [3, 1]  # 8 + 11 + 5 s; the long region's first cut
    assert flat[-2][2] == 130.0
    assert flat[3][2] == pytest.approx(85.05, abs=0.06)  # cut at the quiet spot, not mid-word
    assert all(b - a <= 30.0 for _, a, b in flat) and all(flat[i][2] == flat[i + 1][1] for i in range(3, len(flat) - 2))
    w = windows[0]
    assert w.to_source(2.0, 3.0) == (0, 3.0, 4.0)  # inside the first piece
    assert w.to_source(9.0, 10.0) == (0, 31.0, 32.0)  # inside the second (8 s in)
    c, a, b = w.to_source(7.8, 8.6)  # straddles the junction, mostly in the second piece
    assert (c, a, b) == (0, 30.0, pytest.approx(30.6))
    c, a, b = w.to_source(7.0, 8.2)  # mostly in the first piece
    assert (c, a, b) == (0, 8.0, 9.0)
    assert windows[-1].to_source(1.0, 2.0) == (1, 13.0, 14.0)  # the customer's window
    assert len(w.audio([left, right])) == int(round(w.duration * 16000))

def test_a_window_whose_decoding_stopped_early_has_its_unheard_tail_found():
    from qa_scorer.transcribe.call import _repeats, _unheard_tail
    from qa_scorer.transcribe.engine import Decoded
    from qa_scorer.transcribe.utterances import Window

    # Three pieces packed at window times 0-8, 8-14 and 14-20 s.
    w = Window([(0, 1.0, 9.0), (1, 12.0, 18.0), (0, 20.0, 26.0)])

    def heard(last_end):
        return Decoded([Word(word="您好", start=0.5, end=1.0), Word(word="好的", start=last_end - 0.5, end=last_end)],
                       "您好好的", -0.2, 0.01)

    assert _unheard_tail(w, heard(7.6), 1.0) == 8.0  # the last two pieces were never heard
    assert _unheard_tail(w, heard(12.0), 1.0) == 14.0  # only the last one
    assert _unheard_tail(w, heard(19.7), 1.0) is None  # heard to the end
    assert _unheard_tail(w, heard(13.5), 6.5) is None  # the unheard piece is shorter than asked for
    assert _unheard_tail(w, heard(7.6), 0.0) is None  # switched off
    assert _unheard_tail(w, Decoded([], "", -0.2, 0.9), 1.0) is None  # nothing heard: silence or noise
    # Decoding that stopped inside one long piece: the rest of that piece is decoded again.
    long = Window([(0, 1.0, 22.0)])
    assert _unheard_tail(long, heard(10.0), 1.0) == 10.0
    assert _unheard_tail(long, heard(19.5), 1.0) is None  # a last word's timing a little early
    # A tail decoded again that only repeats the window's last words is not added twice.
    said = "您好请问有什么可以帮您我的快递三天了还没到好的我帮您查一下"
    assert _repeats(said, "好的，我帮您查一下。")
    assert _repeats(said, "我帮您查一下")
    assert not _repeats(said, "请问还有其他可以帮您的吗？祝您生活愉快，再见。")
    assert _repeats(said, "。")  # nothing but punctuation


def test_unheard_speech_is_decoded_again_piece_by_piece():
    """A window's unheard tail is decoded again one piece at a time (as one clip, the pieces
    after the first were passed over again), and a piece passed over in the middle of a window
    is decoded again too; what the window already said is not added twice."""
    from qa_scorer.transcribe.call import _contained, _retry_clips, _unheard_pieces
    from qa_scorer.transcribe.engine import Decoded
    from qa_scorer.transcribe.options import TranscribeOptions
    from qa_scorer.transcribe.utterances import Window

    # Pieces at window times 0-5, 5-10 and 10-20 s; only the first heard.
    w = Window([(0, 0.5, 5.5), (0, 17.0, 22.0), (0, 27.0, 37.0)])
    first = Decoded([Word(word="您好", start=0.0, end=0.5), Word(word="帮您", start=3.8, end=4.3)], "您好帮您", -0.2, 0.01)
    opts = TranscribeOptions()
    assert _retry_clips(w, first, opts) == [(5.0, 10.0, "tail"), (10.0, 20.0, "tail")]
    # heard at the start and the end, nothing timed inside the middle piece: a gap
    ends = Decoded([Word(word="您好", start=0.0, end=0.5), Word(word="好的", start=19.0, end=19.5)], "您好好的", -0.2, 0.01)
    assert _unheard_pieces(w, ends, 2.0) == [(5.0, 10.0)]
    assert _retry_clips(w, ends, opts) == [(5.0, 10.0, "gap")]
    assert _unheard_pieces(w, ends, 6.0) == []  # shorter than asked for
    assert _unheard_pieces(w, ends, 0.0) == []  # switched off
    # a word whose timing reaches into the piece: heard
    touched = Decoded(ends.words + [Word(word="嗯", start=4.8, end=5.2)], "您好嗯好的", -0.2, 0.01)
    assert _unheard_pieces(w, touched, 2.0) == []
    assert _retry_clips(w, Decoded([], "", -0.2, 0.9), opts) == []  # nothing heard: silence or noise
    said = "您好请问有什么可以帮您我的快递三天了还没到好的我帮您查一下"
    assert _contained(said, "请问有什么可以帮您")  # words drifted out of the piece, heard already
    assert not _contained(said, "孙先生查到了您10月24号那天除了基础洁牙还做了喷砂")


def test_text_left_out_of_the_word_timings_is_kept():
    """faster-whisper ends a stretch's word list early when a token is not whole UTF-8 (it decodes
    to U+FFFD) while the text goes on; the rest of the text is kept, spread over the time left."""
    from qa_scorer.transcribe.engine import _unaligned_rest

    timed = [Word(word="顺达", start=0.0, end=0.5), Word(word="你好。", start=0.5, end=1.5), Word(word="名字", start=2.2, end=2.6)]
    rest = _unaligned_rest(timed, "顺达你好。名字\ufffd恩你这个是系统随机分配的。下周再约。", 10.0)
    assert "".join(w.word for w in rest) == "恩你这个是系统随机分配的。下周再约。"
    assert rest[0].start == 2.6 and rest[-1].end == 10.0
    assert all(a.end <= b.start + 1e-9 for a, b in zip(rest, rest[1:]))
    assert rest[-1].word == "约。"  # punctuation stays with the character before it
    # words that cover the text (or all but a few characters) leave nothing to add
    assert _unaligned_rest(timed, "顺达你好。名字", 10.0) == []
    assert _unaligned_rest(timed, "顺达你好。名字好的", 10.0) == []
    # no time left for that much speech: nothing invented
    assert _unaligned_rest(timed, "顺达你好。名字" + "很长的一段话" * 20, 2.7) == []


def test_a_window_fails_when_repetitive_or_unlikely():
    kw = dict(log_prob_threshold=-1.0, no_speech_threshold=0.6, compression_ratio_threshold=2.4)
    assert not guard.window_failed("您好，很高兴为您服务，请问有什么可以帮您？", -0.3, 0.01, **kw)
    assert guard.window_failed("投诉" * 60, -0.2, 0.01, **kw)  # a loop compresses too well
    assert guard.window_failed("我买的洗衣机坏了", -1.3, 0.05, **kw)  # unlikely where there is speech
    assert not guard.window_failed("嗯", -1.3, 0.9, **kw)  # probably no speech: the guard drops it instead
    said = "您好，这里是客户服务中心。请问有什么可以帮您？"  # 20 characters
    assert not guard.window_failed(said, -0.1, 0.05, speech_seconds=6.0, **kw)
    assert guard.window_failed(said, -0.1, 0.05, speech_seconds=28.5, **kw)  # stopped at the first pause
    assert guard.low_confidence(-1.5, 0.0, drop_log_prob=-1.4, no_speech_threshold=0.6, log_prob_threshold=-1.0)
    assert guard.low_confidence(-0.8, 0.9, drop_log_prob=-1.4, no_speech_threshold=0.6, log_prob_threshold=-1.0)
    assert not guard.low_confidence(-0.5, 0.9, drop_log_prob=-1.4, no_speech_threshold=0.6, log_prob_threshold=-1.0)


def test_agent_side_found_from_how_each_side_speaks():
    """Without a greeting or a listed phrase, the agent's side still reads as the agent's: it
    addresses the other as 您, the customer speaks of himself (我 without 们); either channel."""
    from qa_scorer.transcribe.diarize import agent_score, decide_stereo_roles

    # the customer speaks first, and neither side says a listed phrase
    agent = [(4.0, "这边看到您上周五下的单"), (14.0, "稍等 我看一下您那边的记录"), (24.0, "好 已经登记 明天联系您")]
    customer = [(0.5, "我那个热水器又不出热水了"), (9.0, "老人等着洗澡呢 我急得很"), (20.0, "行 我等电话")]
    assert agent_score([t for _, t in agent]) > agent_score([t for _, t in customer])
    assert decide_stereo_roles(agent, customer)[0] == "left"
    assert decide_stereo_roles(customer, agent)[0] == "right"


def test_a_given_channel_that_sounds_like_the_customer_is_doubted():
    """A stereo call scored with the agent channel given (left / right) whose words clearly say the
    other side is the agent carries a doubt naming both channels; the right way round, a call with
    one side silent, a mono or an ``auto`` call carry none."""
    from qa_scorer.models import Transcript
    from qa_scorer.pipeline import mark_channel_doubts
    from qa_scorer.transcribe.roles import channel_doubt

    agent = [(0.5, "您好，很高兴为您服务，请问有什么可以帮您"), (9.0, "稍等 我看一下您的订单"),
             (20.0, "已经为您登记了，还有其他问题吗")]
    customer = [(4.0, "我买的热水器又坏了"), (14.0, "我家老人等着洗澡呢"), (24.0, "行 我等电话")]

    def call(agent_side, customer_side, method="stereo-channel", given="left"):
        segs = [{"speaker": "agent", "text": t, "start": s, "end": s + 2} for s, t in agent_side]
        segs += [{"speaker": "customer", "text": t, "start": s, "end": s + 2} for s, t in customer_side]
        return Transcript.model_validate({
            "version": 1, "call_id": f"c-{method}-{given}", "agent_id": "a", "channel": "phone",
            "segments": sorted(segs, key=lambda s: s["start"]),
            "metadata": {"roles": {"method": method, "agent_channel": given}}})

    assert channel_doubt(call(agent, customer)) is None
    swapped = call(customer, agent)  # the left channel held the customer
    why = channel_doubt(swapped)
    assert why is not None and "the right channel sounds like the agent, not the left one" in why
    assert "the left channel" in channel_doubt(call(customer, agent, given="right"))
    assert channel_doubt(call(customer, agent, method="stereo-auto")) is None
    assert channel_doubt(call(customer, agent, method="mono-voice-clustering", given=None)) is None
    assert channel_doubt(call(customer, [])) is None
    assert mark_channel_doubts([call(agent, customer), swapped]) == [(swapped.call_id, why)]
    assert swapped.metadata["roles"]["doubt"] == why


def test_a_mono_call_whose_words_hardly_tell_the_agent_is_doubted():
    """One voice track: the voices are told apart, the words choose the agent's; where they
    hardly do, the call carries a doubt, as a stereo call on the wrong channel does. Measured on
    the written conversations, each side taken as one voice: about a tenth of them flagged, and
    most of those whose wording would choose the wrong side among them."""
    from qa_scorer.models import Transcript
    from qa_scorer.pipeline import mark_channel_doubts
    from qa_scorer.transcribe.diarize import agent_score, unclear_wording
    from qa_scorer.transcribe.roles import channel_doubt

    def mono(unclear=None):
        roles = {"method": "mono-voice-clustering", "agent_channel": None, "confidence": 0.4}
        if unclear is not None:
            roles["unclear"] = unclear
        return Transcript.model_validate({"version": 1, "call_id": "m", "segments": [
            {"speaker": "agent", "text": "你这是什么态度", "start": 0, "end": 1}], "metadata": {"roles": roles}})

    why = unclear_wording(-1, -2.4)
    assert "swapped" in why and unclear_wording(12, -1.1) == ""
    assert channel_doubt(mono(why)) == why and channel_doubt(mono()) is None
    assert mark_channel_doubts([mono(why)]) == [("m", why)]
    flagged = swapped = caught = n = 0
    files = [*ROOT.glob("tests/data/heldout*/*.json"), *ROOT.glob("bench/untuned/heldout*/*.json")]
    for path in files:
        segs = json.loads(path.read_text(encoding="utf-8"))["segments"]
        a = [s["text"] for s in segs if s["speaker"] == "agent"]
        c = [s["text"] for s in segs if s["speaker"] == "customer"]
        if not a or not c:
            continue
        n += 1
        sa, sc = agent_score(a), agent_score(c)
        unclear = unclear_wording(max(sa, sc), min(sa, sc)) != ""
        flagged += unclear
        swapped += sc > sa
        caught += sc > sa and unclear
    assert n > 10000 and flagged / n < 0.13 and caught / swapped > 0.8, (n, flagged, swapped, caught)


def test_channel_doubt_rates_on_the_written_conversations():
    """Every written conversation of the repository with both sides, taken as a stereo call with the
    agent on the left as given, and again swapped: the doubt is raised for few of the first (0.2 %
    when written) and most of the second (89 %)."""
    from qa_scorer.transcribe.roles import channel_doubt

    class Call:  # what channel_doubt reads of a transcript
        def __init__(self, segments, given):
            self.segments = segments
            self.metadata = {"roles": {"method": "stereo-channel", "agent_channel": given}}

    class Seg:
        def __init__(self, speaker, text, start):
            self.speaker, self.text, self.start = speaker, text, start

    files = [*ROOT.glob("tests/data/heldout*/*.json"), *ROOT.glob("bench/untuned/heldout*/*.json")]
    right_way = swapped = n = 0
    for path in files:
        segs = json.loads(path.read_text(encoding="utf-8"))["segments"]
        kept = [Seg(s["speaker"], s["text"], s.get("start") or i) for i, s in enumerate(segs)]
        if {s.speaker for s in kept} != {"agent", "customer"}:
            continue
        n += 1
        right_way += channel_doubt(Call(kept, "left")) is not None
        flipped = [Seg("customer" if s.speaker == "agent" else "agent", s.text, s.start) for s in kept]
        swapped += channel_doubt(Call(flipped, "left")) is not None
    assert n > 10_000
    assert right_way / n < 0.005, (right_way, n)
    assert swapped / n > 0.85, (swapped, n)


# --- crosstalk: the other party's voice heard faintly on a channel -----------------------------

def with_echo(path: Path, db: float, delay: float = 0.03):
    """The call's two channels, each with the other's voice added ``db`` down and ``delay`` late."""
    left, right = decode_audio(path)
    g, d = 10 ** (-db / 20), int(delay * 16000)

    def late(x):
        return np.concatenate([np.zeros(d, dtype=x.dtype), x[:len(x) - d]]) * g

    return left + late(right), right + late(left)


def test_echo_frames_follow_the_other_channel_not_the_partys_own_speech():
    """On a sample call with each party's voice leaking 20 dB down into the other's channel, most
    echo frames (the other party speaking, this one not) are found and almost none of the
    party's own speech; on the clean call almost nothing is found."""
    from qa_scorer.transcribe.crosstalk import _levels, echo_frames, suppress

    path = CALLS / "c01_late_delivery.wav"
    ref = truth("c01_late_delivery")

    def frames(speaker, n):
        on = np.zeros(n, dtype=bool)
        for s in ref:
            if s["speaker"] == speaker:
                on[int(s["start"] * 100):int(s["end"] * 100)] = True
        return on

    clean = decode_audio(path)
    echoed = with_echo(path, 20)
    for k, (own, other) in enumerate((("agent", "customer"), ("customer", "agent"))):
        mask = echo_frames(echoed[k], echoed[1 - k])
        n = len(mask)
        mine, theirs = frames(own, n), frames(other, n)
        heard = theirs & ~mine & (_levels(echoed[k])[:n] > -70)  # the echo is audible there
        assert mask[heard].mean() > 0.6, (own, mask[heard].mean())
        assert mask[mine].mean() < 0.02, (own, mask[mine].mean())
        assert echo_frames(clean[k], clean[1 - k])[mine].mean() < 0.02
    out, seconds = suppress(list(echoed))
    assert all(s > 5 for s in seconds)
    assert [len(x) for x in out] == [len(x) for x in echoed]
    mono = [echoed[0]]
    kept, seconds = suppress(mono)
    assert kept is mono and seconds == [0.0]


def test_a_quiet_customer_talking_over_the_agent_is_not_taken_for_an_echo():
    """Double talk is no echo: the agent of one sample call over the customer of another, the
    customer 15 dB down, loses none of the customer's frames; with a real echo of the agent on
    the customer's channel as well (25 dB down), the echo is found and the customer's voice over
    it is nearly all kept."""
    from qa_scorer.transcribe.crosstalk import _levels, echo_frames

    agent = decode_audio(CALLS / "c01_late_delivery.wav")[0]
    customer = decode_audio(CALLS / "c03_complaint_soothed.wav")[1]
    n = min(len(agent), len(customer))
    agent, customer = agent[:n], customer[:n] * 10 ** (-15 / 20)
    rng = np.random.default_rng(0)
    noise, other_noise = (rng.normal(0, 1e-3, n).astype(np.float32) for _ in range(2))
    assert not echo_frames(customer + noise, agent + other_noise).any()

    echo = 10 ** (-25 / 20) * np.concatenate([np.zeros(480, dtype=np.float32), agent[:n - 480]])
    mask = echo_frames(customer + echo + noise, agent + other_noise)
    k = len(mask)
    lc, le, la = _levels(customer)[:k], _levels(echo)[:k], _levels(agent)[:k]
    voice = (lc > le + 3) & (lc > np.percentile(lc[lc > -60], 95) - 20)  # the customer over the echo
    assert (voice & (la > -50)).sum() > 500  # they do talk at the same time
    assert mask[voice].mean() < 0.05, mask[voice].mean()
    echo_only = (le > -60) & (lc < le - 10)
    assert mask[echo_only].mean() > 0.8, mask[echo_only].mean()


def test_channel_doubts_survive_any_metadata_and_are_cleared_once_settled():
    """A hand-written transcript may hold anything under metadata.roles: no doubt, no error. A
    doubt written before is dropped once the sides read the right way round."""
    from qa_scorer.models import Transcript
    from qa_scorer.pipeline import mark_channel_doubts

    segs = [{"speaker": "agent", "text": "您好，很高兴为您服务，请问有什么可以帮您", "start": 0.5, "end": 2},
            {"speaker": "customer", "text": "我买的热水器坏了", "start": 3, "end": 4}]
    for roles in ("stereo-channel", ["left"], 7, None):
        t = Transcript.model_validate({"version": 1, "call_id": "x", "segments": segs, "metadata": {"roles": roles}})
        assert mark_channel_doubts([t]) == []
    settled = Transcript.model_validate({"version": 1, "call_id": "y", "segments": segs, "metadata": {"roles": {
        "method": "stereo-channel", "agent_channel": "left", "doubt": "the right channel sounds like the agent"}}})
    assert mark_channel_doubts([settled]) == [] and "doubt" not in settled.metadata["roles"]


@pytest.mark.slow
def test_the_other_partys_echo_is_not_transcribed_as_this_partys_words(model, tmp_path):
    """Each party's voice 20 dB down on the other's channel: without crosstalk suppression the
    customer 'says' the agent's greeting, read-back or closing; with it (the default) neither side holds the other's
    words, and the transcript records how much was turned down."""
    call = write_pcm(tmp_path / "echo.wav", np.stack(with_echo(CALLS / "c07_repair_booking.wav", 20)), 16000)
    agents_words = ("很高兴为", "李先生", "请问还有其他")

    def customer_says_agents_words(t):
        return [s.text for s in t.segments if s.speaker == "customer" and any(w in norm(s.text) for w in agents_words)]

    plain = run(model, call, options=OPTS.model_copy(update={"crosstalk": False}))
    assert customer_says_agents_words(plain)
    t = run(model, call)
    assert not customer_says_agents_words(t), [(s.speaker, s.text) for s in t.segments]
    assert not any("我叫李明" in norm(s.text) for s in t.segments if s.speaker == "agent")
    assert t.metadata["asr"]["crosstalk_s"]["right"] > 5
    agent_first = t.segments[0]
    assert agent_first.speaker == "agent" and "很高兴为您服务" in norm(agent_first.text)


def test_one_recording_on_both_channels_is_the_same_signal_at_any_level():
    """A mono recording copied to both channels, as it is, at another level or inverted, is one
    signal; the two parties of a call, with or without each one's echo on the other's channel,
    are not."""
    from qa_scorer.transcribe.roles import same_signal

    left, right = decode_audio(CALLS / "c07_repair_booking.wav")
    mix = (left + right) / 2
    assert same_signal(mix, mix) and same_signal(mix, 0.6 * mix) and same_signal(mix, -0.8 * mix)
    assert not same_signal(left, right)
    assert not same_signal(*with_echo(CALLS / "c07_repair_booking.wav", 20, delay=0.0))
    assert not same_signal(mix, np.zeros_like(mix))


@pytest.mark.slow
def test_a_mono_recording_copied_inverted_to_the_other_channel_is_transcribed_as_mono(model, tmp_path):
    """The same recording on both channels, one side inverted and quieter, is transcribed once from
    the louder side (mixing the two would cancel the speech), with roles by voice and a note."""
    mono = decode_audio(CALLS / "c07_repair_booking-mono.wav")[0]
    call = write_pcm(tmp_path / "dual.wav", np.stack([mono, -0.7 * mono]), 16000)
    t = run(model, call)
    assert t.metadata["roles"]["method"].startswith("mono")
    assert "both channels carry the same signal" in t.metadata["roles"]["note"]
    assert "很高兴为您服务" in norm("".join(s.text for s in t.segments))



@pytest.mark.slow
def test_a_stereo_call_with_one_side_silent_keeps_its_channel_and_says_how_to_ask_for_voices(model, tmp_path):
    """One channel silent (here A-law's silence: a constant small offset): the other channel's
    words go to its party as given, and the transcript says which side is silent and that
    --agent-channel mono would tell two voices apart; the warning's doubt names it."""
    from qa_scorer.pipeline import mark_channel_doubts

    mono = decode_audio(CALLS / "c07_repair_booking-mono.wav")[0]
    call = write_pcm(tmp_path / "right_empty.wav", np.stack([mono, np.full_like(mono, 2.44e-4)]), 16000)
    t = run(model, call)
    assert t.metadata["roles"]["method"] == "stereo-channel"
    assert t.metadata["roles"]["silent_channel"] == "right"
    assert "--agent-channel mono" in t.metadata["roles"]["note"]
    assert {s.speaker for s in t.segments} == {"agent"}
    [(call_id, why)] = mark_channel_doubts([t])
    assert "the right channel is silent" in why and "--agent-channel mono" in why


def test_a_silent_channel_is_told_from_a_quiet_one():
    """Silence as files hold it (zeros, A-law's constant offset, dither, a click) against a channel
    with speech or with a quiet line's noise."""
    from qa_scorer.transcribe.roles import silent

    n = 16000 * 5
    rng = np.random.default_rng(0)
    click = np.zeros(n, dtype=np.float32)
    click[1234] = 0.9
    for x in (np.zeros(n, np.float32), np.full(n, 2.44e-4, np.float32), rng.normal(0, 1.2e-4, n).astype(np.float32),
              click, np.zeros(0, np.float32)):
        assert silent(x)
    left, right = decode_audio(CALLS / "c07_repair_booking.wav")
    assert not silent(left) and not silent(right)
    assert not silent(rng.normal(0, 3e-3, n).astype(np.float32))  # a line's hiss 50 dB down


def test_hold_music_or_an_offset_shared_by_both_channels_does_not_make_one_recording():
    """Two minutes of the same hold music on both sides of a call, or the same DC offset on two
    quiet channels, leave the call two parties' (judged second by second, mean taken out)."""
    from qa_scorer.transcribe.roles import same_signal

    left, right = decode_audio(CALLS / "c01_late_delivery.wav")
    t = np.arange(120 * 16000) / 16000
    music = (0.2 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)
    assert not same_signal(np.concatenate([left, music]), np.concatenate([right, music]))
    assert not same_signal(left * 0.1 + 0.03, right * 0.1 - 0.03)
