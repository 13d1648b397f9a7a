"""Register, sign in, sign out. Accounts live in the votes service; the session
cookie holds only the user id, name and session generation (signed, HttpOnly,
SameSite=Lax). A session is valid while its generation is the account's current
one, which the votes service says on every request that reads the session: signing
out, a password change or deleting the account ends every session of the account."""
from __future__ import annotations

import functools
import unicodedata
from urllib.parse import urlsplit

from flask import Blueprint, abort, g, make_response, redirect, render_template, request, session, url_for

from web import metrics
from web.clients import AlreadyExists, InvalidArgument, NotFound, Unauthenticated, User
from web.pagecache import private
from web.ratelimit import over_limit
from web.state import state

bp = Blueprint("auth", __name__, url_prefix="/auth")

# A cookie scripts may read, holding no secret: only "someone is signed in here", so the
# cached pages' header asks /api/session for the name only when it is worth asking.
HINT_COOKIE = "bs_signed_in"
MAX_USERNAME = 32
MAX_PASSWORD = 256


def current_user() -> dict | None:
    """The signed-in user as {"id", "name", "gen"}, or None; asked of the votes service
    once per request (reads the session: never on public pages). A session whose
    generation has moved on (signed out anywhere, password changed) or whose account is
    gone is cleared: the visitor is signed out. Raises Unavailable when votes cannot say."""
    if "user" in g:
        return g.user
    user = None
    if "uid" in session:
        try:
            # A cookie from before session generations has none (0): it matches no account.
            account = state().clients.check_session(int(session["uid"]), int(session.get("gen", 0)))
        except (Unauthenticated, NotFound):
            session.clear()
            g.session_ended = True
        else:
            user = {"id": account.user_id, "name": account.name, "gen": account.session_generation}
    g.user = user
    return user


def sign_in(user: User) -> None:
    session.clear()  # a fresh session on sign-in: no fixation of an older one
    session.permanent = True
    session["uid"] = user.user_id
    session["name"] = user.name
    session["gen"] = user.session_generation
    g.user = {"id": user.user_id, "name": user.name, "gen": user.session_generation}


def sign_out() -> None:
    """End every session of the signed-in account (this one included), then this cookie."""
    user = current_user()
    if user is not None:
        state().clients.end_sessions(user["id"], user["gen"])
    session.clear()
    g.user = None


def forget_session() -> None:
    """Sign this browser out without asking the votes service (the account is gone)."""
    session.clear()
    g.user = None


@bp.after_app_request
def forget_ended_session(response):
    # The session this request came with had ended: its hint cookie goes with it.
    if g.get("session_ended"):
        response.delete_cookie(HINT_COOKIE, samesite="Lax")
    return response


def login_required(view):
    """A view for signed-in visitors; others go to the sign-in page and come back."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths, so ?next= cannot send a visitor elsewhere."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        self.retry_after = retry_after


def check_login_rate(username: str) -> None:
    """Per client address and per account name, shared by every replica through Redis."""
    redis = state().redis
    limit = state().settings.login_attempts_per_minute
    # The votes service compares names in NFKC, case-insensitively: so does the limit,
    # or "ａｌｉｃｅ" and "ALICE" would each get their own attempts at alice's password.
    name_key = unicodedata.normalize("NFKC", username).lower()
    for key in (f"ratelimit:login:addr:{request.remote_addr}", f"ratelimit:login:user:{name_key}"):
        retry_after = over_limit(redis, key, limit)
        if retry_after:
            metrics.LOGIN_LIMITED.inc()
            raise RateLimited(retry_after)


def check_register_rate() -> None:
    """Per client address, shared by every replica: each registration costs the votes
    service an argon2 hash, so one client cannot make it hash without end."""
    retry_after = over_limit(state().redis, f"ratelimit:register:addr:{request.remote_addr}",
                             state().settings.registrations_per_minute)
    if retry_after:
        metrics.REGISTER_LIMITED.inc()
        raise RateLimited(retry_after)


def validate(username: str, password: str) -> str | None:
    if not username or not password:
        return "Enter a user name and a password."
    if len(username) > MAX_USERNAME:
        return f"User names have at most {MAX_USERNAME} characters."
    if len(password) > MAX_PASSWORD:
        return f"Passwords have at most {MAX_PASSWORD} characters."
    return None


def authenticate(username: str, password: str):
    """The user, or None for a wrong name or password (one answer for both)."""
    check_login_rate(username)
    try:
        return state().clients.authenticate(username, password)
    except (Unauthenticated, InvalidArgument):
        return None


def register_user(username: str, password: str):
    """(user, None), or (None, (status, reason)). Raises RateLimited."""
    reason = validate(username, password)
    if reason:
        return None, (400, reason)
    check_register_rate()
    try:
        return state().clients.register(username, password), None
    except AlreadyExists:
        return None, (409, "That user name is taken.")
    except InvalidArgument as error:
        return None, (400, str(error) or "That user name or password is not allowed.")


def with_hint(response, signed_in: bool):
    if signed_in:
        response.set_cookie(HINT_COOKIE, "1", max_age=30 * 24 * 3600, samesite="Lax",
                            secure=state().settings.session_cookie_secure, httponly=False)
    else:
        response.delete_cookie(HINT_COOKIE, samesite="Lax")
    return response


def _form_page(template: str, status: int = 200, **context):
    return private(make_response(render_template(template, next=safe_next(request.values.get("next")),
                                                 **context), status))


def _too_many(template: str, limited: RateLimited, username: str):
    response = _form_page(template, 429, error="Too many attempts. Wait a minute and try again.",
                          username=username)
    response.headers["Retry-After"] = str(limited.retry_after)
    return response


@bp.route("/register", methods=["GET", "POST"])
def register():
    # Only a POST acts: HEAD (which CSRFProtect does not check) gets the form like GET.
    if request.method != "POST":
        return _form_page("auth/register.html")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if password != request.form.get("password2", password):
        return _form_page("auth/register.html", 400, error="The passwords do not match.", username=username)
    try:
        user, problem = register_user(username, password)
    except RateLimited as limited:
        return _too_many("auth/register.html", limited, username)
    if problem:
        return _form_page("auth/register.html", problem[0], error=problem[1], username=username)
    sign_in(user)
    return private(with_hint(redirect(safe_next(request.form.get("next")), 303), True))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method != "POST":
        return _form_page("auth/login.html")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if validate(username, password):
        return _form_page("auth/login.html", 400, error="Enter your user name and password.", username=username)
    try:
        user = authenticate(username, password)
    except RateLimited as limited:
        return _too_many("auth/login.html", limited, username)
    if user is None:
        return _form_page("auth/login.html", 401, error="Wrong user name or password.", username=username)
    sign_in(user)
    return private(with_hint(redirect(safe_next(request.form.get("next")), 303), True))


@bp.post("/logout")
def logout():
    sign_out()
    return private(with_hint(redirect(safe_next(request.form.get("next")), 303), False))


@bp.get("/logout")
def logout_page():
    # Signing out changes state, so it takes a POST (with CSRF); a GET only offers the button.
    if current_user() is None:
        return private(redirect(url_for("pages.make_random"), 303))
    return _form_page("auth/logout.html")


def json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400)
    return data
