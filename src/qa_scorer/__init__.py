"""qa-scorer: offline call-quality scoring for Mandarin contact centres."""

from qa_scorer.models import Evidence, ItemResult, Scorecard, Segment, Transcript

__all__ = [
    "Evidence",
    "ItemResult",
    "Scorecard",
    "Segment",
    "Transcript",
    "load_rubric",
    "load_transcript",
    "score_transcript",
]
__version__ = "0.1.0"


def __getattr__(name: str):  # lazy: keep `import qa_scorer` cheap
    if name == "load_rubric":
        from qa_scorer.rubric.loader import load_rubric

        return load_rubric
    if name == "load_transcript":
        from qa_scorer.ingest import load_transcript

        return load_transcript
    if name == "score_transcript":
        from qa_scorer.score import score_transcript

        return score_transcript
    raise AttributeError(name)
