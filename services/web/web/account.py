"""The signed-in visitor's account: change the password, delete the account.

Plain HTML forms (Flask-WTF, CSRF token in each), working without JavaScript. Both
ask for the current password, counted by the sign-in rate limit of the account's
name (each check is an argon2 hash), and both end every session of the account in
the votes service: after a password change this browser goes on under a fresh
session, after deletion it is signed out.
"""
from __future__ import annotations

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from web import auth
from web.auth import RateLimited, check_login_rate, current_user, login_required, sign_in, with_hint
from web.clients import InvalidArgument, NotFound, Unauthenticated
from web.pagecache import private
from web.state import state

bp = Blueprint("account", __name__, url_prefix="/account")


class ChangePasswordForm(FlaskForm):
    old_password = PasswordField("Current password", validators=[DataRequired(), Length(max=auth.MAX_PASSWORD)])
    new_password = PasswordField("New password", validators=[DataRequired(), Length(max=auth.MAX_PASSWORD)])
    new_password2 = PasswordField("New password again", validators=[
        DataRequired(), EqualTo("new_password", message="The new passwords do not match.")])


class DeleteAccountForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired(), Length(max=auth.MAX_PASSWORD)])
    confirm = BooleanField("Delete my account and all my votes", validators=[
        DataRequired(message="Tick the box to confirm.")])


def _page(template: str, status: int = 200, **context):
    return private(make_response(render_template(template, user=current_user(), **context), status))


def _first_error(form: FlaskForm) -> str:
    for errors in form.errors.values():
        if errors:
            return str(errors[0])
    return "Please fill in the form."


@bp.get("")
@login_required
def overview():
    return _page("account/index.html", done=request.args.get("done", ""))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    # validate_on_submit acts only on POST: HEAD and GET just show the form.
    if not form.is_submitted():
        return _page("account/password.html", form=form)
    if not form.validate():
        return _page("account/password.html", 400, form=form, error=_first_error(form))
    user = current_user()
    try:
        check_login_rate(user["name"])
        changed = state().clients.change_password(user["id"], form.old_password.data, form.new_password.data)
    except RateLimited as limited:
        response = _page("account/password.html", 429, form=form,
                         error="Too many attempts. Wait a minute and try again.")
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    except Unauthenticated:
        return _page("account/password.html", 401, form=form, error="That is not your current password.")
    except InvalidArgument as error:
        return _page("account/password.html", 400, form=form, error=str(error) or "That password is not allowed.")
    # Every session of the account has ended, this one too: go on under a fresh one.
    sign_in(changed)
    return private(with_hint(redirect(url_for("account.overview", done="password"), 303), True))


@bp.route("/delete", methods=["GET", "POST"])
@login_required
def delete():
    form = DeleteAccountForm()
    if not form.is_submitted():
        return _page("account/delete.html", form=form)
    if not form.validate():
        return _page("account/delete.html", 400, form=form, error=_first_error(form))
    user = current_user()
    try:
        check_login_rate(user["name"])
        state().clients.delete_account(user["id"], form.password.data)
    except RateLimited as limited:
        response = _page("account/delete.html", 429, form=form, error="Too many attempts. Wait a minute and try again.")
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    except Unauthenticated:
        return _page("account/delete.html", 401, form=form, error="That is not your password.")
    except NotFound:
        pass  # deleted meanwhile (another tab): the outcome the visitor asked for
    auth.forget_session()
    return private(with_hint(redirect(url_for("pages.make_random"), 303), False))
