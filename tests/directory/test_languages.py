"""The directory's pages in the visitor's language and the directory's time zone; its own language switch."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from federation.directory.settings import load_settings
from node.clock import FixedClock
from node.settings import SettingsError
from tests.directory.test_admin import LIGHT, PASSWORD, log_in, token
from tests.directory.test_pages import polled  # noqa: F401  (fixture)

NOON = datetime(2026, 3, 2, 11, 0, 0, tzinfo=UTC)


def page_lang(client, path: str = "/", **headers) -> str:
    return re.search(r'<html lang="([^"]+)">', client.get(path, headers=headers).get_data(as_text=True)).group(1)


def switch(client, lang: str, next_path: str = "/"):
    return client.post("/language", data={"lang": lang, "next": next_path, "csrf_token": token(client, "/")})


@pytest.fixture
def brussels(make_directory):
    """A directory that writes Dutch unless asked otherwise, in Brussels time."""
    return make_directory(clock=FixedClock(NOON), default_language="nl", time_zone="Europe/Brussels", **LIGHT)


def test_session_beats_accept_language_beats_the_setting(brussels):
    client = brussels.test_client()
    assert page_lang(client) == "nl"
    assert page_lang(client, **{"Accept-Language": "fr-BE, fr;q=0.8"}) == "fr"
    r = switch(client, "hu", "/initiatives")
    assert r.status_code == 303 and r.headers["Location"].endswith("/initiatives")
    assert page_lang(client, **{"Accept-Language": "fr"}) == "hu"


def test_the_switch_refuses_unknown_languages_and_foreign_targets(brussels):
    client = brussels.test_client()
    assert switch(client, "klingon").status_code == 422 and page_lang(client) == "nl"
    r = switch(client, "de", "https://evil.example/")
    assert r.status_code == 303 and r.headers["Location"] in ("/", "http://localhost/")
    r = client.post("/language", data={"lang": "de", "next": "/"})
    assert r.status_code == 400 and page_lang(client) == "de"  # no CSRF token: refused; the earlier choice stays


def test_an_admins_language_is_the_sessions_and_survives_the_login(brussels):
    from federation.directory import admin

    d = brussels.extensions["sifnet_directory"]
    with d.db.write() as s:
        admin.add_admin(s, username="ines", password=PASSWORD, now=d.now(), hasher=admin.password_hasher(d.settings))
    client = brussels.test_client()
    switch(client, "it")
    assert log_in(client).status_code == 303
    html = client.get("/admin/").get_data(as_text=True)
    assert '<html lang="it">' in html and 'aria-pressed="true">Italiano<' in html


def test_times_are_in_the_directorys_zone_and_the_visitors_language(brussels):
    html = brussels.test_client().get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "02.03.2026, 12:00:00" in html  # the page's time, 11:00 UTC, in Brussels (CET)
    assert "UTC" not in html


def test_languages_and_countries_are_named_in_the_visitors_language(polled):
    client, _ = polled
    html = client.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert '<td title="hu">Ungarisch</td>' in html and '<td title="nl">Niederländisch</td>' in html
    assert '<td data-label="Land" title="HU">Ungarn</td>' in html  # a phone shows the column's name in the cell


@pytest.mark.parametrize("name, value", [("default_language", "tlh"), ("time_zone", "Europe/Gotham")])
def test_the_directory_settings_refuse_unknown_languages_and_zones(tmp_path, name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({"data_dir": str(tmp_path), name: value}, environ={})


def test_the_network_page_is_written_in_the_catalogs_hungarian(brussels):
    client = brussels.test_client()
    switch(client, "hu")
    html = client.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)  # the switch comes first
    assert "<h1>A SIF-hálózat</h1>" in html  # hu/LC_MESSAGES/messages.po, through the same catalog as the nodes'
    assert (
        'Még egyetlen csomópont sincs listázva. A nemzeti csomópontok <a href="/apply">itt jelentkezhetnek</a>.' in html
    )  # the link's placeholder filled in the Hungarian sentence
    dutch = brussels.test_client().get("/").get_data(as_text=True)  # the directory's setting: nl
    assert "<h1>Het SIF-netwerk</h1>" in dutch and "hálózat" not in dutch
