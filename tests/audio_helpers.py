"""Small audio files made on the fly for the ingest and transcription tests."""

import wave
from pathlib import Path

import numpy as np


def write_pcm(path: Path, samples: np.ndarray, rate: int) -> Path:
    """16-bit PCM WAV; one row of ``samples`` per channel, values in [-1, 1]."""
    data = np.atleast_2d(samples)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(data.shape[0])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(data.T, -1, 1) * 32767).astype("<i2").tobytes())
    return path
