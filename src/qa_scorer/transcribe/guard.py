"""The hallucination and loop guard: pure functions of decoded words and scores.

Whisper invents text on silence and noise (subtitle credits, video outros), reads its own prompt
back on hiss, and on fast speech without pauses may repeat one phrase until the window ends. This
module recognises all three, and tells when a decoded window failed and needs decoding again.
"""

from __future__ import annotations

import zlib
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Optional, Sequence

from qa_scorer.models import Word
from qa_scorer.normalize import GUARD_ONLY_CREDITS, SUBTITLE_CREDITS, credit_norm, to_simplified

# Compared after simplified conversion with punctuation and spaces removed, lower case.
HALLUCINATIONS = SUBTITLE_CREDITS + GUARD_ONLY_CREDITS


def norm(text: str) -> str:
    """Text as the guard compares it: NFKC, no punctuation or spaces, lower case."""
    return credit_norm(text)


def is_loop(words: Sequence[str], max_repeats: int) -> list[bool]:
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


def has_loop(words: Sequence[Word], max_repeats: int) -> bool:
    return any(is_loop([norm(w.word) for w in words], max_repeats))


def _owners(normed: list[str]) -> list[int]:
    """For each character of the words' joined compared text, the index of the word it is in."""
    owner: list[int] = []
    for i, t in enumerate(normed):
        owner.extend([i] * len(t))
    return owner


@lru_cache(maxsize=8)
def _told(prompt: str) -> str:
    """The initial prompt as the guard compares it (simplified, ``norm``): worked out once per prompt,
    not once per segment."""
    return norm(to_simplified(prompt))


def guard_words(words: list[Word], max_repeats: int) -> list[Word]:
    """Remove known hallucination phrases and repetition loops from a run of words."""
    if not words:
        return words
    normed = [norm(w.word) for w in words]
    owner = _owners(normed)
    flat = "".join(normed)
    bad = set()
    for phrase in HALLUCINATIONS:
        start = flat.find(phrase)
        while start >= 0:
            bad.update(owner[start:start + len(phrase)])
            start = flat.find(phrase, start + 1)
    loop = is_loop(normed, max_repeats)
    kept = [w for i, w in enumerate(words) if i not in bad and not loop[i]]
    return kept if any(norm(w.word) for w in kept) else []


def _prompt_pieces(said: str, told: str, least: int = 4) -> list[tuple[int, int]]:
    """Where ``said`` holds pieces of ``told`` at least ``least`` characters long, as (start, length)
    (at each place the longest piece that starts there)."""
    pieces = []
    i = 0
    while i < len(said):
        n = 0
        while i + n < len(said) and said[i:i + n + 1] in told:
            n += 1
        if n >= least:
            pieces.append((i, n))
            i += n
        else:
            i += 1
    return pieces


# A piece of the prompt this long inside a segment is the prompt read back beside real or misheard
# words (使用简体中文。我六七八十 for a phone number); no one says six of its characters in a row.
PROMPT_PIECE_CHARS = 6


def holds_prompt(words: list[Word], prompt: Optional[str]) -> bool:
    """True when a segment holds ``PROMPT_PIECE_CHARS`` or more of the initial prompt in a row."""
    if not words or not prompt:
        return False
    said = "".join(norm(w.word) for w in words)
    return any(n >= PROMPT_PIECE_CHARS for _, n in _prompt_pieces(said, _told(prompt)))


def without_prompt(words: list[Word], prompt: Optional[str]) -> list[Word]:
    """The words of a segment that are not in pieces of the initial prompt (4 characters or
    more); [] when nothing but punctuation is left."""
    if not words or not prompt:
        return words
    normed = [norm(w.word) for w in words]
    owner = _owners(normed)
    bad = {owner[k] for at, n in _prompt_pieces("".join(normed), _told(prompt))
           for k in range(at, at + n)}
    for i, t in enumerate(normed):  # punctuation after a dropped word goes with it
        if not t and i - 1 in bad:
            bad.add(i)
    kept = [w for i, w in enumerate(words) if i not in bad]
    return kept if any(norm(w.word) for w in kept) else []


def echoes_prompt(words: list[Word], prompt: Optional[str]) -> bool:
    """True when a segment's whole text is a piece of the initial prompt (4 characters or more),
    or, 8 characters or more, is three quarters the prompt's characters in its order, or three
    quarters pieces of the prompt: on noise or hiss Whisper may read its own prompt back
    (录音，使用简体中文。), on a poor line with a word of it misheard (而是普通话客服电话录音，使用简体中文。
    for 以下是…) or a few real words beside it (好战，使用简体中文。 for 好的), or a piece of it twice
    (以下是普通话客服电。以下是普通话客服电。 for a phone number read out)."""
    if not words or not prompt:
        return False
    said = "".join(norm(w.word) for w in words)
    told = _told(prompt)
    if len(said) >= 4 and said in told:
        return True
    if len(said) < 8:
        return False
    if sum(n for _, n in _prompt_pieces(said, told)) >= 0.75 * len(said):
        return True
    shared = sum(b.size for b in SequenceMatcher(None, said, told, autojunk=False).get_matching_blocks())
    # ... or twelve of its characters in order beside a few misheard words (音声排下。音声上是普通话客服电话录音，
    # 使用简体中文。 for a phone number read out): no one says that much of the prompt
    return shared >= 8 and (shared >= 0.75 * len(said) or (shared >= 12 and shared >= 0.6 * len(said)))


def low_confidence(avg_logprob: float, no_speech_prob: float, *, drop_log_prob: float,
                   no_speech_threshold: float, log_prob_threshold: float) -> bool:
    """A decoded stretch too unlikely to keep: very low log-probability, or probably no speech
    at all and not confidently decoded."""
    return avg_logprob < drop_log_prob or (
        no_speech_prob > no_speech_threshold and avg_logprob < log_prob_threshold + 0.3)


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))


# Speech packed into a window carries several characters a second; a decoded window with less
# than this per second of speech stopped early (Whisper may end a window at the first pause).
MIN_CHARS_PER_SECOND = 1.0


def window_failed(text: str, avg_logprob: float, no_speech_prob: float, *, log_prob_threshold: float,
                  no_speech_threshold: float, compression_ratio_threshold: float,
                  speech_seconds: float = 0.0) -> bool:
    """Whether a decoded window should be decoded again: Whisper's own fallback tests (too
    repetitive, too unlikely where there is speech), or far too little text for the speech in it."""
    if compression_ratio(text) > compression_ratio_threshold:
        return True
    if speech_seconds >= 5 and len(norm(text)) < MIN_CHARS_PER_SECOND * speech_seconds:
        return True
    silent = no_speech_prob > no_speech_threshold
    return avg_logprob < log_prob_threshold and not silent
