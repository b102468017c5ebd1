"""Decoded words → utterances (pure: no Whisper). Where an utterance starts and ends decides
interruptions and holds, so its edges are pinned here."""

from __future__ import annotations

from qa_scorer.models import Word
from qa_scorer.transcribe.utterances import split_utterances


def _words(*spans):
    return [Word(word=f"字{i}", start=a, end=b) for i, (a, b) in enumerate(spans)]


def test_an_utterance_takes_the_speech_detectors_edges_near_its_words():
    (u,) = split_utterances(_words((1.3, 1.8), (1.8, 2.6)), [(1.1, 2.9)], 0.5)
    assert (u.start, u.end) == (1.1, 2.9)


def test_a_turn_whose_tail_the_recogniser_dropped_still_ends_where_the_speech_ends():
    """Whisper may stop early in a long, fast or unclear turn: the words end at 15.4 s while the
    customer speaks on until 20.6 s. The utterance ends at 20.6, so an agent who starts at
    18.7 s is seen talking over them."""
    (u,) = split_utterances(_words((6.1, 9.0), (9.0, 15.4)), [(6.0, 20.6)], 0.5)
    assert (u.start, u.end) == (6.0, 20.6)


def test_speech_before_the_first_recognised_word_stays_out_of_the_start():
    # the words begin far inside the region: the start is the words', not the detector's
    (u,) = split_utterances(_words((4.0, 5.0)), [(1.0, 5.2)], 0.5)
    assert (u.start, u.end) == (4.0, 5.2)


def test_words_far_from_any_region_stand_alone_with_their_own_times():
    utts = split_utterances(_words((1.2, 1.9), (9.0, 9.6)), [(1.0, 2.0)], 0.5)
    assert [(u.start, u.end) for u in utts] == [(1.0, 2.0), (9.0, 9.6)]


def test_without_regions_a_pause_splits_utterances():
    utts = split_utterances(_words((0.0, 0.5), (0.6, 1.0), (2.0, 2.5)), [], 0.5)
    assert [(u.start, u.end) for u in utts] == [(0.0, 1.0), (2.0, 2.5)]
