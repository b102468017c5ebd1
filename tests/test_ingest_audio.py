"""Audio inputs: discovery, manifests, decoding and channel splitting, model assembly (no ASR)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audio_helpers import write_pcm

from qa_scorer.transcribe import asr_models
from qa_scorer.ingest import (AUDIO_SUFFIXES, AudioError, CallInput, decode_audio, discover_inputs,
                              load_transcript, probe_duration)

ROOT = Path(__file__).resolve().parents[1]
CALLS = ROOT / "samples" / "calls"
STEREO = CALLS / "c03_complaint_soothed.wav"


def encode(src: Path, dst: Path, codec: str, rate: int = 8000, layout: str = "stereo") -> Path:
    """Re-encode a recording with PyAV (bundled FFmpeg): pcm_s16le, pcm_alaw, mp3, flac ..."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        resampler = av.AudioResampler(format=stream.codec_context.codec.audio_formats[0].name,
                                      layout=layout, rate=rate)
        for frame in inp.decode(audio=0):
            frame.pts = None
            for f in resampler.resample(frame):
                for pkt in stream.encode(f):
                    out.mux(pkt)
        for f in resampler.resample(None):
            for pkt in stream.encode(f):
                out.mux(pkt)
        for pkt in stream.encode(None):
            out.mux(pkt)
    return dst


def truth(call_id: str) -> dict:
    return json.loads((CALLS / "src" / f"{call_id}.json").read_text(encoding="utf-8"))


def energy(x: np.ndarray, a: float, b: float, sr: int = 16000) -> float:
    seg = x[int(a * sr):int(b * sr)]
    return float(np.sqrt(np.mean(seg ** 2)))


# --- decoding ------------------------------------------------------------------------------------

def test_stereo_mulaw_splits_agent_left_customer_right():
    left, right = decode_audio(STEREO)
    assert left.dtype == np.float32 and left.shape == right.shape
    assert abs(len(left) / 16000 - probe_duration(STEREO)) < 0.05
    t = truth("c03_complaint_soothed")
    segs = t["segments"]
    checked = 0
    for seg in segs:
        a, b = seg["start"] + 0.1, seg["end"] - 0.1
        speaking, other = (left, right) if seg["speaker"] == "agent" else (right, left)
        if any(o["speaker"] != seg["speaker"] and o["start"] < seg["end"] and o["end"] > seg["start"]
               for o in segs):  # the interruption: both channels carry speech
            continue
        checked += 1
        assert energy(speaking, a, b) > 5 * energy(other, a, b), seg["text"]
    assert checked == len(segs) - 2


@pytest.mark.parametrize("codec,suffix", [("pcm_s16le", ".wav"), ("pcm_alaw", ".wav"),
                                          ("pcm_mulaw", ".wav"), ("mp3", ".mp3"), ("flac", ".flac")])
def test_telephony_and_compressed_formats_decode_to_two_channels(tmp_path, codec, suffix):
    rate = 16000 if codec == "mp3" else 8000
    path = encode(STEREO, tmp_path / f"call_{codec}{suffix}", codec, rate=rate)
    assert path.suffix in AUDIO_SUFFIXES
    ref_left, ref_right = decode_audio(STEREO)
    left, right = decode_audio(path)
    assert abs(len(left) - len(ref_left)) < 16000 * 0.1  # mp3 adds encoder padding
    # Same content on the same side: correlate channel envelopes.
    n = min(len(left), len(ref_left)) // 1600 * 1600
    env = lambda x: np.abs(x[:n]).reshape(-1, 1600).mean(1)  # noqa: E731
    assert np.corrcoef(env(left), env(ref_left))[0, 1] > 0.9
    assert np.corrcoef(env(right), env(ref_right))[0, 1] > 0.9


def test_mono_mixdown_decodes_to_one_channel():
    channels = decode_audio(CALLS / "c07_repair_booking-mono.wav")
    assert len(channels) == 1 and len(channels[0]) > 16000 * 40


def test_resamples_48k(tmp_path):
    x = np.sin(np.arange(48000) / 48000 * 2 * np.pi * 440).astype(np.float32) * 0.5
    (ch,) = decode_audio(write_pcm(tmp_path / "tone.wav", x, 48000))
    assert abs(len(ch) - 16000) <= 16


@pytest.mark.parametrize("name,content,message", [
    ("empty.wav", b"", "empty file"),
    ("corrupt.wav", b"RIFF\x10\x00\x00\x00WAVEfmt garbage" + bytes(range(256)) * 4, "cannot decode"),
    ("noise.mp3", np.random.default_rng(1).integers(0, 255, 5000, dtype=np.uint8).tobytes(), ""),
    ("text.wav", "这不是音频文件".encode() * 50, "cannot decode"),
])
def test_unusable_files_raise_a_clear_per_file_error(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(AudioError) as err:
        decode_audio(p)
    assert err.value.path == str(p)
    assert message in err.value.message
    assert str(p) in str(err.value)


def test_zero_length_wav_is_an_error(tmp_path):
    p = write_pcm(tmp_path / "zero.wav", np.zeros((2, 0)), 8000)
    with pytest.raises(AudioError, match="zero-length"):
        decode_audio(p)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(AudioError, match="cannot read file"):
        decode_audio(tmp_path / "gone.wav")


def test_very_short_file_decodes(tmp_path):
    (ch,) = decode_audio(write_pcm(tmp_path / "blip.wav", np.full(80, 0.1), 8000))  # 10 ms
    assert 150 <= len(ch) <= 170


# --- discovery and manifests -------------------------------------------------------------------

def test_discover_mixes_audio_and_transcripts_recursively(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    write_pcm(tmp_path / "a" / "call1.wav", np.zeros(800), 8000)
    write_pcm(tmp_path / "a" / "b" / "call2.wav", np.zeros(800), 8000)
    (tmp_path / "a" / "b" / "t1.json").write_text((CALLS / "src" / "c07_repair_booking.json").read_text())
    (tmp_path / "a" / "notes.txt").write_text("ignored inside folders")
    inputs, errors = discover_inputs([tmp_path, tmp_path / "nope.wav", tmp_path / "a" / "notes.txt"])
    kinds = {(i.call_id, i.kind) for i in inputs}
    assert kinds == {("call1", "audio"), ("call2", "audio"), ("t1", "transcript")}
    assert all(i.agent_channel == "left" and i.agent_id == "unknown" for i in inputs)
    assert {Path(e.path).name for e in errors} == {"nope.wav", "notes.txt"}
    assert load_transcript(next(i.path for i in inputs if i.kind == "transcript")).call_id == "c07_repair_booking"


def test_manifest_sets_ids_channels_and_metadata(tmp_path):
    write_pcm(tmp_path / "x.wav", np.zeros(800), 8000)
    write_pcm(tmp_path / "y.wav", np.zeros(800), 8000)
    write_pcm(tmp_path / "z.wav", np.zeros(800), 8000)
    m = tmp_path / "manifest.csv"
    m.write_text("call_id,agent_id,audio,started_at,agent_channel,queue,region\n"
                 "C-1,A7,x.wav,2024-05-01T10:00:00+08:00,right,售后,华东\n"
                 "C-2,A8,y.wav,,,,\n", encoding="utf-8")
    inputs, errors = discover_inputs([tmp_path], manifest=m)
    assert not errors
    by_id = {i.call_id: i for i in inputs}
    assert set(by_id) == {"C-1", "C-2", "z"}
    c1 = by_id["C-1"]
    assert (c1.agent_id, c1.agent_channel, c1.started_at) == ("A7", "right", "2024-05-01T10:00:00+08:00")
    assert c1.metadata == {"queue": "售后", "region": "华东"} and c1.channel_from_manifest
    assert by_id["C-2"].agent_channel == "left" and not by_id["C-2"].channel_from_manifest
    # The manifest alone is enough: its recordings are the inputs.
    only, errs = discover_inputs([], manifest=m)
    assert {i.call_id for i in only} == {"C-1", "C-2"} and not errs


def test_manifest_errors_name_file_and_line(tmp_path):
    write_pcm(tmp_path / "x.wav", np.zeros(800), 8000)
    m = tmp_path / "m.csv"
    m.write_text("call_id,agent_id,audio,started_at,agent_channel\n"
                 "C-1,A1,x.wav,,left\n"
                 "C-2,A1,missing.wav,,left\n"
                 "C-1,A2,x.wav,,left\n"
                 "C-3,A1,x.wav,,middle\n"
                 ",A1,x.wav,,\n")
    inputs, errors = discover_inputs([], manifest=m)
    assert [i.call_id for i in inputs] == ["C-1"]
    where = {e.path.rsplit(":", 1)[1]: e.message for e in errors}
    assert set(where) == {"3", "4", "5", "6"}
    assert "missing.wav" in where["3"] and "line 2" in where["4"] and "middle" in where["5"]
    assert all(e.path.startswith(str(m)) for e in errors)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,file\n1,x.wav\n")
    _, errors = discover_inputs([], manifest=bad)
    assert errors[0].path == f"{bad}:1" and "call_id" in errors[0].message


def test_a_recording_whose_manifest_row_is_wrong_is_not_scored_under_its_file_name(tmp_path):
    # Scored as "y" (agent unknown), it would stay in the history beside the call the corrected
    # row then records: the same recording twice.
    for name in ("x", "y", "z"):
        write_pcm(tmp_path / f"{name}.wav", np.zeros(800), 8000)
    m = tmp_path / "manifest.csv"
    m.write_text("call_id,agent_id,audio,started_at,agent_channel\n"
                 "C-1,A1,x.wav,2026-12-02T10:00:00,left\n"
                 "C-2,A1,y.wav,2026/12/02 10:05,left\n", encoding="utf-8")
    inputs, errors = discover_inputs([tmp_path], manifest=m)
    assert {i.call_id for i in inputs} == {"C-1", "z"}  # z has no row: its file name, as before
    (e,) = errors
    assert e.path == f"{m}:3" and "started_at" in e.message and "not scored" in e.message
    only, errs = discover_inputs([], manifest=m)
    assert [i.call_id for i in only] == ["C-1"] and len(errs) == 1


def test_duplicate_call_ids_are_reported(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_pcm(tmp_path / "a" / "same.wav", np.zeros(800), 8000)
    write_pcm(tmp_path / "b" / "same.wav", np.zeros(800), 8000)
    inputs, errors = discover_inputs([tmp_path])
    assert len(inputs) == 1 and "also used" in errors[0].message


def test_call_input_defaults():
    c = CallInput(path=Path("x.wav"), kind="audio", call_id="x")
    assert (c.agent_id, c.started_at, c.agent_channel, c.metadata) == ("unknown", None, "left", {})


# --- model assembly ------------------------------------------------------------------------------

def test_base_model_assembles_once_and_verifies(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_SCORER_MODELS", str(tmp_path))
    path = Path(asr_models.resolve_model("base"))
    assert (path / "model.bin").stat().st_size == asr_models.PACKAGED["base"].size
    assert {"config.json", "tokenizer.json", "vocabulary.json"} <= {p.name for p in path.iterdir()}
    mtime = (path / "model.bin").stat().st_mtime_ns
    assert asr_models.resolve_model("base") == str(path)  # no second assembly
    assert (path / "model.bin").stat().st_mtime_ns == mtime
    listed = {m["name"]: m for m in asr_models.list_models()}
    assert listed["base"]["assembled"] == str(path) and listed["base"]["status"] == "ready"


def test_checksum_mismatch_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_SCORER_MODELS", str(tmp_path))
    bad = asr_models.PackagedModel(name="base", packages=asr_models.PACKAGED["base"].packages,
                                   extra="", size=asr_models.PACKAGED["base"].size, sha256="0" * 64)
    with pytest.raises(asr_models.ModelError, match="SHA-256"):
        asr_models.assemble(bad)
    assert not any(p.name.startswith("whisper-base") for p in tmp_path.iterdir())


def test_other_model_names(tmp_path):
    with pytest.raises(asr_models.ModelError):
        asr_models.resolve_model("small")  # published packages are truncated (or not installed)
    with pytest.raises(asr_models.ModelError, match="no model.bin"):
        asr_models.resolve_model(str(tmp_path))
    (tmp_path / "model.bin").write_bytes(b"x")
    assert asr_models.resolve_model(str(tmp_path)) == str(tmp_path)
    assert asr_models.resolve_model("large-v3") == "large-v3"  # a hub name, left to faster-whisper


def test_a_wav_file_cut_off_is_told_from_a_whole_one(tmp_path):
    """A WAV that holds less audio than its header's data size (an upload or copy that failed)
    is told apart: a whole file, a streaming writer's open size and a few missing bytes are not."""
    import struct

    from qa_scorer.pipeline import cut_off_calls
    from qa_scorer.models import Transcript
    from qa_scorer.transcribe.call import cut_off

    whole = write_pcm(tmp_path / "whole.wav", np.zeros(8000 * 20), 8000)  # 20 s
    data = whole.read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    (tmp_path / "few.wav").write_bytes(data[:-400])  # 25 ms short
    open_size = bytearray(data[: len(data) // 2])
    at = open_size.find(b"data")
    open_size[at + 4:at + 8] = struct.pack("<I", 0xFFFFFFFF)
    (tmp_path / "live.wav").write_bytes(bytes(open_size))
    decoded = {n: len(decode_audio(tmp_path / f"{n}.wav")[0]) / 16000 for n in ("whole", "cut", "few", "live")}
    cut = cut_off(tmp_path / "cut.wav", decoded["cut"])
    assert cut == {"header_s": pytest.approx(20.0, abs=0.01), "decoded_s": pytest.approx(10.0, abs=0.01)}
    assert all(cut_off(tmp_path / f"{n}.wav", decoded[n]) is None for n in ("whole", "few", "live"))
    t = Transcript.model_validate({"version": 1, "call_id": "c", "segments": [],
                                   "metadata": {"asr": {"cut_off": cut}}})
    (why,) = [w for _, w in cut_off_calls([t])]
    assert "10.0 s of the 20.0 s" in why and cut_off_calls([Transcript.model_validate(
        {"version": 1, "call_id": "d", "segments": [], "metadata": {"asr": {"cut_off": "x"}}})]) == []
