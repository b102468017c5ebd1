"""One call: decode, find each channel's speech, decode every channel's windows together, guard,
split into utterances, assign roles."""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any, Optional

import numpy as np

from qa_scorer.ingest import CallInput, audio_channels, decode_audio
from qa_scorer.models import Transcript, Word

from . import crosstalk, engine, guard, roles
from .options import PIPELINE_VERSION, SR, TranscribeOptions
from .utterances import Utt, Window, pack_windows, pad_regions, split_utterances


def _to_source(words: list[Word], window: Window, out: list[list[Word]], durations: list[float]) -> None:
    """Words of a window, moved to their channel and recording time."""
    for w in words:
        c, a, b = window.to_source(w.start, max(w.start, w.end))
        out[c].append(w.model_copy(update={"start": round(a, 2), "end": round(min(durations[c], b), 2)}))


def _shifted(words: list[Word], offset: float) -> list[Word]:
    """Words of a stretch decoded on its own, at their times in the window it was cut from."""
    return [w.model_copy(update={"start": round(w.start + offset, 2), "end": round(w.end + offset, 2)})
            for w in words]


def _unlikely(d: engine.Decoded, options: TranscribeOptions) -> bool:
    """A decoded stretch too unlikely to keep (``guard.low_confidence`` with the options' bars)."""
    return guard.low_confidence(d.avg_logprob, d.no_speech_prob, drop_log_prob=options.drop_log_prob,
                                no_speech_threshold=options.no_speech_threshold,
                                log_prob_threshold=options.log_prob_threshold)


def _failed(d: engine.Decoded, options: TranscribeOptions, speech_seconds: float) -> bool:
    return guard.has_loop(d.words, options.max_repeats) or guard.window_failed(
        d.text, d.avg_logprob, d.no_speech_prob, log_prob_threshold=options.log_prob_threshold,
        no_speech_threshold=options.no_speech_threshold,
        compression_ratio_threshold=options.compression_ratio_threshold, speech_seconds=speech_seconds)


def _redecode(model, window: Window, audio: np.ndarray, options: TranscribeOptions) -> list[engine.Decoded]:
    """A failed window decoded again piece by piece (short stretches give the decoder less room
    to run away), with a repetition penalty and all pieces in one batch; a piece that still
    fails is decoded the careful way (temperature fallback)."""
    retry = options.model_copy(update={"repetition_penalty": options.loop_retry_penalty})
    spans = window.spans()
    clips = [audio[int(round(x * SR)):int(round(y * SR))] for x, y in spans]
    parts: list[engine.Decoded] = []
    for (x, y), clip, d in zip(spans, clips, engine.decode_batch(model, clips, retry)):
        found = engine.decode_careful(model, clip, retry) if _failed(d, retry, y - x) else [d]
        for p in found:
            p.words = _shifted(p.words, x)
        parts += found
    return parts


# Speech left in the piece where the decoding stopped, from which it is decoded again: more than
# the second or two a last word's timing may come out early by.
INSIDE_TAIL_SECONDS = 3.0


def _unheard_tail(window: Window, d: engine.Decoded, min_seconds: float) -> Optional[float]:
    """Window time from which the decoder heard nothing although speech was packed there: the
    start of the first piece that begins after the last decoded word, when the pieces from there
    to the window's end hold at least ``min_seconds``; or the last decoded word's end, when the
    piece it ends in goes on for ``INSIDE_TAIL_SECONDS`` more. None when the window was heard to
    its end, when nothing in it was heard at all (silence or noise the decoder rightly left), or
    when ``min_seconds`` is 0."""
    if min_seconds <= 0 or not d.words:
        return None
    last = max(w.end for w in d.words)
    spans = window.spans()
    starts = [x for x, _ in spans if x >= last]
    if starts and window.duration - starts[0] >= min_seconds:
        return starts[0]
    # decoding stopped inside a long piece of speech: the rest of that piece went unheard
    inside = [y for x, y in spans if x < last < y]
    if inside and inside[0] - last >= INSIDE_TAIL_SECONDS:
        return last
    return None


def _unheard_pieces(window: Window, d: engine.Decoded, min_seconds: float) -> list[tuple[float, float]]:
    """Pieces of speech (window time) the decoder passed over in the middle of a window: at least
    ``min_seconds`` long, before the last decoded word, and without a single word timed inside
    them (the decoder jumped from the piece before to the one after; an agent's whole sentence
    was lost so, and the silence left looked like a hold). The end of a window is
    ``_unheard_tail``'s; none when nothing in the window was heard or ``min_seconds`` is 0."""
    if min_seconds <= 0 or not d.words:
        return []
    last = max(w.end for w in d.words)
    return [(x, y) for x, y in window.spans()
            if y - x >= min_seconds and y <= last
            and not any(w.end > x and w.start < y for w in d.words)]


def _retry_clips(window: Window, d: engine.Decoded, options: TranscribeOptions) -> list[tuple[float, float, str]]:
    """What of a window that decoded without failing is decoded again, as (start, end, kind)
    in window time: its unheard tail piece by piece ("tail": decoded as one clip, the pieces
    after the first were often passed over again — an agent's sentence lost and its silence read
    as a hold), and pieces passed over in its middle ("gap")."""
    clips = []
    at = _unheard_tail(window, d, options.tail_retry_seconds)
    if at is not None:
        clips += [(max(x, at), y, "tail") for x, y in window.spans() if y > at]
    return clips + [(x, y, "gap") for x, y in _unheard_pieces(window, d, options.gap_retry_seconds)]


def _contained(heard: str, again: str) -> bool:
    """Whether a piece decoded again only repeats words the window already gave somewhere (their
    timings had drifted out of the piece): most of it found in runs of two characters or more."""
    a, h = guard.norm(again), guard.norm(heard)
    if not a:
        return True
    m = SequenceMatcher(None, a, h, autojunk=False)
    return sum(b.size for b in m.get_matching_blocks() if b.size >= 2) >= 0.6 * len(a)


def _repeats(heard: str, again: str) -> bool:
    """Whether a tail decoded again only repeats the end of what the window already gave (the
    last words' timings came out early, so the tail was heard after all)."""
    a, h = guard.norm(again), guard.norm(heard)
    if not a:
        return True
    end = h[-(2 * len(a) + 4):]
    m = SequenceMatcher(None, a, end, autojunk=False)
    return sum(b.size for b in m.get_matching_blocks()) >= 0.6 * len(a)


def transcribe_channels(model, channels: list[np.ndarray], split_pauses: list[float],
                        options: TranscribeOptions) -> tuple[list[list[Utt]], dict[str, int]]:
    """Utterances of each voice channel, guarded and in simplified Chinese, and what was dropped.

    Every channel's speech is packed into windows (both channels' pieces in time order) and all
    windows are decoded in one batch; only a window that fails Whisper's own tests or
    loops is decoded again, and the speech a window's decoding passed over (its unheard end,
    piece by piece, and pieces skipped in its middle: ``_retry_clips``).
    """
    dropped = {"low_confidence": 0, "hallucination_words": 0, "loop_retries": 0,
               "windows": 0, "fallback_windows": 0, "tail_retries": 0, "gap_retries": 0, "prompt_retries": 0}
    all_regions: list[list[tuple[float, float]]] = []
    all_pieces: list[list[tuple[float, float]]] = []
    durations = [len(ch) / SR for ch in channels]
    for ch, pause, duration in zip(channels, split_pauses, durations):
        if ch.size == 0 or float(np.abs(ch).max()) < 1e-4:  # digital silence
            regions, pieces = [], []
        elif options.vad:
            regions = engine.speech_regions(ch, pause)
            pieces = pad_regions(regions, options, duration)
        else:
            regions, pieces = [], [(0.0, duration)]
        all_regions.append(regions)
        all_pieces.append(pieces)
    windows = pack_windows(all_pieces, channels, options.window_seconds)
    audios = [w.audio(channels) for w in windows]
    decoded = engine.decode_batch(model, audios, options)
    dropped["windows"] = len(windows)
    words: list[list[Word]] = [[] for _ in channels]
    results: list[list[engine.Decoded]] = []
    tails: list[tuple[int, float]] = []
    for i, (window, audio, d) in enumerate(zip(windows, audios, decoded)):
        parts = [d]
        if _failed(d, options, window.duration):
            parts = _redecode(model, window, audio, options)
            dropped["fallback_windows"] += 1
            dropped["loop_retries"] += guard.has_loop(d.words, options.max_repeats)
        else:
            tails += [(i, *clip) for clip in _retry_clips(window, d, options)]
        results.append(parts)
    if tails:
        clips = [audios[i][int(round(at * SR)):int(round(to * SR))] for i, at, to, _ in tails]
        for (i, at, to, kind), clip, d in zip(tails, clips, engine.decode_batch(model, clips, options)):
            if (_failed(d, options, len(clip) / SR) or _repeats(decoded[i].text, d.text)
                    or _contained(decoded[i].text, d.text)):
                continue
            dropped[f"{kind}_retries"] += 1
            d.words = _shifted(d.words, at)
            results[i].append(d)
    for window, parts in zip(windows, results):
        for p in parts:
            if _unlikely(p, options):
                dropped["low_confidence"] += 1
                continue
            kept = guard.guard_words(p.words, options.max_repeats)
            dropped["hallucination_words"] += len(p.words) - len(kept)
            _to_source(kept, window, words, durations)
    out = []
    echoes: list[tuple[int, Utt, Optional[Utt]]] = []
    for c, (regions, ws, pause) in enumerate(zip(all_regions, words, split_pauses)):
        ws.sort(key=lambda w: w.start)
        utts = []
        for u in split_utterances(ws, regions, pause):
            if guard.echoes_prompt(u.words, options.initial_prompt):
                dropped["hallucination_words"] += len(u.words)
                echoes.append((c, u, None))
            elif guard.holds_prompt(u.words, options.initial_prompt):
                # the prompt read back beside other words: decoded again without it, and where
                # that fails the words beside it are kept
                rest = guard.without_prompt(u.words, options.initial_prompt)
                dropped["hallucination_words"] += len(u.words) - len(rest)
                echoes.append((c, u, Utt(u.start, u.end, rest) if rest else None))
            elif guard.norm(u.text):  # not only punctuation
                utts.append(u)
        out.append(utts)
    if echoes:
        dropped["prompt_retries"] = _without_prompt(model, channels, echoes, out, all_regions, split_pauses,
                                                    durations, options)
    return out, dropped


def _without_prompt(model, channels: list[np.ndarray], echoes: list[tuple[int, Utt, Optional[Utt]]],
                    out: list[list[Utt]], all_regions: list, split_pauses: list[float], durations: list[float],
                    options: TranscribeOptions) -> int:
    """Decode again, without the initial prompt, the speech whose decoding read the prompt back
    (the whole of it, or beside other words: ``echoes`` holds (channel, utterance, what is kept
    where the second decoding fails)), and add what it hears to ``out``; returns how many
    stretches it recovered.

    On hiss Whisper reads its prompt back, but it may do so on speech too, where the prompt is
    likelier to it than what was said (a phone number said digit by digit): the turn was lost.
    The second decoding is kept only where it passes the tests every decoding passes (not
    failed, not unlikely, no known hallucination, not the prompt again), so hiss stays dropped."""
    plain = options.model_copy(update={"initial_prompt": None})
    todo = []
    for c, u, rest in echoes:
        at, to = max(0.0, u.start - 0.2), min(durations[c], u.end + 0.2)
        if 0 < to - at <= options.window_seconds:
            todo.append((c, at, to, rest))
        elif rest is not None:
            out[c] = sorted(out[c] + [rest], key=lambda x: x.start)
    clips = [channels[c][int(round(at * SR)):int(round(to * SR))] for c, at, to, _ in todo]
    recovered = 0
    for (c, at, to, rest), d in zip(todo, engine.decode_batch(model, clips, plain)):
        heard = _heard_again(d, c, at, to, all_regions, split_pauses, options, plain)
        if heard:
            recovered += 1
        elif rest is not None:
            heard = [rest]
        out[c] = sorted(out[c] + heard, key=lambda x: x.start)
    return recovered


def _heard_again(d: engine.Decoded, c: int, at: float, to: float, all_regions: list, split_pauses: list[float],
                 options: TranscribeOptions, plain: TranscribeOptions) -> list[Utt]:
    """The utterances of a stretch decoded again without the prompt, or [] where that decoding
    fails a test every decoding passes."""
    if _failed(d, plain, to - at) or _unlikely(d, options):
        return []
    kept = _shifted(guard.guard_words(d.words, options.max_repeats), at)
    prompt = options.initial_prompt
    if not kept or guard.echoes_prompt(kept, prompt) or guard.holds_prompt(kept, prompt):
        return []
    regions = [r for r in all_regions[c] if r[1] > at and r[0] < to]
    return [u for u in split_utterances(kept, regions, split_pauses[c]) if guard.norm(u.text)]


def _wav_data_sizes(path) -> Optional[tuple[int, int]]:
    """(bytes the WAV header's data chunk says, bytes the file holds after it), or None when the
    file is no RIFF/WAVE or its writer left the size open (0 or 0xFFFFFFFF: a live recording)."""
    import struct

    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            size = fh.seek(0, 2)
            at = 12
            while at + 8 <= size:
                fh.seek(at)
                chunk = fh.read(8)
                n = struct.unpack("<I", chunk[4:8])[0]
                if chunk[:4] == b"data":
                    if n in (0, 0xFFFFFFFF):
                        return None
                    return n, size - at - 8
                at += 8 + n + (n & 1)
    except OSError:
        return None
    return None


def cut_off(path, decoded_s: float) -> Optional[dict[str, float]]:
    """{"header_s", "decoded_s"} when a WAV recording holds clearly less audio than its header says
    (1 s and 5 % short or more): a failed upload or copy, which would be scored as if the call ended
    there; or None. (Other formats' headers give no exact length to compare with.)"""
    sizes = _wav_data_sizes(path)
    if sizes is None or sizes[1] <= 0 or sizes[1] >= sizes[0]:
        return None
    told = decoded_s * sizes[0] / sizes[1]
    if decoded_s >= told - 1.0 or decoded_s >= 0.95 * told:
        return None
    return {"header_s": round(told, 3), "decoded_s": round(decoded_s, 3)}


def _add_note(roles_meta: dict[str, Any], text: str) -> None:
    """Add a sentence to the roles record's note (``; `` between sentences)."""
    roles_meta["note"] = f"{roles_meta['note']}; {text}" if roles_meta.get("note") else text


def effective_channel(inp: CallInput, options: TranscribeOptions) -> str:
    """Which channel is the agent's for this call: the manifest's word, else the options'."""
    return inp.agent_channel if inp.channel_from_manifest else options.agent_channel


def transcribe_audio(inp: CallInput, channels: list[np.ndarray], options: TranscribeOptions,
                     model=None) -> Transcript:
    """Transcribe already-decoded channels (16 kHz float32) of one call."""
    model = model or engine.load_model(options)
    duration = round(max(len(c) for c in channels) / SR, 3)
    requested = effective_channel(inp, options)
    same = len(channels) >= 2 and roles.same_signal(channels[0], channels[1])
    is_stereo = len(channels) >= 2 and requested != "mono" and not same
    roles_meta: dict[str, Any]
    echo_s = None
    if is_stereo:
        pair = channels[:2]
        if options.crosstalk:
            pair, echo_s = crosstalk.suppress(pair)
        per, dropped = transcribe_channels(model, pair, [options.split_pause] * 2, options)
        segments, roles_meta = roles.stereo(per, requested)
        quiet = [roles.silent(c) for c in channels[:2]]
        if quiet.count(True) == 1:
            # An empty side: a call whose other party never spoke (or whose leg was not recorded),
            # or a one-track recording saved as stereo. Voice separation cannot tell one voice from
            # two, so the channel decides as given and the note says how to ask for voices.
            empty, full = ("left", "right") if quiet[0] else ("right", "left")
            roles_meta["silent_channel"] = empty
            _add_note(roles_meta, f"the {empty} channel is silent: if both parties are on the {full} one, "
                                  "transcribe it with --agent-channel mono")
    else:
        if len(channels) == 1:
            mono = channels[0]
        elif same:  # one recording on both sides, maybe at another level or inverted: the louder
            mono = max(channels[:2], key=lambda c: float(np.dot(c[::16].astype(np.float64), c[::16])))
        else:  # two parties mixed down, as asked
            mono = (channels[0] + channels[1]) * 0.5
        mono_options = options.model_copy(update={"vad_speech_pad_ms": options.mono_speech_pad_ms})
        (utts,), dropped = transcribe_channels(model, [mono], [options.mono_split_pause], mono_options)
        how = "both channels carry the same signal" if same else "mixed to mono as requested"
        segments, roles_meta = roles.mono(mono, utts, options.split_pause, len(channels), how)
    segments.sort(key=lambda s: (s.start or 0.0, s.end or 0.0))
    n_in = audio_channels(inp.path) if inp.path else None
    if n_in and n_in > 2:
        _add_note(roles_meta, f"the recording has {n_in} channels: only the first two (left/right) were transcribed")
    cut = cut_off(inp.path, duration) if inp.path else None
    windows = {k: dropped.pop(k) for k in ("windows", "fallback_windows", "tail_retries", "gap_retries", "prompt_retries")}
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
        "dropped": dropped,
        **({"crosstalk_s": {"left": echo_s[0], "right": echo_s[1]}} if echo_s else {}),
        **({"cut_off": cut} if cut else {}),
        "decoder": windows,
        "pipeline_version": PIPELINE_VERSION,
    }
    return Transcript(
        call_id=inp.call_id, agent_id=inp.agent_id, channel="phone", started_at=inp.started_at,
        audio=str(inp.path), segments=segments,
        metadata={**inp.metadata, "asr": asr, "roles": roles_meta},
    )


def transcribe_call(inp: CallInput, options: Optional[TranscribeOptions] = None) -> Transcript:
    """Transcribe one recording into a transcript v1. Raises AudioError for unusable audio."""
    options = options or TranscribeOptions()
    return transcribe_audio(inp, decode_audio(inp.path, SR), options)
