"""Web pages: sign up, log in, log out."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from .. import i18n
from ..context import node_ctx
from ..errors import AuthError, DomainError
from ..services import members
from .pages import current_member

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
            member = members.sign_up(s, ctx.settings, email=form.get("email"), password=form.get("password"),
                                     display_name=form.get("display_name"), handle=form.get("handle") or None,
                                     now=ctx.now(), hasher=ctx.hasher)
            status = member.status
    except DomainError as exc:
        flash(f"{exc.message} [{exc.code}]", "error")
        return render_template("signup.html", form=form), exc.status
    if status == "pending":
        flash("Thank you for signing up. A coordinator will approve your account; you can log in meanwhile.", "info")
    else:
        flash("Welcome! Your account is active. Please log in.", "info")
    return redirect(url_for("auth.login"), 303)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    ctx = node_ctx()
    failure = None
    with ctx.db.write() as s:
        try:
            member = members.authenticate(s, ctx.settings, email=request.form.get("email"),
                                          password=request.form.get("password"), now=ctx.now(), hasher=ctx.hasher)
            member_id, version = member.id, member.session_version
        except (AuthError, DomainError) as exc:
            failure = exc
    if failure is not None:
        flash(f"{failure.message} [{failure.code}]", "error")
        return render_template("login.html", next=request.form.get("next", "")), failure.status
    csrf = session.get("csrf")
    i18n.clear_session()  # a fresh session on login: no fixation
    session["member_id"], session["session_version"] = member_id, version
    if csrf:
        session["csrf"] = csrf
    target = request.form.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("member.dashboard")
    return redirect(target, 303)


@bp.post("/logout")
def logout():
    i18n.clear_session()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"), 303)
