"""The review app: ``qa-scorer serve``. Agents see their own scorecards and appeal (申诉); QA staff
rule on appeals and review items (复核); managers see overturn rates. Server-rendered pages over
the same SQLite history ``score`` writes."""

from qa_scorer.web.app import create_app, serve

__all__ = ["create_app", "serve"]
