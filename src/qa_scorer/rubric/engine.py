"""Run every enabled rubric item over one call. Pure: (rubric, transcript) → item results."""

from __future__ import annotations

from qa_scorer.models import ItemResult, Transcript
from qa_scorer.rubric.call import Call
from qa_scorer.rubric.registry import Rubric, run_check


def evaluate(rubric: Rubric, transcript: Transcript) -> list[ItemResult]:
    call = Call(transcript, rubric.model_bank)
    results = []
    for item in rubric.items:
        if not item.enabled:
            continue
        if transcript.channel not in item.channels:
            channel = {"phone": "电话", "chat": "在线"}.get(transcript.channel, transcript.channel)
            status, reason, evidence = "na", f"不适用于{channel}渠道（does not apply to {transcript.channel}）", ()
        else:
            out = run_check(item, call)
            status, reason, evidence = out.status, out.text, out.evidence
            if item.kind == "reward" and status == "fail":
                status, reason, evidence = "na", f"未获得：{reason}", ()
        results.append(ItemResult(
            id=item.id, name=item.name, kind=item.kind, status=status, points=0.0, weight=item.points,
            evidence=list(evidence), reason=reason, doc=item.doc,
        ))
    return results
