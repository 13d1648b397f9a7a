"""Every error as a clear page (or JSON under /api/), never a bare 500 or a hang."""
from __future__ import annotations

import logging
import math

from flask import jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound as HTTPNotFound

from web import kvstore
from web.clients import (
    AlreadyExists,
    Busy,
    InvalidArgument,
    NotFound,
    ServiceError,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("Bad request", "That request did not make sense to us."),
    401: ("Sign in first", "You need to be signed in for that."),
    403: ("Not allowed", "You cannot do that."),
    404: ("Page not found", "There is no page at this address."),
    405: ("Not allowed", "That method is not allowed here."),
    409: ("Already there", "That already exists."),
    413: ("Too large", "That request was far too large."),
    429: ("Slow down", "Too many attempts. Please wait a minute and try again."),
    500: ("Something broke", "Something went wrong on our side. Please try again."),
    503: ("The songwriter is resting", "Our songwriter is taking a short break. Songs you have seen still "
          "work; new ones will be back in a minute."),
}


KV_TROUBLE = ("Trouble on our side", "Part of the site is not working right now. Songs you have seen "
              "still work; please try again in a minute.")
BUSY = ("Busy", "We are very busy right now. Please try again in a moment.")

SONG_MISSING = ("No such song", "There is no song here. Every number from 0 to 18446744073709551615 is a "
                "song, though.")


class NoSuchSong(HTTPNotFound):
    """404 for a song id that is not one (or a song that did not work out); any other
    unknown address gets the plain "Page not found"."""


def error_response(status: int, message: str | None = None, retry_after: int | None = None,
                   title: str | None = None):
    default_title, default = MESSAGES.get(status, MESSAGES[500])
    title = title or default_title
    text = message or default
    if request.path.startswith("/api/"):
        response = jsonify(error=text)
    else:
        response = render_template("errors/error.html", status=status, title=title, message=text)
    response = make_response(response, status)
    response.headers["Cache-Control"] = "private, no-store"
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def register(app) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return error_response(400, "The form expired or came from elsewhere (CSRF check failed). "
                                   "Reload the page and try again.")

    @app.errorhandler(NoSuchSong)
    def no_such_song(error):
        return error_response(404, SONG_MISSING[1], title=SONG_MISSING[0])

    @app.errorhandler(HTTPException)
    def http_error(error):
        return error_response(error.code or 500, None if error.code in MESSAGES else error.description)

    # A backend at capacity said when to come back: pass its hint on, and say what is
    # true (busy), not that the songwriter is resting.
    @app.errorhandler(Busy)
    def busy(error):
        log.warning("backend busy: %s", error)
        retry_after = math.ceil(error.retry_after_s) if error.retry_after_s else 5
        return error_response(503, BUSY[1], retry_after=retry_after, title=BUSY[0])

    @app.errorhandler(Unavailable)
    def unavailable(error):
        log.warning("backend unavailable: %s", error)
        return error_response(503, retry_after=30)

    @app.errorhandler(ServiceError)
    def service_error(error):
        log.error("backend error: %s", error)
        return error_response(503, retry_after=30)

    # A backend said no in a way no view expected: still a clear answer, not a 500.
    @app.errorhandler(InvalidArgument)
    def invalid_argument(error):
        log.warning("backend refused the request: %s", error)
        return error_response(400)

    @app.errorhandler(NotFound)
    def not_found(error):
        return error_response(404)

    @app.errorhandler(Unauthenticated)
    def unauthenticated(error):
        return error_response(401)

    @app.errorhandler(AlreadyExists)
    def already_exists(error):
        return error_response(409, "That already exists.")

    # What needed the key-value server and could not do without it: say that, not that
    # the songwriter (the generator) is resting.
    @app.errorhandler(RedisError)
    def redis_error(error):
        log.warning("key-value server error (%s): %s", kvstore.reason(error), error)
        return error_response(503, KV_TROUBLE[1], retry_after=10, title=KV_TROUBLE[0])

    @app.errorhandler(Exception)
    def unexpected(error):
        log.exception("unhandled error")
        return error_response(500)
