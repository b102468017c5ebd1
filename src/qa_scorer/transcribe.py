"""Recordings → transcripts (format v1) with faster-whisper; the only module that imports it (lazily).

One call: decode, transcribe each channel (stereo: agent and customer apart) or the mixed voice
(mono: then separate the voices), split into utterances at pauses using word timestamps, drop
hallucinated text, convert to simplified Chinese, assign roles. A batch adds a cache keyed by the
audio's content and the options, a process pool that loads the model once per worker, a progress
bar, and a per-file error list.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from qa_scorer import diarize
from qa_scorer.asr_models import ModelError, list_models, model_identity, resolve_model
from qa_scorer.ingest import (AudioError, CallInput, TranscriptError, audio_channels, decode_audio,
                              load_transcript, probe_duration)
from qa_scorer.models import InputError, Segment, Transcript, Word
from qa_scorer.outputs import atomic_write_text

__all__ = [
    "TranscribeOptions", "transcribe_call", "transcribe_batch", "list_models", "resolve_model",
    "ModelError", "STATS",
]

SR = 16000
# Bump when splitting, guarding or role logic changes what a transcript holds: old cache entries
# then stop matching.
PIPELINE_VERSION = 2

# Plain and short: with question marks or many commas in the prompt, Whisper base starts emitting
# broken punctuation bytes (fullwidth letters and digits) in Chinese output.
DEFAULT_PROMPT = "以下是普通话客服电话录音，使用简体中文。"

# Text Whisper invents on silence and noise (subtitle credits, video outros), compared after
# simplified conversion with punctuation and spaces removed, lower case.
HALLUCINATIONS = (
    "字幕由amaraorg社群提供", "由amaraorg社区提供的字幕", "amaraorg",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目", "请不吝点赞", "订阅转发打赏", "打赏支持明镜", "明镜与点点栏目",
    "明镜需要您的支持", "欢迎订阅明镜", "点赞订阅转发", "点赞订阅", "订阅我的频道",
    "谢谢观看", "感谢观看", "谢谢收看", "感谢收看", "感谢您的观看", "谢谢大家观看", "下次再见",
    "优优独播剧场", "yoyotelevisionseriesexclusive", "独播剧场",
    "中文字幕", "字幕志愿者", "字幕组", "本字幕由", "字幕由", "字幕by", "校对",
    "以上言论不代表本台立场", "词曲李宗盛", "作词", "作曲",
)
_PUNCT_RE = re.compile(r"[\s\W_]+", re.UNICODE)


def _norm(text: str) -> str:
    return _PUNCT_RE.sub("", unicodedata.normalize("NFKC", text)).lower()


class TranscribeOptions(BaseModel):
    """Everything that decides how recordings are transcribed; defaults are defined here only."""

    model_config = ConfigDict(extra="forbid")

    model: str = "base"  # base | small | a CTranslate2 folder | a hub name
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"  # int8 on CPU; float16 / int8_float16 on CUDA
    language: str = "zh"
    vad: bool = True
    vad_speech_pad_ms: int = Field(200, ge=0)
    beam_size: int = Field(5, ge=1)
    # Mild penalty against repetition loops (fast speech without pauses sends base into loops).
    repetition_penalty: float = Field(1.0, ge=1.0)
    # A segment caught in a loop is decoded again on its own with this penalty.
    loop_retry_penalty: float = Field(1.1, ge=1.0)
    no_repeat_ngram_size: int = Field(0, ge=0)
    initial_prompt: Optional[str] = DEFAULT_PROMPT
    condition_on_previous_text: bool = False
    hotwords: Optional[list[str]] = None  # e.g. rubric phrases; bounded by max_hotword_chars
    max_hotword_chars: int = 120
    # Utterances: a new one starts where the voice pauses at least this long (VAD on the channel).
    split_pause: float = Field(0.5, gt=0)
    # Mono: turns are only told apart by pauses, so split finer (voices are clustered afterwards).
    mono_split_pause: float = Field(0.25, gt=0)
    # Hallucination guard.
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    drop_log_prob: float = -1.4  # segments below this average log-probability are dropped
    max_repeats: int = 3  # a phrase repeated more often than this in a row is a loop
    agent_channel: Literal["left", "right", "auto", "mono"] = "left"
    cpu_threads: int = Field(0, ge=0)  # per worker; 0 = cores / workers
    workers: int = Field(0, ge=0)  # 0 = chosen from the core count
    batch_size: int = Field(8, ge=1)  # CUDA batched pipeline

    def cache_fields(self) -> dict[str, Any]:
        """The options that change a transcript (not how fast it is made)."""
        return self.model_dump(exclude={"cpu_threads", "workers", "batch_size", "model"})

    def plan(self, n_calls: int) -> tuple[int, int]:
        """(workers, threads per worker) for this machine."""
        cores = os.cpu_count() or 1
        if self.device == "cuda":
            workers = 1
        else:
            workers = self.workers or max(1, cores // 4)
        workers = max(1, min(workers, n_calls or 1))
        threads = self.cpu_threads or max(1, cores // workers)
        return workers, threads


# Counters for this process (tests and the bench read them).
STATS = {"model_runs": 0, "cache_hits": 0, "model_loads": 0}
LAST_BATCH: dict[str, Any] = {}


# --- model ----------------------------------------------------------------------------------------

_MODELS: dict[tuple, Any] = {}


def _load_model(options: TranscribeOptions, path: Optional[str] = None, threads: int = 0):
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    path = path or resolve_model(options.model)
    device = options.device
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute = options.compute_type
    if device == "cuda" and compute == "int8":
        compute = "int8_float16"
    threads = threads or options.cpu_threads or (os.cpu_count() or 1)
    key = (path, device, compute, threads)
    if key not in _MODELS:
        model = WhisperModel(path, device=device, compute_type=compute, cpu_threads=threads, num_workers=1)
        STATS["model_loads"] += 1
        _MODELS[key] = BatchedInferencePipeline(model) if device == "cuda" else model
    return _MODELS[key]


# --- one channel ----------------------------------------------------------------------------------

_T2S = None


def to_simplified(text: str) -> str:
    global _T2S
    if _T2S is None:
        import opencc

        _T2S = opencc.OpenCC("t2s")
    return _T2S.convert(text)


@dataclass
class _Utt:
    start: float
    end: float
    words: list[Word]

    @property
    def text(self) -> str:
        return "".join(w.word for w in self.words).strip()


def _hotword_string(options: TranscribeOptions) -> Optional[str]:
    if not options.hotwords:
        return None
    out, used = [], 0
    for w in dict.fromkeys(h.strip() for h in options.hotwords if h and h.strip()):
        if used + len(w) > options.max_hotword_chars:
            break
        out.append(w)
        used += len(w) + 1
    return " ".join(out) or None


def _run_model(model, audio: np.ndarray, options: TranscribeOptions,
               chunks: Optional[list[tuple[float, float]]] = None):
    """Decoded segments (with words) of ``audio``; with ``chunks`` only those stretches are decoded
    (concatenated, as faster-whisper's own VAD filter does) and times are mapped back."""
    kwargs = dict(
        language=options.language,
        beam_size=options.beam_size,
        repetition_penalty=options.repetition_penalty,
        no_repeat_ngram_size=options.no_repeat_ngram_size,
        vad_filter=False,
        initial_prompt=options.initial_prompt,
        condition_on_previous_text=options.condition_on_previous_text,
        hotwords=_hotword_string(options),
        word_timestamps=True,
        no_speech_threshold=options.no_speech_threshold,
        log_prob_threshold=options.log_prob_threshold,
    )
    STATS["model_runs"] += 1
    spans = [{"start": int(a * SR), "end": int(b * SR)} for a, b in chunks] if chunks is not None else None
    if type(model).__name__ == "BatchedInferencePipeline":
        kwargs.pop("condition_on_previous_text")
        kwargs["batch_size"] = options.batch_size
        if spans is not None:
            kwargs["clip_timestamps"] = spans
        segments, _info = model.transcribe(audio, **kwargs)
        return list(segments)
    if spans is None:
        segments, _info = model.transcribe(audio, **kwargs)
        return list(segments)
    from faster_whisper.transcribe import restore_speech_timestamps
    from faster_whisper.vad import collect_chunks

    pieces, _meta = collect_chunks(audio, spans, sampling_rate=SR)
    segments, _info = model.transcribe(np.concatenate(pieces), **kwargs)
    return list(restore_speech_timestamps(segments, spans, SR))


def _is_loop(words: Sequence[str], max_repeats: int) -> list[bool]:
    """Mark words that continue a phrase repeated more than ``max_repeats`` times in a row."""
    drop = [False] * len(words)
    n = len(words)
    for size in range(1, 7):
        i = 0
        while i + size <= n:
            unit = words[i:i + size]
            if not "".join(unit):
                i += 1
                continue
            j = i + size
            reps = 1
            while j + size <= n and words[j:j + size] == unit:
                reps += 1
                j += size
            if reps > max_repeats:
                for k in range(i + size, j):  # keep the first occurrence
                    drop[k] = True
                i = j
            else:
                i += 1
    return drop


def _guard_words(words: list[Word], max_repeats: int) -> list[Word]:
    """Remove known hallucination phrases and repetition loops from a run of words."""
    if not words:
        return words
    normed = [_norm(w.word) for w in words]
    chars, owner = [], []
    for i, t in enumerate(normed):
        chars.append(t)
        owner.extend([i] * len(t))
    flat = "".join(chars)
    bad = set()
    for phrase in HALLUCINATIONS:
        start = flat.find(phrase)
        while start >= 0:
            bad.update(owner[start:start + len(phrase)])
            start = flat.find(phrase, start + 1)
    loop = _is_loop([t for t in normed], max_repeats)
    kept = [w for i, w in enumerate(words) if i not in bad and not loop[i]]
    return kept if any(_norm(w.word) for w in kept) else []


def _echoes_prompt(words: list[Word], prompt: Optional[str]) -> bool:
    """True when a segment's whole text is a piece of the initial prompt (4 characters or more):
    on noise or hiss Whisper may read its own prompt back (录音，使用简体中文。)."""
    if not words or not prompt:
        return False
    said = "".join(_norm(w.word) for w in words)
    return len(said) >= 4 and said in _norm(to_simplified(prompt))


def _segment_words(seg, options: TranscribeOptions, dropped: dict, duration: float,
                   offset: float) -> Optional[list[Word]]:
    """A decoded segment's words (simplified, times shifted by ``offset``); None if it is dropped."""
    if seg.avg_logprob < options.drop_log_prob or (
        seg.no_speech_prob > options.no_speech_threshold and seg.avg_logprob < options.log_prob_threshold + 0.3
    ):
        dropped["low_confidence"] += 1
        return None
    words = [
        Word(word=to_simplified(w.word), start=round(max(0.0, w.start + offset), 2),
             end=round(min(duration, max(w.end, w.start) + offset), 2),
             probability=round(float(w.probability), 3))
        for w in (seg.words or [])
    ]
    if not words and seg.text.strip():
        words = [Word(word=to_simplified(seg.text.strip()), start=round(seg.start + offset, 2),
                      end=round(min(duration, seg.end + offset), 2))]
    return words


def transcribe_channel(model, audio: np.ndarray, options: TranscribeOptions,
                       split_pause: Optional[float] = None) -> tuple[list[_Utt], dict]:
    """Utterances of one voice channel, guarded and in simplified Chinese, and what was dropped."""
    split_pause = split_pause or options.split_pause
    dropped = {"low_confidence": 0, "hallucination_words": 0, "loop_retries": 0}
    if audio.size == 0 or float(np.abs(audio).max()) < 1e-4:  # digital silence
        return [], dropped
    duration = len(audio) / SR
    regions = speech_regions(audio, split_pause) if options.vad else []
    if options.vad and not regions:
        return [], dropped
    chunks = _pad_regions(regions, options, duration) if options.vad else None
    raw = _run_model(model, audio, options, chunks)
    words: list[Word] = []
    for seg in raw:
        seg_words = _segment_words(seg, options, dropped, duration, 0.0)
        if seg_words is None:
            continue
        if any(_is_loop([_norm(w.word) for w in seg_words], options.max_repeats)):
            # Caught in a loop: decode this stretch again, one speech region at a time, with a
            # repetition penalty (short windows give the decoder less room to run away).
            retry_opts = options.model_copy(update={"repetition_penalty": options.loop_retry_penalty,
                                                    "vad": False})
            retried: list[Word] = []
            lo, hi = seg.start, min(duration, seg.end)
            for ra, rb in regions or [(lo, hi)]:
                ra, rb = max(ra, lo - 0.2), min(rb, hi + 0.2)
                if rb - ra < 0.2:
                    continue
                piece = audio[int(ra * SR):int(rb * SR)]
                for rseg in _run_model(model, piece, retry_opts):
                    retried += _segment_words(rseg, options, dropped, duration, ra) or []
            dropped["loop_retries"] += 1
            seg_words = retried
        kept = _guard_words(seg_words, options.max_repeats)
        if _echoes_prompt(kept, options.initial_prompt):
            kept = []
        dropped["hallucination_words"] += len(seg_words) - len(kept)
        words.extend(kept)
    utts = _split_utterances(words, regions, split_pause)
    # Drop utterances with no content left (only punctuation).
    return [u for u in utts if _norm(u.text)], dropped


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


def _pad_regions(regions: list[tuple[float, float]], options: TranscribeOptions,
                 duration: float) -> list[tuple[float, float]]:
    """Stretches handed to the decoder: speech regions with some context, overlaps merged."""
    pad = options.vad_speech_pad_ms / 1000
    out: list[tuple[float, float]] = []
    for a, b in regions:
        a, b = max(0.0, a - pad), min(duration, b + pad)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _split_utterances(words: list[Word], regions: list[tuple[float, float]],
                      split_pause: float) -> list[_Utt]:
    """Group words into utterances: one per speech region (regions are split at pauses).

    An utterance's start and end come from the speech detector where the words sit inside the
    region (more precise than word timestamps at turn edges), else from the words. Without
    regions (VAD off) a pause of ``split_pause`` between words starts a new utterance.
    """
    if not regions:
        plain: list[_Utt] = []
        for w in words:
            if plain and w.start - plain[-1].end < split_pause:
                plain[-1].words.append(w)
                plain[-1].end = max(plain[-1].end, w.end)
            else:
                plain.append(_Utt(w.start, w.end, [w]))
        return plain
    groups: dict[int, list[Word]] = {}
    for w in words:
        mid = (w.start + w.end) / 2
        best, best_d = -1, float("inf")
        for i, (a, b) in enumerate(regions):
            d = 0.0 if a <= mid <= b else min(abs(mid - a), abs(mid - b))
            if d < best_d:
                best, best_d = i, d
        key = best if best_d <= 1.0 else -1 - len(groups)  # words far from any region stand alone
        groups.setdefault(key, []).append(w)
    utts = []
    for key, ws in groups.items():
        start, end = ws[0].start, max(w.end for w in ws)
        if key >= 0:
            a, b = regions[key]
            # Trust the detector's edges unless the words are far inside (untranscribed speech).
            if abs(start - a) < 1.0:
                start = a
            if abs(end - b) < 1.0:
                end = b
        utts.append(_Utt(round(start, 2), round(end, 2), ws))
    utts.sort(key=lambda u: u.start)
    return utts


# --- one call -------------------------------------------------------------------------------------

def _effective_channel(inp: CallInput, options: TranscribeOptions) -> str:
    return inp.agent_channel if inp.channel_from_manifest else options.agent_channel


def _same_signal(a: np.ndarray, b: np.ndarray) -> bool:
    """True for 'stereo' files whose two channels carry the same mix (dual mono)."""
    if a.shape != b.shape:
        return False
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()), 1e-9)
    return float(np.abs(a - b).max()) / scale < 0.02


def _seg(u: _Utt, speaker: str, confidence: float) -> Segment:
    return Segment(speaker=speaker, text=u.text, start=u.start, end=max(u.start, u.end),
                   words=u.words, speaker_confidence=confidence)


def transcribe_audio(inp: CallInput, channels: list[np.ndarray], options: TranscribeOptions,
                     model=None) -> Transcript:
    """Transcribe already-decoded channels (16 kHz float32) of one call."""
    model = model or _load_model(options)
    duration = round(max(len(c) for c in channels) / SR, 3)
    requested = _effective_channel(inp, options)
    stereo = len(channels) >= 2 and requested != "mono" and not _same_signal(channels[0], channels[1])
    roles: dict[str, Any]
    dropped_total = {"low_confidence": 0, "hallucination_words": 0, "loop_retries": 0}
    segments: list[Segment] = []
    if stereo:
        per = []
        for ch in channels[:2]:
            utts, dropped = transcribe_channel(model, ch, options)
            per.append(utts)
            for k, v in dropped.items():
                dropped_total[k] += v
        if requested == "auto":
            agent, conf, why = diarize.decide_stereo_roles(
                [(u.start, u.text) for u in per[0]], [(u.start, u.text) for u in per[1]])
            roles = {"method": "stereo-auto", "agent_channel": agent, "confidence": conf, "note": why}
        else:
            agent, conf = requested, 1.0
            roles = {"method": "stereo-channel", "agent_channel": agent, "confidence": 1.0}
        agent_idx = 0 if agent == "left" else 1
        for idx, utts in enumerate(per):
            speaker = "agent" if idx == agent_idx else "customer"
            segments += [_seg(u, speaker, conf) for u in utts]
    else:
        mono = channels[0] if len(channels) == 1 else (channels[0] + channels[1]) * 0.5
        utts, dropped_total = transcribe_channel(model, mono, options, options.mono_split_pause)
        sep = diarize.separate_mono(mono, [(u.start, u.end, u.text) for u in utts])
        # Rejoin consecutive pieces of one voice that only a short pause separates.
        merged: list[tuple[_Utt, str, float]] = []
        for u, sp, c in zip(utts, sep.speakers, sep.confidence):
            if merged and merged[-1][1] == sp and u.start - merged[-1][0].end < options.split_pause:
                prev, _, pc = merged[-1]
                merged[-1] = (_Utt(prev.start, max(prev.end, u.end), prev.words + u.words), sp, min(pc, c))
            else:
                merged.append((u, sp, c))
        segments = [_seg(u, sp, c) for u, sp, c in merged]
        roles = {"method": sep.method, "agent_channel": None,
                 "confidence": round(float(np.mean(sep.confidence)), 2) if sep.confidence else None,
                 "note": sep.note + "; roles and overlap timings are estimates"}
        if len(channels) >= 2:
            roles["note"] += ("; both channels carry the same signal" if requested != "mono"
                              else "; mixed to mono as requested")
    segments.sort(key=lambda s: (s.start or 0.0, s.end or 0.0))
    n_in = audio_channels(inp.path) if inp.path else None
    if n_in and n_in > 2:
        roles["note"] = (roles.get("note", "") + "; " if roles.get("note") else "") + (
            f"the recording has {n_in} channels: only the first two (left/right) were transcribed")
    asr = {
        "engine": "faster-whisper",
        "model": options.model,
        "compute_type": options.compute_type,
        "device": options.device,
        "language": options.language,
        "vad": options.vad,
        "channels": len(channels),
        **({"channels_in_file": n_in} if n_in and n_in > 2 else {}),
        "duration": duration,
        "dropped": dropped_total,
        "pipeline_version": PIPELINE_VERSION,
    }
    return Transcript(
        call_id=inp.call_id, agent_id=inp.agent_id, channel="phone", started_at=inp.started_at,
        audio=str(inp.path), segments=segments,
        metadata={**inp.metadata, "asr": asr, "roles": roles},
    )


def transcribe_call(inp: CallInput, options: Optional[TranscribeOptions] = None) -> Transcript:
    """Transcribe one recording into a transcript v1. Raises AudioError for unusable audio."""
    options = options or TranscribeOptions()
    channels = decode_audio(inp.path, SR)
    return transcribe_audio(inp, channels, options)


# --- batches and cache ----------------------------------------------------------------------------

def audio_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def cache_key(content_hash: str, model_id: str, options: TranscribeOptions, agent_channel: str) -> str:
    fields = options.cache_fields()
    fields["agent_channel"] = agent_channel
    blob = json.dumps({"audio": content_hash, "model": model_id, "options": fields,
                       "pipeline": PIPELINE_VERSION}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _restamp(t: Transcript, inp: CallInput) -> Transcript:
    """A cached transcript carries the content; the call's identity comes from this input."""
    meta = {k: v for k, v in t.metadata.items() if k in ("asr", "roles")}
    return t.model_copy(update={
        "call_id": inp.call_id, "agent_id": inp.agent_id, "started_at": inp.started_at,
        "audio": str(inp.path), "metadata": {**inp.metadata, **meta},
    })


def _write_atomic(path: Path, text: str) -> None:
    atomic_write_text(path, text)


_WORKER: dict[str, Any] = {}


def _worker_init(model_path: str, options_json: str, threads: int) -> None:
    options = TranscribeOptions.model_validate_json(options_json)
    _WORKER["options"] = options
    _WORKER["model"] = _load_model(options, model_path, threads)


def _worker_run(inp: CallInput) -> tuple[Optional[str], Optional[str], float]:
    """(transcript JSON, error message, peak RSS MB) for one call in a worker."""
    try:
        channels = decode_audio(inp.path, SR)
        t = transcribe_audio(inp, channels, _WORKER["options"], _WORKER["model"])
        out, err = t.model_dump_json(), None
    except AudioError as exc:
        out, err = None, exc.message
    except Exception as exc:  # noqa: BLE001 - one bad call must not end the batch
        out, err = None, f"transcription failed: {type(exc).__name__}: {exc}"
    return out, err, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _progress(enabled: bool, total_seconds: float, n_calls: int, done_calls: int):
    from rich.console import Console
    from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    progress = Progress(
        TextColumn("[bold]transcribing"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[calls]} calls"),
        TextColumn("{task.fields[hours]} h audio"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
    task = progress.add_task("asr", total=max(total_seconds, 1e-9), calls=f"{done_calls}/{n_calls}",
                             hours=f"0.00/{total_seconds / 3600:.2f}")
    return progress, task


def transcribe_batch(
    inputs: Sequence[CallInput],
    options: Optional[TranscribeOptions] = None,
    cache_dir: Path = Path(".qa-scorer-cache"),
    *,
    retranscribe: bool = False,
    progress: bool = True,
) -> tuple[list[tuple[CallInput, Transcript]], list[InputError]]:
    """Transcripts for many calls, in input order, and the calls that failed (the batch goes on).

    Transcript inputs are loaded as they are. Audio inputs are looked up in ``cache_dir`` by
    content hash + model + options, and only the missing ones are transcribed; each finished
    transcript is written to the cache at once, so a batch that is stopped and run again picks up
    where it was. ``retranscribe`` ignores (and replaces) cached transcripts.
    """
    options = options or TranscribeOptions()
    cache_dir = Path(cache_dir)
    results: dict[int, tuple[CallInput, Transcript]] = {}
    errors: list[tuple[int, InputError]] = []
    pending: list[tuple[int, CallInput, Path, float]] = []
    started = time.perf_counter()

    model_path: Optional[str] = None
    model_error: Optional[str] = None
    needs_audio = any(i.kind == "audio" for i in inputs)
    if needs_audio:
        try:
            model_path = resolve_model(options.model)
        except ModelError as exc:
            model_error = str(exc)
        cache_dir.mkdir(parents=True, exist_ok=True)
    model_id = model_identity(options.model, model_path) if model_path else ""

    for idx, inp in enumerate(inputs):
        if inp.kind == "transcript":
            try:
                results[idx] = (inp, load_transcript(inp.path))
            except TranscriptError as exc:
                errors.append((idx, InputError(path=str(inp.path), message=exc.message)))
            except Exception as exc:  # noqa: BLE001 - one bad file must not end the batch
                errors.append((idx, InputError(path=str(inp.path),
                                               message=f"cannot be read ({type(exc).__name__}: {exc})")))
            continue
        if model_error:
            errors.append((idx, InputError(path=str(inp.path), message=model_error)))
            continue
        if not inp.path.is_file():  # a FIFO or device would block the reads below
            errors.append((idx, InputError(path=str(inp.path), message="not a regular file")))
            continue
        try:
            content = audio_hash(inp.path)
        except OSError as exc:
            errors.append((idx, InputError(path=str(inp.path), message=f"cannot read file: {exc.strerror or exc}")))
            continue
        entry = cache_dir / f"{cache_key(content, model_id, options, _effective_channel(inp, options))}.json"
        if entry.is_file() and not retranscribe:
            try:
                cached = Transcript.model_validate_json(entry.read_text(encoding="utf-8"))
                results[idx] = (inp, _restamp(cached, inp))
                STATS["cache_hits"] += 1
                continue
            except (ValueError, OSError):
                pass  # unreadable entry: transcribe again
        pending.append((idx, inp, entry, probe_duration(inp.path) or 0.0))

    workers, threads = options.plan(len(pending))
    total_s = sum(d for *_, d in pending)
    done_calls = len(inputs) - len(pending)
    peak_rss: list[float] = []
    bar, task = _progress(progress and bool(pending), total_s, len(inputs), done_calls)
    done_s = 0.0

    def finish(idx: int, inp: CallInput, entry: Path, dur: float, out: Optional[str], err: Optional[str]):
        nonlocal done_s, done_calls
        if err is not None:
            errors.append((idx, InputError(path=str(inp.path), message=err)))
        else:
            assert out is not None
            _write_atomic(entry, out)
            results[idx] = (inp, Transcript.model_validate_json(out))
        done_s += dur
        done_calls += 1
        bar.update(task, completed=done_s, calls=f"{done_calls}/{len(inputs)}",
                   hours=f"{done_s / 3600:.2f}/{total_s / 3600:.2f}")

    with bar:
        if pending and workers == 1:
            model = _load_model(options, model_path, threads)
            for idx, inp, entry, dur in pending:
                try:
                    t = transcribe_audio(inp, decode_audio(inp.path, SR), options, model)
                    out, err = t.model_dump_json(), None
                except AudioError as exc:
                    out, err = None, exc.message
                except Exception as exc:  # noqa: BLE001 - one bad call must not end the batch
                    out, err = None, f"transcription failed: {type(exc).__name__}: {exc}"
                finish(idx, inp, entry, dur, out, err)
            peak_rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        elif pending:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed
            from concurrent.futures.process import BrokenProcessPool

            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                     initializer=_worker_init,
                                     initargs=(model_path, options.model_dump_json(), threads)) as pool:
                futures = {pool.submit(_worker_run, inp): (idx, inp, entry, dur)
                           for idx, inp, entry, dur in pending}
                for fut in as_completed(futures):
                    idx, inp, entry, dur = futures[fut]
                    try:
                        out, err, rss = fut.result()
                        peak_rss.append(rss)
                    except BrokenProcessPool:
                        out, err = None, "worker process died (out of memory?) while transcribing this call"
                    finish(idx, inp, entry, dur, out, err)

    LAST_BATCH.clear()
    LAST_BATCH.update({
        "calls": len(inputs), "transcribed": len(pending), "workers": workers, "threads": threads,
        "audio_seconds": total_s, "wall_seconds": time.perf_counter() - started,
        "peak_rss_mb": max(peak_rss) if peak_rss else None,
    })
    ordered = [results[i] for i in sorted(results)]
    return ordered, [e for _, e in sorted(errors, key=lambda x: x[0])]
