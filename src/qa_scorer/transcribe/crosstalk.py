"""Crosstalk: one party's voice heard faintly on the other party's channel of a stereo call.

Real stereo recordings often carry an echo of the agent on the customer's channel (line or
acoustic echo, 20–40 dB down) and the other way round. The speech detector hears it and Whisper
writes it down, so the customer "says" the agent's greeting and closing, the agent "talks over"
the customer, and real turns merge with the echo. Echo is a delayed, quieter copy: on the frames
where it is heard, the channel's loudness follows the other channel's (delayed by up to
``MAX_LAG`` frames) closely, and the channel is well below the other. Real double talk follows
its own speaker's loudness, not the other's, so it is kept. Pure numpy.
"""

from __future__ import annotations

import numpy as np

FRAME = 160  # samples at 16 kHz: 10 ms
WINDOW = 50  # frames over which loudness is compared (0.5 s)
MAX_LAG = 30  # frames: echo up to 300 ms late
MIN_CORRELATION = 0.75
MIN_GAP_DB = 10.0  # the channel at least this much quieter than the other (smoothed over 100 ms)
FILL_FRAMES = 20  # gaps up to 200 ms between echo frames, still quieter, count as echo too
# Echo frames are turned down by 30 dB, not cut out: an echo 20 dB down ends 50 dB down, below what
# the speech detector and Whisper hear (an echo 40 dB down is not transcribed), and the channel's
# own noise floor does not drop to digital silence and back.
ECHO_GAIN = 10 ** (-30 / 20)


def _levels(x: np.ndarray) -> np.ndarray:
    n = len(x) // FRAME
    if n == 0:
        return np.zeros(0)
    frames = x[:n * FRAME].astype(np.float64).reshape(n, FRAME)
    return 10.0 * np.log10((frames * frames).mean(axis=1) + 1e-10)


def _rolling_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Mean over a window of ``w`` frames centred on each frame (NaN where it does not fit)."""
    out = np.full(len(x), np.nan)
    if len(x) < w:
        return out
    c = np.concatenate(([0.0], np.cumsum(x)))
    half = w // 2
    out[half:half + len(x) - w + 1] = (c[w:] - c[:-w]) / w
    return out


def _smooth(x: np.ndarray, w: int) -> np.ndarray:
    return np.convolve(x, np.ones(w) / w, mode="same")


def echo_frames(own: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Which 10 ms frames of ``own`` (16 kHz) are the ``other`` channel's voice heard faintly."""
    eo, ex = _levels(own), _levels(other)
    n = min(len(eo), len(ex))
    eo, ex = eo[:n], ex[:n]
    if n < WINDOW:
        return np.zeros(n, dtype=bool)
    mo, moo = _rolling_mean(eo, WINDOW), _rolling_mean(eo * eo, WINDOW)
    var_o = moo - mo * mo
    own_level = _smooth(eo, 10)
    mask = np.zeros(n, dtype=bool)
    quieter = np.zeros(n, dtype=bool)  # below the other at some delay: where gaps may be filled
    floor = float(ex.min())
    for lag in range(MAX_LAG + 1):
        shifted = np.concatenate((np.full(lag, floor), ex[:n - lag])) if lag else ex
        ms, mss = _rolling_mean(shifted, WINDOW), _rolling_mean(shifted * shifted, WINDOW)
        cov = _rolling_mean(eo * shifted, WINDOW) - mo * ms
        r = np.nan_to_num(cov / np.sqrt(np.maximum(var_o * (mss - ms * ms), 1e-9)), nan=-1.0)
        below = _smooth(shifted, 10) - own_level >= MIN_GAP_DB  # the echo is quieter than its source
        quieter |= below
        mask |= (r >= MIN_CORRELATION) & below
    hits = np.flatnonzero(mask)
    for i, j in zip(hits[:-1], hits[1:]):
        if 1 < j - i <= FILL_FRAMES and quieter[i:j].all():
            mask[i:j] = True
    return mask


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
        gain = np.ones(len(own))
        gain[:len(mask) * FRAME] = np.where(np.repeat(mask, FRAME), ECHO_GAIN, 1.0)
        # 10 ms ramps at the edges: no clicks for the speech detector to hear
        gain = np.convolve(gain, np.ones(FRAME) / FRAME, mode="same")
        out.append((own * gain).astype(own.dtype))
        seconds.append(round(float(mask.sum()) * FRAME / 16000, 2))
    return out, seconds
