"""Who speaks each utterance: agent and customer from the channels (stereo), or from voices (mono)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from qa_scorer.models import Segment

from . import diarize
from .utterances import Utt, merge_same_voice


# Channels whose samples correlate at least this much, in at least this share of the seconds with
# sound on both, carry one recording (a genuine two-channel call's channels correlate near 0, also
# with each party's echo 20 dB down on the other's channel).
SAME_SIGNAL_CORRELATION = 0.95
SAME_SIGNAL_SHARE = 0.95
SR_BLOCK = 16000  # one second


def segment(u: Utt, speaker: str, confidence: float) -> Segment:
    return Segment(speaker=speaker, text=u.text, start=u.start, end=max(u.start, u.end),
                   words=u.words, speaker_confidence=confidence)


def same_signal(a: np.ndarray, b: np.ndarray) -> bool:
    """True for 'stereo' files whose two channels carry the same mix (dual mono), also at another
    level or inverted on one side (a mono recording copied to both channels with a gain or pan).

    Judged second by second: nearly every second with sound on both sides must correlate (mean
    taken out) at ``SAME_SIGNAL_CORRELATION`` or more, so hold music or a line tone shared by two
    parties' channels for a while does not make their call one recording."""
    if a.shape != b.shape:
        return False
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()), 1e-9)
    if float(np.abs(a - b).max()) / scale < 0.02:
        return True
    n = len(a) // SR_BLOCK
    if n == 0:
        return False
    together = agreeing = 0
    for at in range(0, n, 256):  # 256 seconds at a time: an hour as float64 would be 460 MB a side
        k = min(256, n - at)
        x = np.asarray(a[at * SR_BLOCK:(at + k) * SR_BLOCK], dtype=np.float64).reshape(k, SR_BLOCK)
        y = np.asarray(b[at * SR_BLOCK:(at + k) * SR_BLOCK], dtype=np.float64).reshape(k, SR_BLOCK)
        x = x - x.mean(axis=1, keepdims=True)
        y = y - y.mean(axis=1, keepdims=True)
        xx, yy, xy = (x * x).sum(axis=1), (y * y).sum(axis=1), (x * y).sum(axis=1)
        sound = (xx > SR_BLOCK * 1e-8) & (yy > SR_BLOCK * 1e-8)  # both sides above -80 dBFS
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.abs(xy) / np.sqrt(xx * yy)
        together += int(sound.sum())
        agreeing += int((sound & (r >= SAME_SIGNAL_CORRELATION)).sum())
    return together > 0 and agreeing >= SAME_SIGNAL_SHARE * together


def silent(x: np.ndarray) -> bool:
    """Whether a channel holds no sound: nearly all of its samples within 60 dB of full scale's
    bottom around its own middle (so a DC offset, as G.711 A-law decodes silence, dither or a click
    still count as silent)."""
    if x.size == 0:
        return True
    part = np.asarray(x[::16], dtype=np.float64)
    part = part[np.isfinite(part)]
    return part.size == 0 or float(np.percentile(np.abs(part - np.median(part)), 99.9)) < 1e-3


def stereo(per_channel: list[list[Utt]], requested: str) -> tuple[list[Segment], dict[str, Any]]:
    """Segments of a two-channel call: one party per channel, the agent's channel as requested
    (``left`` / ``right``) or, for ``auto``, the one that sounds like the agent."""
    if requested == "auto":
        agent, conf, why = diarize.decide_stereo_roles(
            [(u.start, u.text) for u in per_channel[0]], [(u.start, u.text) for u in per_channel[1]])
        roles = {"method": "stereo-auto", "agent_channel": agent, "confidence": conf, "note": why}
    else:
        agent, conf = requested, 1.0
        roles = {"method": "stereo-channel", "agent_channel": agent, "confidence": 1.0}
    agent_idx = 0 if agent == "left" else 1
    segments = []
    for idx, utts in enumerate(per_channel):
        speaker = "agent" if idx == agent_idx else "customer"
        segments += [segment(u, speaker, conf) for u in utts]
    return segments, roles


def roles_of(transcript) -> Optional[dict[str, Any]]:
    """The transcript's ``metadata.roles`` record, or None where there is none (a hand-written
    transcript may hold anything there)."""
    metadata = transcript.metadata
    roles_meta = metadata.get("roles") if isinstance(metadata, dict) else None
    return roles_meta if isinstance(roles_meta, dict) else None


def channel_doubt(transcript) -> Optional[str]:
    """Why the agent may be on the other channel of a stereo call whose agent channel was given
    (``left`` / ``right``, not ``auto``), or why its sides may be wrong (one channel silent), or None.

    The words decide as ``auto`` would; only a clear decision (margin of 3 or more, ``auto``'s
    0.95) raises a doubt. On the repository's written conversations split into two sides that
    happens for 0.2 % of them the right way round and 89 % of them swapped."""
    roles_meta = roles_of(transcript)
    if roles_meta is None:
        return None
    if str(roles_meta.get("method", "")).startswith("mono-"):
        # one voice track: the voices were told apart, and the words chose the agent's, unclearly
        unclear = roles_meta.get("unclear")
        return unclear if isinstance(unclear, str) and unclear else None
    given = roles_meta.get("agent_channel")
    if roles_meta.get("method") != "stereo-channel" or given not in ("left", "right"):
        return None
    empty = roles_meta.get("silent_channel")
    if empty in ("left", "right"):
        full = "right" if empty == "left" else "left"
        return (f"the {empty} channel is silent: every word was given to the party of the {full} one; if both "
                "parties are on it, transcribe the call with --agent-channel mono")
    agent = [(s.start or 0.0, s.text) for s in transcript.segments if s.speaker == "agent"]
    customer = [(s.start or 0.0, s.text) for s in transcript.segments if s.speaker == "customer"]
    if not agent or not customer:
        return None
    side, conf, _ = diarize.decide_stereo_roles(agent, customer)
    if side == "left" or conf < 0.95:
        return None
    other = "right" if given == "left" else "left"
    return (f"the {other} channel sounds like the agent, not the {given} one "
            f"(agent score {given} {diarize.agent_score([t for _, t in agent]):.1f}, "
            f"{other} {diarize.agent_score([t for _, t in customer]):.1f})")


def mono(audio: np.ndarray, utts: list[Utt], split_pause: float, n_channels: int,
         how: str) -> tuple[list[Segment], dict[str, Any]]:
    """Segments of a one-voice-track call: utterances split between two voices, rejoined where one
    voice goes on after a short pause; roles marked as estimates. ``how`` says, for a file of two
    channels or more, why it was taken as one track."""
    sep = diarize.separate_mono(audio, [(u.start, u.end, u.text) for u in utts])
    merged = merge_same_voice(utts, sep.speakers, sep.confidence, split_pause)
    segments = [segment(u, sp, c) for u, sp, c in merged]
    roles = {"method": sep.method, "agent_channel": None,
             "confidence": round(float(np.mean(sep.confidence)), 2) if sep.confidence else None,
             "note": sep.note + "; roles and overlap timings are estimates"}
    if sep.unclear and utts:
        roles["unclear"] = sep.unclear
    if n_channels >= 2:
        roles["note"] += "; " + how
    return segments, roles
