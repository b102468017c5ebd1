"""Sessions and CSRF for the review app: one place every route goes through.

A request's user comes from the session cookie (only its SHA-256 is stored); every POST must
carry the session's ``csrf_token`` (the login form: the pre-login token of its own cookie);
what a user may see or do is ``review.allowed``.
"""

from __future__ import annotations

import secrets
from typing import Optional

from starlette.requests import Request
from starlette.responses import Response

from qa_scorer.review import Reviews, Session, same_token

SESSION_COOKIE = "qa_session"
LOGIN_COOKIE = "qa_login_csrf"


def secure(request: Request) -> bool:
    """Whether the request came over TLS: cookies are then marked Secure."""
    return request.url.scheme == "https"


def current_session(request: Request, reviews: Reviews) -> Optional[Session]:
    return reviews.session(request.cookies.get(SESSION_COOKIE))


def csrf_ok(form, session: Session) -> bool:
    token = form.get("csrf_token") if form is not None else None
    return isinstance(token, str) and same_token(token, session.csrf)


def login_csrf(request: Request) -> str:
    """The pre-login CSRF token: the one in the login cookie, or a new one."""
    token = request.cookies.get(LOGIN_COOKIE)
    if token and 20 <= len(token) <= 100:
        return token
    return secrets.token_urlsafe(32)


def login_csrf_ok(request: Request, form) -> bool:
    token = form.get("csrf_token") if form is not None else None
    return isinstance(token, str) and same_token(token, request.cookies.get(LOGIN_COOKIE))


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=secure(request))


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=secure(request))
