"""The review app's pages and actions. Every handler gets a logged-in user (``Ctx``) whose POST
carried the right CSRF token; what it may see is asked of ``review`` (``allowed`` and the
queries that limit an agent to their own data)."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from statistics import mean
from urllib.parse import quote

from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from qa_scorer.review import APPEAL_STATES, NotFound, ReviewError, allowed, appealable, export_reviews
from qa_scorer.web.app import Ctx

_ID = re.compile(r"[0-9]{1,12}")
HOME_CALLS = 500  # calls listed on a home page, newest first (the CSV export has them all)
EXPORTS = ("calls", "agents", "agent_weeks", "weeks", "items", "score_distribution", "fatal_calls",
           "rubric_versions", "rubric_version_items", "appeals", "rulings", "review_labels")


def _call_href(call_id: str) -> str:
    return "/calls/" + quote(call_id, safe="")


def home(ctx: Ctx) -> Response:
    from qa_scorer.web.report_parts import sparkline

    user = ctx.user
    rows = ctx.reviews.call_rows(user)
    scores = [r.score for r in rows if not r.no_speech]  # a call without speech says nothing of the agent
    appeals = ctx.reviews.appeals(user, state="open")
    shown = rows[::-1][:HOME_CALLS]  # newest first
    return ctx.render(
        "app_home.html", calls=shown, total_calls=len(rows), ruled=ctx.reviews.ruled_items(user),
        mean=mean(scores) if scores else None,
        fatal=sum(1 for r in rows if r.fatal and not r.no_speech), open_appeals=len(appeals), appeals=appeals,
        to_review=ctx.reviews.needs_review(user),
        trend=sparkline(scores[-30:], lo=0, hi=100, width=480, height=80) if user.role == "agent" else "",
    )


def _recording(ctx: Ctx, call):
    """The call's recording as the reports take it, refused where calls of another agent were
    scored with the same file (one recording is one call): the history asked about this file only."""
    from qa_scorer.report.files import unshared
    from qa_scorer.web.report_parts import audio_source

    rec = audio_source(call)
    if rec.path is None:
        return rec
    return unshared(call, rec, ctx.reviews.history.recording_agents(str(rec.path)))


def call_page(ctx: Ctx) -> Response:
    from datetime import datetime, timezone

    from qa_scorer.web.report_parts import call_context

    call_id = ctx.request.path_params["call_id"]
    call = ctx.reviews.call(ctx.user, call_id)
    rec = _recording(ctx, call)
    deadline = ctx.reviews.deadline(call_id)
    context = call_context(call)
    if ctx.user.role == "agent":
        context["source"] = None  # where the server read the call from is no agent's business
    call_appeals = ctx.reviews.appeals(ctx.user, call_id=call_id)
    pending = {a.item_id for a in call_appeals if a.state == "open"}  # a second one would be refused
    return ctx.render(
        "app_call.html", back_href="/", back_label="首页 Home",
        audio_href=_call_href(call_id) + "/audio" if rec.path is not None else None,
        audio_missing=rec.missing, audio_refused=rec.refused,
        call_appeals=call_appeals,
        can_appeal=allowed(ctx.user, "appeal", call.agent_id), can_rule=allowed(ctx.user, "rule"),
        appeal_items=[it for it in context["items"]
                      if appealable(it["item"].status) and it["item"].id not in pending],
        deadline=deadline.isoformat(timespec="minutes"),
        deadline_passed=datetime.now(timezone.utc) > deadline,
        **context,
    )


def transcript(ctx: Ctx) -> Response:
    call = ctx.reviews.call(ctx.user, ctx.request.path_params["call_id"])
    return JSONResponse(json.loads(call.transcript.model_dump_json()))


def audio(ctx: Ctx) -> Response:
    call = ctx.reviews.call(ctx.user, ctx.request.path_params["call_id"])
    rec = _recording(ctx, call)
    if rec.path is None:
        raise NotFound("no recording")
    import mimetypes

    kind = mimetypes.guess_type(rec.path.name)[0] or ""
    # only ever an audio or video type (audio_source takes recordings' file types only)
    kind = kind if kind.startswith(("audio/", "video/")) else "application/octet-stream"
    return FileResponse(rec.path, media_type=kind, headers={"Cache-Control": "private, no-store"})


def file_appeal(ctx: Ctx) -> Response:
    call_id = ctx.request.path_params["call_id"]
    ctx.reviews.file_appeal(ctx.user, call_id, ctx.field("item", 200), ctx.field("reason"))
    return RedirectResponse(_call_href(call_id) + "#appeals", status_code=303)


def review_item(ctx: Ctx) -> Response:
    call_id = ctx.request.path_params["call_id"]
    ctx.reviews.review_item(ctx.user, call_id, ctx.field("item", 200), ctx.field("status", 10), ctx.field("note"))
    return RedirectResponse(_call_href(call_id) + "#items", status_code=303)


def appeals(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    state = q.get("state") or None
    if state is not None and state not in APPEAL_STATES:
        raise ReviewError(f"state must be one of {', '.join(APPEAL_STATES)}")
    agent = (q.get("agent") or None) if ctx.user.role != "agent" else None
    item = q.get("item") or None
    return ctx.render("app_appeals.html", appeal=None, audit=[], states=APPEAL_STATES, state=state, agent=agent,
                      item=item, appeals=ctx.reviews.appeals(ctx.user, state=state, agent=agent, item=item))


def _appeal_id(ctx: Ctx) -> int:
    raw = ctx.request.path_params["appeal_id"]
    if not _ID.fullmatch(raw):  # ASCII digits only: str.isdigit() also takes '¹' and '５'
        raise NotFound(raw)
    return int(raw)


def appeal_page(ctx: Ctx) -> Response:
    appeal_id = _appeal_id(ctx)
    a = ctx.reviews.appeal(ctx.user, appeal_id)
    return ctx.render("app_appeals.html", appeal=a, audit=ctx.reviews.audit(ctx.user, appeal_id),
                      states=APPEAL_STATES, state=None, agent=None, item=None, appeals=[])


def decide(ctx: Ctx) -> Response:
    appeal_id = _appeal_id(ctx)
    note = ctx.form.get("note") if ctx.form is not None else ""
    a = ctx.reviews.decide(ctx.user, appeal_id, ctx.field("decision", 20), note if isinstance(note, str) else "")
    return RedirectResponse(_call_href(a.call_id) + "#appeals", status_code=303)


def dashboard(ctx: Ctx) -> Response:
    if not allowed(ctx.user, "dashboard"):
        raise NotFound("dashboard")
    rows = ctx.reviews.history.call_rows()
    per_agent: dict[str, dict] = {}
    for r in rows:
        a = per_agent.setdefault(r.agent_id, {"agent": r.agent_id, "calls": 0, "scores": [], "fatal": 0, "bonus": 0.0})
        a["calls"] += 1
        if r.no_speech:  # listed as a call, but no evidence about the agent (see report.data)
            continue
        a["scores"].append(r.score)
        a["fatal"] += int(r.fatal)
        a["bonus"] += r.bonus
    agents = []
    for a in sorted(per_agent.values(), key=lambda a: a["agent"]):
        a["mean"] = mean(a["scores"]) if a["scores"] else None
        agents.append(a)
    stats = ctx.reviews.overturn_stats(ctx.user)
    decided = sum(r["upheld"] + r["overturned"] for r in stats["item"])
    overturned = sum(r["overturned"] for r in stats["item"])
    judged = [r for r in rows if not r.no_speech]
    total = {"calls": len(rows), "mean": mean(r.score for r in judged) if judged else None,
             "fatal": sum(int(r.fatal) for r in judged), "appeals": sum(r["appeals"] for r in stats["item"]),
             "rate": overturned / decided if decided else None}
    return ctx.render("app_dashboard.html", total=total, agents=agents, stats=stats, exports=EXPORTS)


def export(ctx: Ctx) -> Response:
    from qa_scorer.web.report_parts import export_csv

    if not allowed(ctx.user, "dashboard"):
        raise NotFound("export")
    name = ctx.request.path_params["name"]
    if name not in EXPORTS:
        raise NotFound(name)
    with tempfile.TemporaryDirectory(prefix="qa-export-") as tmp:
        if name in ("appeals", "rulings", "review_labels"):
            export_reviews(ctx.reviews, Path(tmp))
        else:
            export_csv(ctx.reviews.history, Path(tmp))
        data = (Path(tmp) / f"{name}.csv").read_bytes()
    return Response(data, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def users(ctx: Ctx) -> Response:
    if not allowed(ctx.user, "users"):
        raise NotFound("users")
    return ctx.render("app_users.html", users=ctx.reviews.users())


def disable_user(ctx: Ctx) -> Response:
    if not allowed(ctx.user, "users"):
        raise NotFound("users")
    name = ctx.request.path_params["name"]
    if name == ctx.user.name:
        raise ReviewError("you cannot disable yourself")
    ctx.reviews.disable(name, by=ctx.user.name)
    return RedirectResponse("/users", status_code=303)


def routes(endpoint) -> list[Route]:
    # The call id may hold any character (even '/'): the action routes come before the page.
    return [
        Route("/", endpoint(home), methods=["GET"]),
        Route("/calls/{call_id:path}/appeals", endpoint(file_appeal), methods=["POST"]),
        Route("/calls/{call_id:path}/reviews", endpoint(review_item), methods=["POST"]),
        Route("/calls/{call_id:path}/transcript", endpoint(transcript), methods=["GET"]),
        Route("/calls/{call_id:path}/audio", endpoint(audio), methods=["GET"]),
        Route("/calls/{call_id:path}", endpoint(call_page), methods=["GET"]),
        Route("/appeals", endpoint(appeals), methods=["GET"]),
        Route("/appeals/{appeal_id}", endpoint(appeal_page), methods=["GET"]),
        Route("/appeals/{appeal_id}", endpoint(decide), methods=["POST"]),
        Route("/dashboard", endpoint(dashboard), methods=["GET"]),
        Route("/export/{name}.csv", endpoint(export), methods=["GET"]),
        Route("/users", endpoint(users), methods=["GET"]),
        Route("/users/{name}/disable", endpoint(disable_user), methods=["POST"]),
    ]

