"""Languages and time zones: which language a reader gets, the language switch, member preferences, form times,
the locale filters and API messages in the request's language."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import render_template_string
from sqlalchemy import select

from federation.state import federation_of
from node import i18n
from node.app import create_app
from node.errors import ValidationError
from node.settings import SettingsError, load_settings
from node.tables import AdviceBooking, Member
from tests.conftest import FAST_ARGON2
from tests.node.test_advice import post_listing
from tests.node.test_web import csrf, login


@pytest.fixture
def app(tmp_path, clock):
    """A node whose own language is Italian and whose zone is Rome, so every step of the order shows."""
    app = create_app(
        {
            "data_dir": str(tmp_path / "node"),
            "node_id": "it",
            "country": "IT",
            "default_language": "it",
            "time_zone": "Europe/Rome",
            **FAST_ARGON2,
        },
        clock=clock,
    )
    app.config["TESTING"] = True
    yield app
    if "sifnet_federation" in app.extensions:
        federation_of(app).stop()
    app.extensions["sifnet"].db.dispose()


def page_lang(client, path: str = "/login", **headers) -> str:
    html = client.get(path, headers=headers).get_data(as_text=True)
    return re.search(r'<html lang="([^"]+)">', html).group(1)


def switch(client, lang: str, next_path: str = "/login", **headers):
    return client.post("/language", data={"lang": lang, "next": next_path, "csrf_token": csrf(client)}, headers=headers)


def saved_language(ctx, member) -> str:
    with ctx.db.read() as s:
        return s.get(Member, member.id).language


# --- which language ----------------------------------------------------------------------------------


def test_member_beats_session_beats_accept_language_beats_the_node(client, ctx, make_member):
    german = {"Accept-Language": "de-AT,de;q=0.9,en;q=0.5"}
    assert page_lang(client) == "it"  # nothing chosen: the node's default_language
    assert page_lang(client, **german) == "de"  # the browser asks for German (de-AT falls back to de)
    assert page_lang(client, **{"Accept-Language": "sv, pt"}) == "it"  # nothing we have
    assert switch(client, "hu", **german).status_code == 303
    assert page_lang(client, **german) == "hu"  # the switch beats the browser
    anna = make_member("anna", language="fr")
    login(client, anna.email)
    assert page_lang(client, "/dashboard", **german) == "fr"  # the member's saved language beats the switch
    with ctx.db.write() as s:
        s.get(Member, anna.id).language = ""
    assert page_lang(client, "/dashboard", **german) == "hu"  # no saved language: the session's choice again


def test_the_switch_works_logged_out_and_survives_logging_in_and_out(client, make_member):
    r = switch(client, "nl", "/signup?x=1")
    assert r.status_code == 303 and r.headers["Location"].endswith("/signup?x=1")
    assert page_lang(client, "/signup") == "nl"
    bert = make_member("bert")
    login(client, bert.email)
    assert page_lang(client, "/dashboard") == "nl"  # the login kept the session's choice
    client.post("/logout", data={"csrf_token": csrf(client, "/dashboard")})
    assert page_lang(client) == "nl"


def test_a_logged_in_switch_saves_the_members_language(client, ctx, make_member):
    cara = make_member("cara")
    login(client, cara.email)
    assert switch(client, "de", "/profile").headers["Location"].endswith("/profile")
    assert saved_language(ctx, cara) == "de"
    fresh = client.application.test_client()  # another browser: the saved choice follows the member
    assert page_lang(fresh) == "it"
    login(fresh, cara.email)
    assert page_lang(fresh, "/dashboard", **{"Accept-Language": "fr"}) == "de"


def test_every_page_offers_the_switch_with_each_language_in_its_own_name(client):
    html = client.get("/login", headers={"Accept-Language": "de"}).get_data(as_text=True)
    buttons = re.findall(
        r'<button type="submit" class="link" name="lang" value="(\w+)" lang="(\w+)" '
        r'title="([^"]+)"[^>]*>([^<]+)</button>',
        html,
    )
    assert [(value, lang, text) for value, lang, _, text in buttons] == [
        ("en", "en", "English"),
        ("nl", "nl", "Nederlands"),
        ("de", "de", "Deutsch"),
        ("it", "it", "Italiano"),
        ("hu", "hu", "Magyar"),
        ("fr", "fr", "Français"),
    ]
    assert [title for *_, title, _ in buttons] == [
        "Englisch",
        "Niederländisch",
        "Deutsch",
        "Italienisch",
        "Ungarisch",
        "Französisch",
    ]  # in the reader's language
    assert 'action="/language"' in html and 'aria-pressed="true">Deutsch<' in html


@pytest.mark.parametrize("lang", ["xx", "", "EN", "de-AT", "en'><script>"])
def test_unknown_languages_are_refused_and_change_nothing(client, ctx, make_member, lang):
    dora = make_member("dora")
    login(client, dora.email)
    r = switch(client, lang, "/dashboard")
    assert r.status_code == 422 and "invalid_language" in r.get_data(as_text=True)
    assert saved_language(ctx, dora) == "" and page_lang(client, "/dashboard") == "it"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_the_switch_goes_back_only_to_this_site(client, target):
    r = switch(client, "en", target)
    assert r.status_code == 303 and r.headers["Location"] in ("/", "http://localhost/")


def test_the_switch_needs_the_csrf_token(client):
    r = client.post("/language", data={"lang": "de", "next": "/login"})
    assert r.status_code == 400 and "csrf_failed" in r.get_data(as_text=True)
    assert page_lang(client) == "it"


# --- messages in the request's language ------------------------------------------------------------------


@pytest.mark.parametrize(
    "lang, text",
    [
        ("nl", "onjuist e-mailadres of wachtwoord"),
        ("de", "E-Mail-Adresse oder Passwort falsch"),
        ("en", "wrong email or password"),
    ],
)
def test_an_api_refusal_is_in_the_requests_language_with_a_stable_code(client, make_member, lang, text):
    make_member("erik")
    r = client.post(
        "/api/v1/tokens",
        json={"email": "erik@example.org", "password": "not it at all"},
        headers={"Accept-Language": lang},
    )
    assert r.status_code == 401 and r.json["error"] == {"code": "bad_credentials", "message": text}


@pytest.mark.parametrize(
    "lang, text",
    [
        ("nl", "Het formulier is verlopen of kwam niet van deze site (CSRF-controle mislukt)."),
        ("de", "Das Formular ist abgelaufen oder stammt nicht von dieser Website (CSRF-Prüfung fehlgeschlagen)."),
    ],
)
def test_a_page_refusal_is_in_the_readers_language(client, lang, text):
    r = client.post("/signup", data={"email": "x@example.org"}, headers={"Accept-Language": lang})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and text in html and f'<html lang="{lang}">' in html


def test_the_login_form_says_it_in_the_switchs_language(client, make_member):
    make_member("fien")
    switch(client, "nl")
    r = client.post(
        "/login", data={"email": "fien@example.org", "password": "wrong password!", "csrf_token": csrf(client)}
    )
    assert r.status_code == 401 and 'data-code="bad_credentials">' in r.get_data(as_text=True)
    assert "onjuist e-mailadres of wachtwoord" in r.get_data(as_text=True)


# --- member preferences: profile page and API ---------------------------------------------------------------


def test_the_api_sets_and_shows_language_and_time_zone(client, make_member, token_for):
    auth = token_for(make_member("gert"))
    me = client.get("/api/v1/me", headers=auth).json
    assert (me["language"], me["time_zone"]) == ("", "")
    r = client.patch("/api/v1/me", json={"language": "hu", "time_zone": "Europe/Budapest"}, headers=auth)
    assert r.status_code == 200 and (r.json["language"], r.json["time_zone"]) == ("hu", "Europe/Budapest")
    r = client.patch("/api/v1/me", json={"language": "", "time_zone": ""}, headers=auth)
    assert (r.json["language"], r.json["time_zone"]) == ("", "")


@pytest.mark.parametrize(
    "body, code, field",
    [
        ({"language": "xx"}, "invalid_language", "language"),
        ({"language": 7}, "invalid_language", "language"),
        ({"language": "es"}, "invalid_language", "language"),  # a profile language, not one the pages come in
        ({"time_zone": "Mars/Olympus"}, "invalid_time_zone", "time_zone"),
        ({"time_zone": "Europe/../../etc/passwd"}, "invalid_time_zone", "time_zone"),
        ({"time_zone": None}, "invalid_time_zone", "time_zone"),
        ({"display_name": "Changed", "time_zone": "CET+1"}, "invalid_time_zone", "time_zone"),
    ],
)
def test_the_api_refuses_bad_values_and_changes_nothing(client, make_member, token_for, body, code, field):
    auth = token_for(make_member("hanne", language="nl", time_zone="Europe/Amsterdam"))
    before = client.get("/api/v1/me", headers=auth).json
    r = client.patch("/api/v1/me", json=body, headers=auth)
    assert r.status_code == 422 and (r.json["error"]["code"], r.json["error"]["field"]) == (code, field)
    assert client.get("/api/v1/me", headers=auth).json == before


def test_the_profile_page_offers_languages_by_name_and_time_zones(client, ctx, make_member):
    ines = make_member("ines")
    login(client, ines.email)
    html = client.get("/profile").get_data(as_text=True)
    assert '<option value="hu">Magyar (ungherese)</option>' in html  # own name, then the reader's (Italian)
    assert "<option>Europe/Brussels</option>" in html and "<option>America/Lima</option>" in html
    assert html.count("<option>Europe/Vienna</option>") == 1  # the common zones are not listed twice
    form = {
        "display_name": "Ines",
        "language": "nl",
        "time_zone": "Europe/Vienna",
        "csrf_token": csrf(client, "/profile"),
    }
    assert client.post("/profile", data=form).status_code == 303
    html = client.get("/profile").get_data(as_text=True)
    assert '<html lang="nl">' in html and '<option value="nl" selected>' in html
    assert "<option selected>Europe/Vienna</option>" in html
    form.update(time_zone="Europe/Atlantis", language="de", csrf_token=csrf(client, "/profile"))
    r = client.post("/profile", data=form, headers={"Referer": "http://localhost/profile"})
    assert r.status_code == 303 and 'data-code="invalid_time_zone"' in client.get("/profile").get_data(as_text=True)
    with ctx.db.read() as s:
        assert (s.get(Member, ines.id).language, s.get(Member, ines.id).time_zone) == ("nl", "Europe/Vienna")


# --- form times and shown times -------------------------------------------------------------------------------


def test_a_datetime_local_field_is_read_in_the_members_zone(client, ctx, make_member, token_for):
    anna = make_member("anna")
    bert = make_member("bert", time_zone="Europe/Brussels")
    listing_id = post_listing(client, token_for(anna))
    login(client, bert.email)
    page = client.get(f"/advice/listings/{listing_id}").get_data(as_text=True)
    label = i18n.translations("it").gettext("When (%(zone)s, optional)") % {"zone": "Europe/Brussels"}
    assert label in page and "Europe/Brussels" in label  # the node's language (it), the member's zone
    r = client.post(
        f"/advice/listings/{listing_id}/book",
        data={
            "hours": "1",
            "scheduled_for": "2026-03-03T14:00",
            "csrf_token": csrf(client, f"/advice/listings/{listing_id}"),
        },
    )
    assert r.status_code == 303
    with ctx.db.read() as s:
        booking = s.scalars(select(AdviceBooking)).one()
    assert booking.scheduled_for == datetime(2026, 3, 3, 13, 0, tzinfo=UTC)  # 14:00 CET is 13:00 UTC


def test_a_time_in_the_spring_forward_gap_is_refused_by_the_form(client, ctx, make_member, token_for):
    anna, bert = make_member("anna"), make_member("bert", time_zone="Europe/Brussels")
    listing_id = post_listing(client, token_for(anna))
    login(client, bert.email)
    r = client.post(
        f"/advice/listings/{listing_id}/book",
        headers={"Referer": "http://localhost/advice"},
        data={
            "hours": "1",
            "scheduled_for": "2026-03-29T02:30",
            "csrf_token": csrf(client, f"/advice/listings/{listing_id}"),
        },
    )
    assert r.status_code == 303 and 'data-code="nonexistent_local_time"' in client.get("/advice").get_data(as_text=True)
    with ctx.db.read() as s:
        assert s.scalars(select(AdviceBooking)).all() == []


@pytest.mark.parametrize(
    "text, zone, utc",
    [
        ("2026-03-29T01:59", "Europe/Brussels", datetime(2026, 3, 29, 0, 59)),  # CET, just before the gap
        ("2026-03-29T03:00", "Europe/Brussels", datetime(2026, 3, 29, 1, 0)),  # CEST, just after it
        ("2026-10-25T02:30", "Europe/Brussels", datetime(2026, 10, 25, 0, 30)),  # twice that night: the first (CEST)
        ("2026-07-01T12:00:30", "Europe/Budapest", datetime(2026, 7, 1, 10, 0, 30)),
        ("2026-07-01T12:00", "UTC", datetime(2026, 7, 1, 12, 0)),
    ],
)
def test_parse_local_datetime(text, zone, utc):
    assert i18n.parse_local_datetime(text, "when", zone) == utc.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "text, code",
    [
        ("2026-03-29T02:30", "nonexistent_local_time"),
        ("2026-03-29T02:00", "nonexistent_local_time"),
        ("2026-02-30T10:00", "invalid_time"),
        ("tomorrow", "invalid_time"),
        ("2026-03-29T02:30Z", "invalid_time"),
    ],
)
def test_parse_local_datetime_refusals(text, code):
    with pytest.raises(ValidationError) as refused:
        i18n.parse_local_datetime(text, "when", "Europe/Brussels")
    assert (refused.value.code, refused.value.field) == (code, "when")
    assert i18n.parse_local_datetime("  ", "when", "Europe/Brussels") is None


def test_times_on_pages_are_in_the_readers_zone_and_language(client, make_member):
    zoltan = make_member("zoltan", language="hu", time_zone="Europe/Budapest")
    login(client, zoltan.email)
    statement = client.get("/statement").get_data(as_text=True)
    assert "2026. márc. 2. 10:00" in statement  # the welcome grant at 09:00 UTC, in Budapest (CET)
    assert "10\xa0SIF" in statement


@pytest.mark.parametrize(
    "lang, amount, negative",
    [
        ("en", "1,234\xa0SIF", "-5\xa0SIF"),
        ("nl", "1.234\xa0SIF", "-5\xa0SIF"),
        ("hu", "1\xa0234\xa0SIF", "-5\xa0SIF"),
        ("fr", "1\u202f234\xa0SIF", "-5\xa0SIF"),
    ],
)
def test_the_sif_filter_writes_amounts_as_the_language_does(app, lang, amount, negative):
    with app.test_request_context("/login", headers={"Accept-Language": lang}):
        assert render_template_string("{{ 1234|sif }}|{{ -5|sif }}|{{ 1234567|number }}") == (
            f"{amount}|{negative}|"
            + {"en": "1,234,567", "nl": "1.234.567", "hu": "1\xa0234\xa0567", "fr": "1\u202f234\u202f567"}[lang]
        )


@pytest.mark.parametrize(
    "lang, expected",
    [
        ("en", "Mar 2, 2026, 10:05\u202fAM|Mar 2, 2026|10:05:00\u202fAM|Hungarian|Belgium|xx"),
        ("de", "02.03.2026, 10:05|02.03.2026|10:05:00|Ungarisch|Belgien|xx"),
        ("hu", "2026. márc. 2. 10:05|2026. márc. 2.|10:05:00|magyar|Belgium|xx"),
    ],
)
def test_date_and_name_filters_in_the_readers_zone_and_language(app, lang, expected):
    """A naive datetime is UTC; the reader's zone here is the node's, Europe/Rome (CET in March)."""
    template = (
        "{{ when|datetime }}|{{ when|date }}|{{ when|time(seconds=True) }}|{{ 'hu'|language_name }}|"
        "{{ 'be'|country_name }}|{{ 'xx'|language_name }}"
    )
    with app.test_request_context("/login", headers={"Accept-Language": lang}):
        assert render_template_string(template, when=datetime(2026, 3, 2, 9, 5)) == expected


def test_a_date_shown_is_the_day_in_the_readers_zone(app):
    late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # already 3 March in Rome
    with app.test_request_context("/login", headers={"Accept-Language": "en"}):
        assert render_template_string("{{ late|date }}", late=late) == "Mar 3, 2026"


# --- settings ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [("default_language", "xx"), ("default_language", "es"), ("time_zone", "Nowhere/City"), ("time_zone", "")],
)
def test_settings_refuse_unknown_languages_and_time_zones(tmp_path, name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({"data_dir": str(tmp_path), name: value}, environ={})


def test_settings_take_a_known_language_and_zone_from_the_environment(tmp_path):
    settings = load_settings(
        {"data_dir": str(tmp_path)}, environ={"SIFNET_DEFAULT_LANGUAGE": "hu", "SIFNET_TIME_ZONE": "Europe/Budapest"}
    )
    assert (settings.default_language, settings.time_zone) == ("hu", "Europe/Budapest")


@pytest.mark.parametrize("language", ["en", "nl", "hu"])
def test_a_moment_ago_is_never_in_the_future(language):
    from node import formats

    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    just_now = formats.format_elapsed(now, now, language)
    assert just_now == formats.format_elapsed(now - timedelta(seconds=1), now, language)
    assert just_now != formats.format_elapsed(now + timedelta(seconds=5), now, language)
