"""The message catalogs against the code: the .pot is current, every language has every message (not fuzzy, same
placeholders), and what the templates still show outside gettext. `make translations` fixes the first two."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from node.i18n import LANGUAGES, SOURCE_LANGUAGE, TRANSLATIONS_DIR

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = ("node/templates", "federation/templates", "federation/directory/templates")
OTHERS = [lang for lang in LANGUAGES if lang != SOURCE_LANGUAGE]


def read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def catalog(lang: str) -> Catalog:
    return read(TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po", lang)


def keys(cat: Catalog) -> set:
    return {(m.context, m.id) for m in cat if m.id}


def strings(message) -> list[str]:
    """A message's msgstr, or each plural form's."""
    return list(message.string) if isinstance(message.string, (tuple, list)) else [message.string]


def placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"%(?:\((\w+)\))?[sd]", text))


# --- the catalogs and the code ----------------------------------------------------------------------------


def test_the_pot_is_current(tmp_path):
    """What `make translations` would extract now is what node/translations/messages.pot holds."""
    fresh = tmp_path / "messages.pot"
    done = subprocess.run(
        ["make", "-s", "pot", f"POT={fresh}", f"BIN={Path(sys.executable).parent}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    extracted, committed = keys(read(fresh)), keys(read(TRANSLATIONS_DIR / "messages.pot"))
    assert len(extracted) > 50  # the extraction found the notices, at least
    assert (extracted - committed, committed - extracted) == (set(), set()), "run `make translations`"


def test_there_is_a_catalog_for_every_language_and_no_other():
    found = {p.name for p in TRANSLATIONS_DIR.iterdir() if p.is_dir()}
    assert found == set(LANGUAGES)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_catalog_has_every_message_and_nothing_fuzzy(lang):
    cat, pot = catalog(lang), read(TRANSLATIONS_DIR / "messages.pot")
    assert keys(pot) - keys(cat) == set(), "run `make translations`"
    assert not cat.fuzzy, "the catalog's header is marked fuzzy: `pybabel compile` would skip it"
    assert [m.id for m in cat if m.id and m.fuzzy] == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_placeholders_of_their_message(lang):
    """A translation names the same %(name)s as its msgid (a plural form may leave the number out)."""
    wrong = []
    for m in catalog(lang):
        for text in filter(None, strings(m) if m.id else []):
            if isinstance(m.id, tuple):
                ok = set(placeholders(text)) <= set(placeholders(m.id[1]))
            else:
                ok = placeholders(text) == placeholders(m.id)
            wrong += [] if ok else [(m.id, text)]
    assert wrong == []


def test_the_source_catalog_is_identity():
    """English is the language of the msgids: its msgstrs stay empty (gettext then shows the msgid); a wording
    change belongs in the code."""
    assert [m.id for m in catalog(SOURCE_LANGUAGE) if m.id and any(strings(m))] == []


@pytest.mark.parametrize("lang", OTHERS)
def test_every_message_is_translated(lang):
    untranslated = [m.id for m in catalog(lang) if m.id and not all(strings(m))]
    assert untranslated == [], f"{len(untranslated)} of {len(keys(catalog(lang)))} messages untranslated in {lang}"


# --- text in the templates outside gettext ---------------------------------------------------------------------

ENV = jinja2.Environment(extensions=["jinja2.ext.i18n"])
SHOWN_AFTER = {None, "else", "or", "~"}  # a string literal right after these (or first) is printed as it is
VISIBLE_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt", "label"}
BUTTON_INPUTS = {"submit", "button", "reset"}


def _shown_literals(tokens: list[tuple[str, str]]) -> str:
    """The string literals a {{ }} expression may print as they are: 'never' in {{ x or 'never' }}."""
    shown, before = [], None
    for kind, value in tokens:
        if kind == "whitespace":
            continue
        if kind == "string" and before in SHOWN_AFTER:
            shown.append(ast.literal_eval(value))
        before = value if kind in ("name", "operator") else kind
    return " ".join(shown)


def visible_html(source: str) -> str:
    """The template as HTML: {% trans %} blocks, {% block style %} (CSS) and comments dropped, statements a
    marker, and each {{ }} the literals it may show (or a marker)."""
    out, tag, hidden = [], None, None  # hidden: the block tag that ends what is not shown as text
    for _, kind, value in ENV.lex(source):
        if kind in ("variable_begin", "block_begin", "comment_begin"):
            tag = [(kind, value)]
        elif kind in ("variable_end", "block_end", "comment_end"):
            names = [v for k, v in tag if k == "name"]
            if tag[0][0] == "block_begin" and (names[:1] == ["trans"] or names[:2] == ["block", "style"]):
                hidden = hidden or ("endtrans" if names[0] == "trans" else "endblock")
            elif tag[0][0] == "block_begin" and names[:1] == [hidden]:
                hidden = None
            elif tag[0][0] == "variable_begin" and not hidden:
                out.append(_shown_literals(tag[1:]) or "\x00")
            elif tag[0][0] == "block_begin" and not hidden:
                out.append("\x01")
            tag = None
        elif tag is not None:
            tag.append((kind, value))
        elif kind == "data" and not hidden:
            out.append(value)
    return "".join(out)


class VisibleText(HTMLParser):
    """Text nodes and visible attribute values that still hold letters, outside <style>, <script>, <code>, <pre>."""

    SKIPPED = {"style", "script", "code", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skipping, self.found = 0, []

    def handle_starttag(self, tag, attrs):
        self.skipping += tag in self.SKIPPED
        types = {v for k, v in attrs if k == "type"}
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES or (name == "value" and tag == "input" and types & BUTTON_INPUTS):
                self._keep(value or "")

    def handle_endtag(self, tag):
        self.skipping -= tag in self.SKIPPED and self.skipping > 0

    def handle_data(self, data):
        if not self.skipping:
            self._keep(data)

    def _keep(self, text: str) -> None:
        text = " ".join(text.replace("\x00", " ").replace("\x01", " ").split())
        if re.search(r"[^\W\d_]", text):
            self.found.append(text)


def untranslated_text(source: str) -> list[str]:
    parser = VisibleText()
    parser.feed(visible_html(source))
    parser.close()
    return parser.found


def test_the_template_scan_finds_text_outside_gettext_and_only_that():
    source = """{% extends "base.html" %}{% block title %}Profile{% endblock %}{% block style %}p { x:1 }{% endblock %}
<style>p { color: red }</style><p>{% trans %}Hello {{ name }}{% endtrans %} · {{ _('Hi') }} {{ count }}</p>
<input placeholder="Your name" value="{{ v }}"><input type="submit" value="Save"><button value="x" title="{{ t }}">
{{ gettext('Go') }}</button><td class="num{{ ' zero' if not n }}">{{ when|datetime or 'never' }}</td>
<code>sifnet node init</code><p>{{ 'to' if out else "from" }} {{ url_for('auth.home') }} &amp; 12 · —</p>
<optgroup label="Europe"></optgroup><img alt="A chart" src="x.svg">{# a comment #}<a title="Tip">x</a>"""
    assert untranslated_text(source) == [
        "Profile",
        "Your name",
        "Save",
        "never",
        "to from & 12 · —",
        "Europe",
        "A chart",
        "Tip",
        "x",
    ]


def test_no_template_shows_text_outside_gettext():
    leftovers = {}
    for folder in TEMPLATE_DIRS:
        for path in sorted((REPO / folder).rglob("*.html")):
            found = untranslated_text(path.read_text(encoding="utf-8"))
            if found:
                leftovers[path.relative_to(REPO).as_posix()] = found
    total = sum(len(found) for found in leftovers.values())
    summary = "\n".join(f"  {name}: {len(found)}, e.g. {found[0]!r}" for name, found in leftovers.items())
    assert leftovers == {}, f"{total} text nodes in {len(leftovers)} templates are outside gettext:\n{summary}"
