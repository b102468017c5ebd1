"""Recordings → transcripts (format v1) with faster-whisper.

One module per job:

- ``options``     :class:`TranscribeOptions`, the one options record (defaults defined once)
- ``engine``      the only importer of faster-whisper (lazily): models, speech detection, batched
                  decoding (beam 5), the careful re-decoding of a failed window
- ``guard``       the hallucination and loop guard (pure)
- ``utterances``  speech regions → decoder windows, words → utterances (pure)
- ``roles``       agent / customer per channel or per voice (with ``diarize``)
- ``call``        one call end to end
- ``batch``       many calls: cache, worker processes, progress (with ``asr_models``)

A call's speech regions (every channel) are packed into 30-second windows and decoded together,
greedily; only a window that fails Whisper's own tests or loops is decoded again with beam search
and the temperature fallback.
"""

from .asr_models import ModelError, list_models, resolve_model
from .batch import LAST_BATCH, STATS, transcribe_batch
from .call import transcribe_audio, transcribe_call
from .engine import load_model
from .options import DEFAULT_PROMPT, TranscribeOptions

__all__ = [
    "TranscribeOptions", "transcribe_call", "transcribe_audio", "transcribe_batch", "load_model",
    "list_models", "resolve_model", "ModelError", "STATS", "LAST_BATCH", "DEFAULT_PROMPT",
]
