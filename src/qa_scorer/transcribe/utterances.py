"""Speech regions → decoder windows, and decoded words → utterances. Pure (numpy only).

A channel's speech regions (from the speech detector, split at pauses) are padded a little and
packed back to back into windows of at most 30 seconds, the length Whisper decodes at once, so
silence is never decoded and many short turns share one encoder pass. A :class:`Window` remembers
where each piece came from, so times decoded in the window map back to the recording.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa_scorer.models import Word

from .options import SR, TranscribeOptions

Region = tuple[float, float]


@dataclass
class Utt:
    start: float
    end: float
    words: list[Word]

    @property
    def text(self) -> str:
        return "".join(w.word for w in self.words).strip()


Piece = tuple[int, float, float]  # (channel, start, end) in the recording, seconds


@dataclass
class Window:
    """Up to 30 s of one channel's speech, packed: ``pieces`` are (channel, source start, source
    end), laid one after another from window time 0."""

    pieces: list[Piece] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return sum(b - a for _, a, b in self.pieces)

    def spans(self) -> list[tuple[float, float]]:
        """Where each piece lies in the window (seconds)."""
        out, at = [], 0.0
        for _, a, b in self.pieces:
            out.append((at, at + (b - a)))
            at += b - a
        return out

    def audio(self, channels: list[np.ndarray]) -> np.ndarray:
        parts = [channels[c][int(round(a * SR)):int(round(b * SR))] for c, a, b in self.pieces]
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)

    def to_source(self, a: float, b: float) -> Piece:
        """(channel, start, end) in the recording of the window stretch [a, b]. A stretch across
        two pieces (a word whose timing straddles a junction) goes to the piece holding most of it."""
        best, best_share = (0, 0.0, 0.0), -float("inf")
        for (c, pa, pb), (lo, hi) in zip(self.pieces, self.spans()):
            share = min(b, hi) - max(a, lo)
            if a == b:
                share = -abs(a - min(max(a, lo), hi))
            if share > best_share:
                best_share = share
                best = (c, pa + min(max(a - lo, 0.0), pb - pa), pa + min(max(b - lo, 0.0), pb - pa))
        return best

def pad_regions(regions: list[Region], options: TranscribeOptions, duration: float) -> list[Region]:
    """Stretches handed to the decoder: speech regions with some context, overlaps merged."""
    pad = options.vad_speech_pad_ms / 1000
    out: list[Region] = []
    for a, b in regions:
        a, b = max(0.0, a - pad), min(duration, b + pad)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _quiet_cut(channel: np.ndarray, a: float, b: float) -> float:
    """Where to cut a stretch [a, b] (b - a > a few seconds): the quietest 100 ms of its last
    quarter, so a word is rarely cut in two."""
    lo = a + 0.75 * (b - a)
    x = channel[int(lo * SR):int(b * SR)]
    hop = SR // 10
    if len(x) < 2 * hop:
        return b
    frames = x[: len(x) // hop * hop].reshape(-1, hop)
    k = int(np.argmin((frames.astype(np.float64) ** 2).mean(axis=1)))
    return lo + (k + 0.5) * hop / SR


def pack_windows(pieces: list[list[Region]], channels: list[np.ndarray], limit: float) -> list[Window]:
    """Pack each channel's padded regions, in time order, into windows of at most ``limit``
    seconds; a region longer than that is cut at quiet points. A window holds one channel: with
    two voices in one window Whisper tends to stop at the change of voice."""
    flat: list[Piece] = []
    for c, (regions, channel) in enumerate(zip(pieces, channels)):
        for a, b in regions:
            while b - a > limit:
                cut = _quiet_cut(channel, a, a + limit)
                flat.append((c, a, cut))
                a = cut
            if b - a > 0.01:
                flat.append((c, a, b))
    windows: list[Window] = []
    for c, a, b in flat:
        if not windows or windows[-1].pieces[-1][0] != c or windows[-1].duration + (b - a) > limit:
            windows.append(Window())
        windows[-1].pieces.append((c, round(a, 3), round(b, 3)))
    return windows

def split_utterances(words: list[Word], regions: list[Region], split_pause: float) -> list[Utt]:
    """Group words into utterances: one per speech region (regions are split at pauses).

    An utterance's start and end come from the speech detector where the words sit inside the
    region (more precise than word timestamps at turn edges), else from the words; its end is
    the region's end also where the words stop well before it: the recogniser dropped the
    tail of a long turn (it does, on fast or unclear speech), but the speaker went on talking,
    and a reply that starts before that end talks over them. Without regions (VAD off) a pause
    of ``split_pause`` between words starts a new utterance.
    """
    if not regions:
        plain: list[Utt] = []
        for w in words:
            if plain and w.start - plain[-1].end < split_pause:
                plain[-1].words.append(w)
                plain[-1].end = max(plain[-1].end, w.end)
            else:
                plain.append(Utt(w.start, w.end, [w]))
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
            # Trust the detector's edges; at the start unless the words begin far inside it
            # (untranscribed speech there is kept out of the utterance's span), at the end
            # always: the speaker is still talking until the region ends.
            if abs(start - a) < 1.0:
                start = a
            if end - b < 1.0:
                end = b
        utts.append(Utt(round(start, 2), round(end, 2), ws))
    utts.sort(key=lambda u: u.start)
    return utts


def merge_same_voice(utts: list[Utt], speakers: list[str], confidence: list[float],
                     max_pause: float) -> list[tuple[Utt, str, float]]:
    """Rejoin consecutive pieces of one voice that only a short pause separates (mono)."""
    merged: list[tuple[Utt, str, float]] = []
    for u, sp, c in zip(utts, speakers, confidence):
        if merged and merged[-1][1] == sp and u.start - merged[-1][0].end < max_pause:
            prev, _, pc = merged[-1]
            merged[-1] = (Utt(prev.start, max(prev.end, u.end), prev.words + u.words), sp, min(pc, c))
        else:
            merged.append((u, sp, c))
    return merged

