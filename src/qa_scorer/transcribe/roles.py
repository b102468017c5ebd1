"""Who speaks each utterance: agent and customer from the channels (stereo), or from voices (mono)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from qa_scorer.models import Segment

from . import diarize
from .utterances import Utt, merge_same_voice


# Channels whose samples correlate at least this much carry one recording (measured: a genuine
# two-channel call's channels correlate near 0, also with each party's echo 20 dB down on the
# other's channel).
SAME_SIGNAL_CORRELATION = 0.95


def segment(u: Utt, speaker: str, confidence: float) -> Segment:
    return Segment(speaker=speaker, text=u.text, start=u.start, end=max(u.start, u.end),
                   words=u.words, speaker_confidence=confidence)


def same_signal(a: np.ndarray, b: np.ndarray) -> bool:
    """True for 'stereo' files whose two channels carry the same mix (dual mono), also at another
    level or inverted on one side (a mono recording copied to both channels with a gain or pan):
    two parties on their own channels never follow each other this closely."""
    if a.shape != b.shape:
        return False
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()), 1e-9)
    if float(np.abs(a - b).max()) / scale < 0.02:
        return True
    xy = xx = yy = 0.0
    for at in range(0, len(a), 1 << 20):  # in pieces: an hour as float64 would be 460 MB a side
        x, y = a[at:at + (1 << 20)].astype(np.float64), b[at:at + (1 << 20)].astype(np.float64)
        xy, xx, yy = xy + float(np.dot(x, y)), xx + float(np.dot(x, x)), yy + float(np.dot(y, y))
    return xx > 0 and yy > 0 and abs(xy) / np.sqrt(xx * yy) >= SAME_SIGNAL_CORRELATION


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


def channel_doubt(transcript) -> Optional[str]:
    """Why the agent may be on the other channel of a stereo call whose agent channel was given
    (``left`` / ``right``, not ``auto``), or None.

    The words decide as ``auto`` would; only a clear decision (margin of 3 or more, ``auto``'s
    0.95) raises a doubt. On the repository's written conversations split into two sides that
    happens for 0.2 % of them the right way round and 89 % of them swapped."""
    metadata = transcript.metadata
    roles_meta = metadata.get("roles") if isinstance(metadata, dict) else None
    if not isinstance(roles_meta, dict):  # a hand-written transcript may hold anything there
        return None
    given = roles_meta.get("agent_channel")
    if roles_meta.get("method") != "stereo-channel" or given not in ("left", "right"):
        return None
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
    if n_channels >= 2:
        roles["note"] += "; " + how
    return segments, roles
