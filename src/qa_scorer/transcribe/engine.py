"""Whisper through faster-whisper: the only module that imports it (lazily).

Loads models, finds speech (faster-whisper's Silero VAD), decodes many windows at once with
faster-whisper's batched pipeline (``beam_size``, word timestamps), and decodes a failed window
again the careful way (beam search with the temperature fallback).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, Optional

import numpy as np

from qa_scorer.models import Word
from qa_scorer.normalize import to_simplified

from .asr_models import resolve_model
from .options import SR, TranscribeOptions, hotword_string

# Counters for this process (tests and the bench read them).
STATS = {"model_runs": 0, "cache_hits": 0, "model_loads": 0, "windows": 0, "fallback_windows": 0}

_MODELS: dict[tuple, Any] = {}
_PIPELINES: dict[int, Any] = {}

# Seed of the decoder's sampling (the careful decoding's temperature fallback). CTranslate2 seeds
# each decoding thread's generator once, at its first sample, from a process-wide seed that is
# random unless set: unset, a window decoded the careful way came out differently from process to
# process (a phone number in one run, the prompt read back in the next). Set before a model is
# loaded, a batch transcribes the same way every time it is run in the same order on the same
# machine; the generator runs on from call to call, so one call's careful decoding may still
# differ with the calls decoded before it in the process.
SAMPLING_SEED = 20241


def resolve_device(device: str) -> str:
    if device == "auto":
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    return device


def load_model(options: TranscribeOptions, path: Optional[str] = None, threads: int = 0):
    """The WhisperModel for these options, loaded once per process."""
    from faster_whisper import WhisperModel

    path = path or resolve_model(options.model)
    device = resolve_device(options.device)
    compute = options.compute_type
    if device == "cuda" and compute == "int8":
        compute = "int8_float16"
    threads = threads or options.cpu_threads or (os.cpu_count() or 1)
    key = (path, device, compute, threads)
    if key not in _MODELS:
        import ctranslate2

        ctranslate2.set_random_seed(SAMPLING_SEED)
        _MODELS[key] = WhisperModel(path, device=device, compute_type=compute, cpu_threads=threads,
                                    num_workers=1)
        STATS["model_loads"] += 1
    return _MODELS[key]


VAD_BLOCK_S = 30.0


def speech_regions(audio: np.ndarray, min_pause: float) -> list[tuple[float, float]]:
    """Where the channel has speech, as (start, end) seconds, merged across pauses < min_pause.

    The speech detector runs on 30-second blocks: run over a long stretch at once, faster-whisper's
    Silero VAD stops detecting speech that follows a minute or more of silence or noise (a long hold
    would swallow the rest of the call).
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vad = VadOptions(min_silence_duration_ms=int(min_pause * 1000), speech_pad_ms=30,
                     min_speech_duration_ms=100)
    block = int(VAD_BLOCK_S * SR)
    found: list[tuple[float, float]] = []
    for b0 in range(0, len(audio), block):
        piece = audio[b0:b0 + block]
        if len(piece) < SR // 10 or float(np.abs(piece).max()) < 1e-4:
            continue
        for t in get_speech_timestamps(piece, vad):
            a, b = (t["start"] + b0) / SR, (t["end"] + b0) / SR
            if found and a - found[-1][1] < min_pause:
                found[-1] = (found[-1][0], b)
            else:
                found.append((a, b))
    return [(round(a, 3), round(b, 3)) for a, b in found]


@dataclass
class Decoded:
    """What the decoder made of one stretch of audio: words (simplified Chinese, times in the
    stretch), the whole text and the decoder's confidence."""

    words: list[Word]
    text: str
    avg_logprob: float
    no_speech_prob: float


def _words(seg, duration: float) -> list[Word]:
    words = [
        Word(word=to_simplified(w.word), start=round(max(0.0, w.start), 2),
             end=round(min(duration, max(w.end, w.start)), 2), probability=round(float(w.probability), 3))
        for w in (seg.words or [])
    ]
    if not words and seg.text.strip():
        words = [Word(word=to_simplified(seg.text.strip()), start=round(seg.start, 2),
                      end=round(min(duration, seg.end), 2))]
    return words


_SPACE = re.compile(r"\s+")


def _unaligned_rest(words: list[Word], text: str, end: float) -> list[Word]:
    """Words for text the decoder gave but its word timings left out, spread evenly from the last
    timed word to ``end``. A token that is not whole UTF-8 (it decodes to U+FFFD) ends
    faster-whisper's word list early while the text goes on: without this, everything said after
    it is lost (a whole agent turn in a rendered call). Empty when the words cover the text."""
    said = _SPACE.sub("", "".join(w.word for w in words)).replace("\ufffd", "")
    full = _SPACE.sub("", text).replace("\ufffd", "")
    if len(full) - len(said) < 4:
        return []
    # where the timed words end in the text: the longest stretch they share, taken from its end
    m = SequenceMatcher(None, full, said, autojunk=False)
    blocks = [b for b in m.get_matching_blocks() if b.size]
    cut = blocks[-1].a + blocks[-1].size if blocks else 0
    rest = full[cut:]
    if len(rest) < 4:
        return []
    start = max((w.end for w in words), default=0.0)
    if end - start < 0.2 * len(rest) / 5:  # not even a fifth of the time that much speech takes
        return []
    chars = []
    for c in rest:  # punctuation stays with the character before it
        if chars and not c.isalnum():
            chars[-1] += c
        else:
            chars.append(c)
    step = (end - start) / len(chars)
    return [Word(word=c, start=round(start + k * step, 2), end=round(start + (k + 1) * step, 2), probability=None)
            for k, c in enumerate(chars)]


def _pipeline(model):
    from faster_whisper import BatchedInferencePipeline

    if id(model) not in _PIPELINES:
        _PIPELINES[id(model)] = BatchedInferencePipeline(model)
    return _PIPELINES[id(model)]


def decode_batch(model, pieces: list[np.ndarray], options: TranscribeOptions) -> list[Decoded]:
    """Decode stretches of at most 30 s together (``batch_size`` at a time, one encoder and one
    decoder call per batch), with ``beam_size``, without timestamp tokens but with word
    timestamps; one result per stretch, in order, word times within the stretch."""
    if not pieces:
        return []
    bounds, at = [], 0
    for p in pieces:
        bounds.append((at, at + len(p)))
        at += len(p)
    audio = np.concatenate(pieces).astype(np.float32)
    clips = [{"start": a / SR, "end": b / SR} for a, b in bounds]
    STATS["model_runs"] += 1
    STATS["windows"] += len(pieces)
    segments, _info = _pipeline(model).transcribe(
        audio, language=options.language, task="transcribe", beam_size=options.beam_size,
        batch_size=options.batch_size, clip_timestamps=clips, without_timestamps=True,
        word_timestamps=True, initial_prompt=options.initial_prompt, hotwords=hotword_string(options),
        repetition_penalty=options.repetition_penalty, no_repeat_ngram_size=options.no_repeat_ngram_size,
        temperature=0.0, log_progress=False)
    out = [Decoded([], "", 0.0, 0.0) for _ in pieces]
    starts = np.array([c["start"] for c in clips])
    texts: list[list[str]] = [[] for _ in pieces]
    for seg in segments:
        i = int(np.argmin(np.abs(starts - seg.start)))
        offset, dur = clips[i]["start"], clips[i]["end"] - clips[i]["start"]
        d = out[i]
        timed = _words(seg, clips[i]["end"])
        # (seg.end is the last timed word's end, so the rest is spread to the stretch's end)
        timed += _unaligned_rest(timed, to_simplified(seg.text), clips[i]["end"])
        for w in timed:
            d.words.append(w.model_copy(update={"start": round(max(0.0, w.start - offset), 2),
                                                "end": round(min(dur, max(0.0, w.end - offset)), 2)}))
        texts[i].append(seg.text)
        d.avg_logprob, d.no_speech_prob = seg.avg_logprob, seg.no_speech_prob
    for d, t in zip(out, texts):
        d.text = to_simplified("".join(t))
    return out


def decode_careful(model, audio: np.ndarray, options: TranscribeOptions) -> list[Decoded]:
    """Decode one stretch the careful way: beam search and Whisper's temperature fallback; one
    result per decoded segment (times in the stretch)."""
    STATS["model_runs"] += 1
    segments, _info = model.transcribe(
        audio, language=options.language, beam_size=options.fallback_beam_size,
        temperature=list(options.temperatures), compression_ratio_threshold=options.compression_ratio_threshold,
        log_prob_threshold=options.log_prob_threshold, no_speech_threshold=options.no_speech_threshold,
        repetition_penalty=options.repetition_penalty, no_repeat_ngram_size=options.no_repeat_ngram_size,
        vad_filter=False, initial_prompt=options.initial_prompt,
        condition_on_previous_text=options.condition_on_previous_text, hotwords=hotword_string(options),
        word_timestamps=True)
    duration = len(audio) / SR
    return [Decoded(_words(seg, duration), to_simplified(seg.text), seg.avg_logprob, seg.no_speech_prob)
            for seg in segments]
