"""Crosstalk: one party's voice heard faintly on the other party's channel of a stereo call.

Real stereo recordings often carry an echo of the agent on the customer's channel (line or
acoustic echo, 20–40 dB down) and the other way round. The speech detector hears it and Whisper
writes it down, so the customer "says" the agent's greeting and closing, the agent "talks over"
the customer, and real turns merge with the echo.

An echo is a quieter copy of the other channel at one delay that does not change during a call.
So, for every delay of 0–300 ms, the frames where this channel's loudness follows the other's
(correlation over half a second) while it is well below it are counted; a call has an echo only
when at the best delay at least a fifth of the frames where the other channel is that much louder
follow it (``MIN_ECHO_SHARE``; an echo gives 0.44–1.0, two independent speakers 0.00–0.06 on the
sample calls). Only then are the frames found at that delay (and its neighbours) turned down.
Real double talk follows its own speaker's loudness and happens at no fixed delay, so it is kept.
Pure numpy.
"""

from __future__ import annotations

import numpy as np

FRAME = 160  # samples at 16 kHz: 10 ms
WINDOW = 50  # frames over which loudness is compared (0.5 s)
MAX_LAG = 30  # frames: echo up to 300 ms late
MIN_CORRELATION = 0.75
MIN_GAP_DB = 10.0  # the channel at least this much quieter than the other (smoothed over 100 ms)
MIN_ECHO_SHARE = 0.2  # of the frames at the best delay where the other channel is that much louder
MIN_ECHO_FRAMES = 100  # an echo heard for less than a second in the whole call is left alone
ECHO_SPREAD_DB = 6.0  # an echo frame is at most this much louder than the call's echo level
FILL_FRAMES = 20  # gaps up to 200 ms between echo frames, still quieter, count as echo too
# Echo frames are turned down by 30 dB, not cut out: an echo 20 dB down ends 50 dB down, below what
# the speech detector and Whisper hear (an echo 40 dB down is not transcribed), and the channel's
# own noise floor does not drop to digital silence and back.
ECHO_GAIN = 10 ** (-30 / 20)


def _levels(x: np.ndarray) -> np.ndarray:
    """Loudness in dB of each 10 ms frame (non-finite samples count as silence)."""
    n = len(x) // FRAME
    if n == 0:
        return np.zeros(0)
    frames = np.asarray(x[:n * FRAME], dtype=np.float32).reshape(n, FRAME)
    energy = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / FRAME
    return 10.0 * np.log10(np.nan_to_num(energy, nan=0.0, posinf=0.0) + 1e-10)


def _rolling_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Mean over a window of ``w`` frames centred on each frame (NaN where it does not fit)."""
    out = np.full(len(x), np.nan)
    if len(x) < w:
        return out
    c = np.concatenate(([0.0], np.cumsum(x)))
    half = w // 2
    out[half:half + len(x) - w + 1] = (c[w:] - c[:-w]) / w
    return out


def _delayed(x: np.ndarray, lag: int, fill: float) -> np.ndarray:
    """``x`` ``lag`` frames late, the first frames ``fill``."""
    return np.concatenate((np.full(lag, fill), x[:len(x) - lag])) if lag else x


def _smooth(x: np.ndarray, w: int) -> np.ndarray:
    return np.convolve(x, np.ones(w) / w, mode="same")


def echo_frames(own: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Which 10 ms frames of ``own`` (16 kHz) are the ``other`` channel's voice heard faintly."""
    eo, ex = _levels(own), _levels(other)
    n = min(len(eo), len(ex))
    eo, ex = eo[:n], ex[:n]
    none = np.zeros(n, dtype=bool)
    if n < WINDOW:
        return none
    mo, moo = _rolling_mean(eo, WINDOW), _rolling_mean(eo * eo, WINDOW)
    var_o = moo - mo * mo
    own_level = _smooth(eo, 10)
    floor = float(ex.min())
    follows, below = [], []
    for lag in range(MAX_LAG + 1):
        shifted = _delayed(ex, lag, floor)
        ms, mss = _rolling_mean(shifted, WINDOW), _rolling_mean(shifted * shifted, WINDOW)
        cov = _rolling_mean(eo * shifted, WINDOW) - mo * ms
        r = np.nan_to_num(cov / np.sqrt(np.maximum(var_o * (mss - ms * ms), 1e-9)), nan=-1.0)
        quiet = _smooth(shifted, 10) - own_level >= MIN_GAP_DB  # quieter than the other at this delay
        below.append(quiet)
        follows.append((r >= MIN_CORRELATION) & quiet)
    counts = np.array([f.sum() for f in follows], dtype=float)
    best = int(np.convolve(counts, np.ones(3), mode="same").argmax())  # a delay and its neighbours
    if counts[best] < MIN_ECHO_FRAMES or counts[best] < MIN_ECHO_SHARE * max(1, int(below[best].sum())):
        return none  # no echo at one delay: any loudness that follows the other is by chance
    # How far below its source the echo is (the call's echo return loss): a frame louder than that
    # by more than ECHO_SPREAD_DB holds this party's own voice over the echo, and is kept.
    source = _smooth(_delayed(ex, best, floor), 10)
    loss = float(np.median((own_level - source)[follows[best]]))
    echo_only = own_level <= source + loss + ECHO_SPREAD_DB
    mask, quieter = none.copy(), none.copy()
    for lag in range(max(0, best - 1), min(MAX_LAG, best + 1) + 1):
        mask |= follows[lag]
        quieter |= below[lag]
    mask &= echo_only
    quieter &= echo_only
    hits = np.flatnonzero(mask)
    for i, j in zip(hits[:-1], hits[1:]):
        if 1 < j - i <= FILL_FRAMES and quieter[i:j].all():
            mask[i:j] = True
    return mask


def _turned_down(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A float32 copy of ``x`` with the masked frames turned down by ``ECHO_GAIN``, with 10 ms ramps
    into and out of each run (no clicks for the speech detector to hear)."""
    out = np.array(x, dtype=np.float32)  # a copy, whatever came in
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    down = np.linspace(1.0, ECHO_GAIN, FRAME, dtype=np.float32)
    for start, end in zip(np.flatnonzero(edges == 1) * FRAME, np.flatnonzero(edges == -1) * FRAME):
        end = min(end, len(out))
        out[start:end] *= ECHO_GAIN
        if start >= FRAME:
            out[start - FRAME:start] *= down
        ramp_up = down[::-1][:max(0, min(FRAME, len(out) - end))]
        out[end:end + len(ramp_up)] *= ramp_up
    return out


def suppress(channels: list[np.ndarray]) -> tuple[list[np.ndarray], list[float]]:
    """Both channels of a stereo call with the other's echo turned down, and the seconds turned
    down on each. Other channel counts are returned as they are."""
    if len(channels) != 2:
        return channels, [0.0] * len(channels)
    out, seconds = [], []
    for own, other in ((channels[0], channels[1]), (channels[1], channels[0])):
        mask = echo_frames(own, other)
        if not mask.any():
            out.append(own)
            seconds.append(0.0)
            continue
        out.append(_turned_down(own, mask))
        seconds.append(round(float(mask.sum()) * FRAME / 16000, 2))
    return out, seconds
