"""Web pages: sign up, log in (and the mailed unlock link), log out."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from itsdangerous import BadSignature, URLSafeSerializer

from .. import i18n
from ..context import node_ctx
from ..errors import DomainError
from ..services import logins, resets, signups
from . import form_echo
from .pages import current_member, flash_refusal, render_error

bp = Blueprint("auth", __name__)


@bp.get("/")
def home():
    if current_member() is not None:
        return redirect(url_for("member.dashboard"))
    return render_template("home.html")


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if request.method == "GET":
        return render_template("signup.html", form={})
    ctx = node_ctx()
    form = request.form
    try:
        with ctx.db.write() as s:
            signups.ask(
                s,
                ctx.settings,
                email=form.get("email"),
                password=form.get("password"),
                display_name=form.get("display_name"),
                handle=form.get("handle") or None,
                language=session.get("lang", ""),  # chosen with the switch before signing up
                hasher=ctx.hasher,
                now=ctx.now(),
            )
    except DomainError as exc:
        flash_refusal(exc)
        return form_echo.fill_response(render_template("signup.html", form={}), exc), exc.status
    flash(
        _(
            "We have sent a mail to %(email)s. Open the link in it within a day to finish signing up.",
            email=form.get("email", "").strip().lower(),
        ),
        "info",
    )
    return redirect(url_for("auth.login"), 303)


@bp.get(signups.CONFIRM_PATH + "<token>")
def confirm_page(token: str):
    """The mailed link: a page with a confirm button (opening it changes nothing: mail scanners open links)."""
    ctx = node_ctx()
    with ctx.db.read() as s:
        found = signups.request_for_link(s, token, ctx.now())
        email = found.email if found is not None else None
    if email is None:
        return render_error(404, "signup_link_invalid", signups.invalid_link_message())
    return render_template("signup_confirm.html", email=email)


@bp.post(signups.CONFIRM_PATH + "<token>")
def confirm(token: str):
    ctx = node_ctx()
    try:
        with ctx.db.write() as s:
            status = signups.confirm(s, ctx.settings, token=token, now=ctx.now()).status
    except DomainError as exc:
        return render_error(exc.status, exc.code, exc.message)
    if status == "pending":
        flash(_("Thank you for signing up. A coordinator will approve your account; you can log in meanwhile."), "info")
    else:
        flash(_("Welcome! Your account is active. Please log in."), "info")
    return redirect(url_for("auth.login"), 303)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    ctx = node_ctx()
    try:
        member = logins.log_in(
            ctx,
            email=request.form.get("email"),
            password=request.form.get("password"),
            address=request.remote_addr,
            trusted=trusted_device(),
        )
    except DomainError as exc:
        flash_refusal(exc)
        page = render_template("login.html", next=request.form.get("next", ""))
        response = make_response(form_echo.fill_response(page, exc), exc.status)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response
    csrf = session.get("csrf")
    i18n.clear_session()  # a fresh session on login: no fixation
    session["member_id"], session["session_version"] = member.id, member.session_version
    if csrf:
        session["csrf"] = csrf
    target = request.form.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("member.dashboard")
    return redirect(target, 303)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    """Ask for a link to choose a new password; the answer is the same whether or not the address has an account."""
    if request.method == "GET":
        return render_template("password_forgot.html")
    ctx = node_ctx()
    try:
        with ctx.db.write() as s:
            resets.ask_for_link(
                s, ctx.settings, email=request.form.get("email"), secret=current_app.config["SECRET_KEY"], now=ctx.now()
            )
    except DomainError as exc:  # only a malformed address: it says nothing about accounts
        flash_refusal(exc)
        return form_echo.fill_response(render_template("password_forgot.html"), exc), exc.status
    flash(
        _(
            "If an account on this node uses this address, we have mailed it a link to choose a new password. "
            "The link works for an hour."
        ),
        "info",
    )
    return redirect(url_for("auth.login"), 303)


@bp.get(resets.RESET_PATH + "<token>")
def reset_page(token: str):
    """The mailed link: a form for the new password (opening it changes nothing)."""
    ctx = node_ctx()
    with ctx.db.read() as s:
        member = resets.member_for_link(s, token=token, secret=current_app.config["SECRET_KEY"], now=ctx.now())
    if member is None:
        return render_error(404, "reset_link_invalid", resets.invalid_link_message())
    return render_template("password_reset.html")


@bp.post(resets.RESET_PATH + "<token>")
def reset_password(token: str):
    ctx = node_ctx()
    try:
        with ctx.db.write() as s:
            resets.set_new_password(
                s,
                token=token,
                password=request.form.get("password"),
                secret=current_app.config["SECRET_KEY"],
                hasher=ctx.hasher,
                now=ctx.now(),
            )
    except DomainError as exc:
        if exc.code == "reset_link_invalid":
            return render_error(exc.status, exc.code, exc.message)
        flash_refusal(exc)
        return form_echo.fill_response(render_template("password_reset.html"), exc), exc.status
    i18n.clear_session()  # whoever was logged in here logs in afresh, with the new password
    flash(_("Your new password is set; you are logged out everywhere. Please log in with it."), "info")
    return redirect(url_for("auth.login"), 303)


@bp.get(logins.UNLOCK_PATH + "<token>")
def unlock_page(token: str):
    """The mailed link: a page with a confirm button (opening it changes nothing)."""
    ctx = node_ctx()
    with ctx.db.read() as s:
        valid = logins.unlock_link_valid(s, token, ctx.now())
    if not valid:
        return render_error(
            404,
            "unlock_link_invalid",
            _("This link was used already or has expired. Log in; if you have to wait, a new link is mailed to you."),
        )
    return render_template("unlock.html", days=ctx.settings.login_trusted_days)


@bp.post(logins.UNLOCK_PATH + "<token>")
def unlock(token: str):
    """Use the link up and trust this browser for the account (a signed cookie)."""
    ctx = node_ctx()
    with ctx.db.write() as s:
        trusted = logins.redeem_unlock_link(s, ctx.settings, token=token, now=ctx.now())
    flash(
        ngettext(
            "This browser may log in to your account without waiting for %(num)s day. Log in with your password.",
            "This browser may log in to your account without waiting for %(num)s days. Log in with your password.",
            ctx.settings.login_trusted_days,
        ),
        "info",
    )
    response = redirect(url_for("auth.login"), 303)
    remember_device(response, trusted)
    return response


def _device_cookie_name() -> str:
    return f"sifnet_{node_ctx().settings.node_id}_device"


def _device_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="sifnet-trusted-device")


def trusted_device() -> logins.TrustedDevice | None:
    """The account this browser confirmed an unlock link for, if its signed cookie is genuine."""
    raw = request.cookies.get(_device_cookie_name())
    if not raw:
        return None
    try:
        data = _device_signer().loads(raw)
        return logins.TrustedDevice(
            member_id=int(data["m"]),
            session_version=int(data["v"]),
            until=datetime.fromtimestamp(int(data["u"]), tz=UTC),
        )
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def remember_device(response, trusted: logins.TrustedDevice) -> None:
    value = _device_signer().dumps(
        {"m": trusted.member_id, "v": trusted.session_version, "u": int(trusted.until.timestamp())}
    )
    # Sent to the login pages only; its expiry is also inside the signed value (the node's clock decides).
    response.set_cookie(
        _device_cookie_name(),
        value,
        max_age=node_ctx().settings.login_trusted_days * 86400,
        path="/login",
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )


@bp.post("/logout")
def logout():
    i18n.clear_session()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"), 303)
