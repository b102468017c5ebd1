"""How recordings are transcribed: one options record, defaults defined here only."""

from __future__ import annotations

import os
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

SR = 16000
# Bump when decoding, splitting, guarding or role logic changes what a transcript holds: old cache
# entries then stop matching.
PIPELINE_VERSION = 17

# Plain and short: with question marks or many commas in the prompt, Whisper base starts emitting
# broken punctuation bytes (fullwidth letters and digits) in Chinese output.
DEFAULT_PROMPT = "以下是普通话客服电话录音，使用简体中文。"

DEVICES = ("cpu", "cuda", "auto")


class TranscribeOptions(BaseModel):
    """Everything that decides how recordings are transcribed; defaults are defined here only."""

    model_config = ConfigDict(extra="forbid")

    model: str = "base"  # base | small | a CTranslate2 folder | a hub name
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"  # int8 on CPU; float16 / int8_float16 on CUDA
    language: str = "zh"
    vad: bool = True
    # Speech handed to the decoder starts and ends this much beyond what the speech detector found:
    # a soft onset (the fricative of 谢谢 after a pause) comes out clipped at 200 ms (谢谢您的耐心等待 →
    # 借信您的卖信等待). 300 against 200 ms and 400: character errors 551 against 568 and 571 over
    # the sample, longer rendered, hold and real single-speaker calls, measured with the pad on every
    # call (mono recordings, the single-speaker clips among them, now keep mono_speech_pad_ms).
    vad_speech_pad_ms: int = Field(300, ge=0)
    # Mono: both voices on one track, so a longer pad reaches into the other voice's turn (pieces of
    # two voices merge): 200 ms, 16.5 % character errors and 79 of 87 roles right on the sample
    # calls' mixdowns against 18.8 % and 78 at 300.
    mono_speech_pad_ms: int = Field(200, ge=0)
    # First pass: every window of every channel decoded together, with this beam. Beam 5 costs
    # about 15 % more time than greedy and errs less: character error rate 10.9 % against 13.1 % on
    # the sample and rendered calls, 8.8 % against 13.7 % on real single-speaker clips.
    beam_size: int = Field(5, ge=1)
    # A window that fails (a loop, too unlikely, too repetitive) is decoded again on its own,
    # region by region, with this beam, the temperature fallback and a repetition penalty.
    fallback_beam_size: int = Field(5, ge=1)
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float = 2.4
    # Mild penalty against repetition loops (fast speech without pauses sends base into loops).
    repetition_penalty: float = Field(1.0, ge=1.0)
    loop_retry_penalty: float = Field(1.1, ge=1.0)
    no_repeat_ngram_size: int = Field(0, ge=0)
    initial_prompt: Optional[str] = DEFAULT_PROMPT
    condition_on_previous_text: bool = False  # only the fallback decodes several windows in a row
    # e.g. rubric phrases; bounded by max_hotword_chars. Off unless asked: the default rubric's
    # phrases made transcription slower and no more accurate on the calls measured (and worse on
    # real clips of other content).
    hotwords: Optional[list[str]] = None
    max_hotword_chars: int = 120
    # Utterances: a new one starts where the voice pauses at least this long (VAD on the channel).
    split_pause: float = Field(0.5, gt=0)
    # Mono: turns are only told apart by pauses, so split finer (voices are clustered afterwards).
    mono_split_pause: float = Field(0.25, gt=0)
    # Longest stretch of speech regions packed into one decoder window (Whisper sees 30 s).
    window_seconds: float = Field(30.0, gt=1, le=30)
    # A window's decoding can stop early (Whisper emits its end token with speech left): the
    # pieces after its last word, when they hold at least this much speech, are decoded again
    # on their own (0 = never).
    tail_retry_seconds: float = Field(1.0, ge=0)
    # A piece of speech at least this long inside a window that the decoder passed over without a
    # word is decoded again on its own (0: never).
    gap_retry_seconds: float = Field(2.0, ge=0)
    # Hallucination guard.
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    drop_log_prob: float = -1.4  # segments below this average log-probability are dropped
    max_repeats: int = 3  # a phrase repeated more often than this in a row is a loop
    agent_channel: Literal["left", "right", "auto", "mono"] = "left"
    # Stereo: turn down each channel's faint echo of the other party before speech detection
    # (``crosstalk``), so the echo is not written down as this party's words.
    crosstalk: bool = True
    cpu_threads: int = Field(0, ge=0)  # per worker; 0 = cores / workers
    workers: int = Field(0, ge=0)  # 0 = chosen from the core count
    batch_size: int = Field(8, ge=1)  # decoder windows run together (CPU and CUDA)

    def cache_fields(self) -> dict[str, Any]:
        """The options that change a transcript (not how fast it is made)."""
        return self.model_dump(exclude={"cpu_threads", "workers", "batch_size", "model"})

    def plan(self, n_calls: int) -> tuple[int, int]:
        """(workers, threads per worker) for this machine: one worker per 4 cores on CPU (the
        batched decoder keeps its threads busy), one on CUDA unless ``workers`` asks for more (each
        loads its own copy of the model on the GPU, and their audio decoding and speech detection,
        which run on the CPU, overlap the GPU's work)."""
        cores = os.cpu_count() or 1
        workers = self.workers or (1 if self.device == "cuda" else max(1, cores // 4))
        workers = max(1, min(workers, n_calls or 1))
        threads = self.cpu_threads or max(1, cores // workers)
        return workers, threads


def hotword_string(options: TranscribeOptions) -> Optional[str]:
    """The hotwords handed to the decoder, deduplicated and bounded by ``max_hotword_chars``."""
    if not options.hotwords:
        return None
    out, used = [], 0
    for w in dict.fromkeys(h.strip() for h in options.hotwords if h and h.strip()):
        if used + len(w) > options.max_hotword_chars:
            break
        out.append(w)
        used += len(w) + 1
    return " ".join(out) or None
