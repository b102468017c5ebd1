"""The review app's ASGI application (Starlette) and its server (uvicorn).

Each request opens the history for itself (SQLite connections are per thread) and runs its
database work in a worker thread. Authorisation goes through ``review.allowed`` (via the
``Reviews`` queries, which limit an agent to their own data); anything an agent may not see is
answered 404, exactly like something that does not exist.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import time
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import quote

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from qa_scorer.review import ReviewError, Reviews, local_time
from qa_scorer.store import History, StoreError
from qa_scorer.web import auth

log = logging.getLogger("qa_scorer.web")
_HERE = Path(__file__).resolve().parent.parent


def _num(x: Optional[float]) -> str:
    if x is None:
        return "–"
    return f"{x:.1f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


@lru_cache(maxsize=1)
def env() -> jinja2.Environment:
    """The app's templates: the reports' look (base.html, report.css/js) plus the app's pages."""
    e = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    css = (_HERE / "static" / "report.css").read_text(encoding="utf-8")
    css += "\n" + (_HERE / "static" / "app.css").read_text(encoding="utf-8")
    js = (_HERE / "static" / "report.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    e.filters.update(num=_num, local=local_time, urlpart=lambda s: quote(str(s), safe=""))
    from qa_scorer.web.report_parts import clock, short

    e.filters.update(clock=clock, short=short)
    e.globals.update(css=Markup(css), js=Markup(js), script_hash=f"sha256-{digest}", filters="", generated="")
    return e


def csp() -> str:
    return (f"default-src 'none'; style-src 'unsafe-inline'; script-src '{env().globals['script_hash']}'; "
            "img-src 'self' data:; media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def page(template: str, status: int = 200, **context) -> HTMLResponse:
    from qa_scorer.web.report_parts import strip_controls

    context.setdefault("generated", datetime.now().strftime("%Y-%m-%d %H:%M"))
    html = env().get_template(template).render(**context)
    return HTMLResponse(strip_controls(html), status_code=status)


class Ctx:
    """What a handler gets: the request, its form, the open history and the session (if any)."""

    def __init__(self, request: Request, form, reviews: Reviews, session):
        self.request = request
        self.form = form
        self.reviews = reviews
        self.session = session

    @property
    def user(self):
        return self.session.user

    def render(self, template: str, status: int = 200, **context) -> HTMLResponse:
        return page(template, status, user=self.user, csrf=self.session.csrf, **context)

    def field(self, name: str, limit: int = 4000) -> str:
        v = self.form.get(name) if self.form is not None else None
        if not isinstance(v, str):
            raise ReviewError(f"missing form field {name!r}")
        return v[:limit]


def message(status: int, title: str, text: str, session=None, back: Optional[str] = None) -> HTMLResponse:
    return page("app_message.html", status, title=title, message=text, back=back,
                user=session.user if session else None, csrf=session.csrf if session else "")


def endpoint(handler: Callable[[Ctx], Response], *, login: bool = True) -> Callable:
    """Wrap a handler: read the form, open the history, find the session, check CSRF on POST,
    run the handler in a worker thread, and turn domain errors into pages (404, 400, 409)."""
    from qa_scorer.review import Conflict, NotFound

    async def run(request: Request) -> Response:
        settings = request.app.state.settings
        form = None
        if request.method == "POST":
            # A logged-out client is refused before its body is read.
            def logged_in() -> bool:
                with History(settings["db"]) as history:
                    return auth.current_session(request, Reviews(history)) is not None

            try:
                known = await run_in_threadpool(logged_in)
            except StoreError as exc:
                log.error("history database error: %s", exc)
                return message(503, "数据库错误 History database error", "the history database is not available")
            if not known:
                return message(401, "请先登录 Log in first", "your session ended or you are not logged in")
            form = await read_form(request)

        def work() -> Response:
            try:
                with History(settings["db"]) as history:
                    reviews = Reviews(history, appeal_days=settings["appeal_days"],
                                      session_hours=settings["session_hours"])
                    session = auth.current_session(request, reviews)
                    request.state.user = session.user.name if session else "-"
                    if session is None:
                        if request.method == "GET":
                            return RedirectResponse("/login", status_code=303)
                        return message(401, "请先登录 Log in first", "your session ended or you are not logged in")
                    if request.method == "POST" and not auth.csrf_ok(form, session):
                        return message(403, "请求被拒绝 Request refused",
                                       "missing or wrong csrf_token: reload the page and try again", session)
                    try:
                        return handler(Ctx(request, form, reviews, session))
                    except NotFound:
                        return message(404, "未找到 Not found", "no such page", session)
                    except Conflict as exc:
                        return message(409, "已被他人处理 Already changed", str(exc), session)
                    except ReviewError as exc:
                        return message(400, "无法完成 Not done", str(exc), session)
            except StoreError as exc:
                log.error("history database error: %s", exc)
                return message(503, "数据库错误 History database error", "the history database is not available")

        return await run_in_threadpool(work)

    return run


# bytes: the largest form the app takes, a 2000-character reason, is 18 KB URL-encoded in Chinese
# (9 bytes a character) and 24 KB in emoji (12); a field may be that large
MAX_BODY = 64 * 1024
FORM_LIMITS = {"max_files": 0, "max_fields": 20, "max_part_size": 32 * 1024}
_LOG_UNSAFE = re.compile(r"[\x00-\x20\x7f-\xa0\u2028\u2029\\]")


async def read_form(request: Request):
    """The POSTed form: no file uploads, few fields, small parts (the body itself is capped by Guard)."""
    return await request.form(**FORM_LIMITS)


def log_safe(text: object) -> str:
    """Text for one field of the request log: control characters, spaces and backslashes escaped,
    so no input can end the line or fake another field."""
    return _LOG_UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                           else f"\\u{ord(m.group()):04x}", str(text)) or "-"


class BodyTooLarge(Exception):
    pass


class Guard:
    """The app's own outer layer (pure ASGI, around the routes and their error handling): caps request bodies (413 above ``MAX_BODY``,
    by Content-Length or as the bytes stream in), puts the security headers on every response,
    errors included, answers an unhandled error with the app's 500 page, and writes one log
    line per request (client, user, method, path, status, time) with its fields escaped."""

    def __init__(self, app, max_body: int = MAX_BODY):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        state = scope.setdefault("state", {})
        state["user"] = "-"
        sent = {"status": 0}

        async def guarded_send(msg):
            if msg["type"] == "http.response.start":
                sent["status"] = msg["status"]
                headers = MutableHeaders(scope=msg)
                headers["Content-Security-Policy"] = csp()
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers.setdefault("Cache-Control", "no-store")
            await send(msg)

        received = 0

        async def capped_receive():
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge()
            return msg

        async def refuse(status: int, title: str, text: str) -> None:
            if not sent["status"]:
                await message(status, title, text)(scope, receive, guarded_send)

        try:
            length = Headers(scope=scope).get("content-length")
            if length is not None and (not length.isascii() or not length.isdigit()
                                       or int(length) > self.max_body):
                await refuse(413, "请求过大 Request too large", f"a request body may hold at most {self.max_body} bytes")
            else:
                await self.app(scope, capped_receive, guarded_send)
        except BodyTooLarge:
            await refuse(413, "请求过大 Request too large", f"a request body may hold at most {self.max_body} bytes")
        except Exception:
            log.exception("unhandled error in %s %s", log_safe(scope.get("method")), log_safe(scope.get("path")))
            await refuse(500, "出错了 Server error", "the server could not answer this request")
        finally:
            client = scope.get("client")
            log.info("%s %s %s %s %d %.0fms", log_safe(client[0] if client else "-"), log_safe(state.get("user", "-")),
                     log_safe(scope.get("method")), log_safe(scope.get("path")), sent["status"],
                     1000 * (time.perf_counter() - t0))


# -- login and logout (before a session exists) -----------------------------------------------

async def login_page(request: Request) -> Response:
    settings = request.app.state.settings

    def work():
        with History(settings["db"]) as history:
            return auth.current_session(request, Reviews(history))

    if await run_in_threadpool(work) is not None:
        return RedirectResponse("/", status_code=303)
    token = auth.login_csrf(request)
    response = page("app_login.html", csrf=token, message="", username="")
    auth.set_cookie(response, request, auth.LOGIN_COOKIE, token, 3600)
    return response


async def login_post(request: Request) -> Response:
    form = await read_form(request)
    settings = request.app.state.settings
    username = form.get("username")
    username = username[:200] if isinstance(username, str) else ""
    if not auth.login_csrf_ok(request, form):
        token = auth.login_csrf(request)
        response = page("app_login.html", 403, csrf=token, username=username,
                        message="missing or wrong csrf_token: reload the page and log in again")
        auth.set_cookie(response, request, auth.LOGIN_COOKIE, token, 3600)
        return response
    password = form.get("password")
    password = password if isinstance(password, str) else ""

    known = []  # the submitted name, for the log, only if such a user exists

    def work():
        with History(settings["db"]) as history:
            reviews = Reviews(history, session_hours=settings["session_hours"])
            try:
                return reviews.login(username, password[:1024])
            except ReviewError:
                try:
                    known.append(reviews.user(username).name)
                except ReviewError:
                    pass
                raise

    slots: asyncio.Semaphore = request.app.state.login_slots
    try:
        # At most ``login_slots`` password checks (64 MiB each) at once; the rest wait their turn.
        await asyncio.wait_for(slots.acquire(), timeout=settings["login_wait"])
    except asyncio.TimeoutError:
        return message(503, "服务器繁忙 Server busy", "too many logins at once: try again in a minute")
    try:
        session = await run_in_threadpool(work)
    except ReviewError as exc:
        failed = exc
    else:
        failed = None
    finally:
        slots.release()
    if failed is not None:
        await asyncio.sleep(settings["failed_login_delay"])  # slows guessing; the lock stops it
        request.state.user = known[0] if known else "-"
        token = auth.login_csrf(request)
        response = page("app_login.html", 401, csrf=token, username=username, message=str(failed))
        auth.set_cookie(response, request, auth.LOGIN_COOKIE, token, 3600)
        return response
    request.state.user = session.user.name
    response = RedirectResponse("/", status_code=303)
    auth.set_cookie(response, request, auth.SESSION_COOKIE, session.token, int(settings["session_hours"] * 3600))
    auth.clear_cookie(response, request, auth.LOGIN_COOKIE)
    return response


def _logout(ctx: Ctx) -> Response:
    ctx.reviews.logout(ctx.session.token)
    response = RedirectResponse("/login", status_code=303)
    auth.clear_cookie(response, ctx.request, auth.SESSION_COOKIE)
    return response


def create_app(db: str | Path, *, appeal_days: float = 7, session_hours: float = 8,
               failed_login_delay: float = 0.5, login_slots: int = 2, login_wait: float = 30) -> Starlette:
    """The review app over the history database ``db`` (created with its migrations if new)."""
    from qa_scorer.web import routes

    db = Path(db)
    History(db).close()  # fail now, with a clear error, if the database cannot be used
    app = Starlette(
        routes=[
            Route("/login", login_page, methods=["GET"]),
            Route("/login", login_post, methods=["POST"]),
            Route("/logout", endpoint(_logout), methods=["POST"]),
            *routes.routes(endpoint),
        ],
        middleware=[Middleware(Guard)],
    )
    app.state.settings = {"db": db, "appeal_days": appeal_days, "session_hours": session_hours,
                          "failed_login_delay": failed_login_delay, "login_wait": login_wait}
    app.state.login_slots = asyncio.Semaphore(login_slots)
    return app


def serve(db: str | Path, *, host: str = "127.0.0.1", port: int = 8000, appeal_days: float = 7,
          session_hours: float = 8, ssl_certfile: Optional[str] = None, ssl_keyfile: Optional[str] = None) -> None:
    """Run the app with uvicorn until interrupted; one log line per request."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(db, appeal_days=appeal_days, session_hours=session_hours)
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info",
                ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
