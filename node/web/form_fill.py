"""Put a refused form's values and errors back into the page it came from (pure: HTML in, HTML out).

Only the form sent to `action` changes: its text fields, text areas, choices and boxes get the values the
member typed, and each field with an error gets `aria-invalid` and the error beside it, linked by
`aria-describedby`. Everything else of the page is passed through as it was written. Hidden fields (the
CSRF and one-time form tokens) and passwords are never filled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit

NOT_FILLED = frozenset({"hidden", "password", "submit", "button", "reset", "file", "image"})
CHECKED = frozenset({"checkbox", "radio"})


def fill(
    html: str, *, page_path: str, action: str, values: Mapping[str, Sequence[str]], errors: Mapping[str, str]
) -> str:
    """`html` with the form posted to `action` holding `values` ({name: [value, ...]}) and showing `errors`.

    Of several forms posted to the same path (one per peer, say), the one whose hidden fields hold the values
    sent is the one filled."""
    finder = _Forms(page_path)
    finder.feed(html)
    finder.close()
    target = next(
        (
            n
            for n, (path, hidden) in enumerate(finder.forms)
            if path == action and all(v in values.get(k, (v,)) for k, v in hidden.items())
        ),
        None,
    )
    filler = _Filler(page_path, action, values, errors, target)
    filler.feed(html)
    filler.close()
    return "".join(filler.out)


def error_id(name: str) -> str:
    return "error-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def _tag(tag: str, attrs: list[tuple[str, str | None]], self_closing: bool = False) -> str:
    parts = [tag] + [name if value is None else f'{name}="{escape(value, quote=True)}"' for name, value in attrs]
    return "<" + " ".join(parts) + (" />" if self_closing else ">")


def _set(attrs: list[tuple[str, str | None]], name: str, value: str) -> list[tuple[str, str | None]]:
    return [(k, v) for k, v in attrs if k != name] + [(name, value)]


def _drop(attrs: list[tuple[str, str | None]], name: str) -> list[tuple[str, str | None]]:
    return [(k, v) for k, v in attrs if k != name]


class _Forms(HTMLParser):
    """The page's forms in order: (the path each posts to, its hidden fields other than the tokens)."""

    TOKENS = frozenset({"csrf_token", "form_token"})

    def __init__(self, page_path: str):
        super().__init__(convert_charrefs=True)
        self.page_path = page_path
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            action = found.get("action")
            self.forms.append((urlsplit(action).path if action else self.page_path, {}))
        elif tag == "input" and self.forms and (found.get("type") or "").lower() == "hidden":
            name = found.get("name") or ""
            if name and name not in self.TOKENS:
                self.forms[-1][1][name] = found.get("value") or ""

    handle_startendtag = handle_starttag


class _Filler(HTMLParser):
    def __init__(
        self,
        page_path: str,
        action: str,
        values: Mapping[str, Sequence[str]],
        errors: Mapping[str, str],
        target: int | None,
    ):
        super().__init__(convert_charrefs=False)
        self.page_path, self.action, self.target = page_path, action, target
        self.forms_seen = -1
        self.values, self.errors = values, errors
        self.out: list[str] = []
        self.in_form = False
        self.used: dict[str, int] = {}  # how many values of a repeated text field were put back
        self.shown: set[str] = set()  # fields whose error is on the page
        self.select: str | None = None  # the name of the <select> being read
        self.skip_text = False  # inside a <textarea> whose text was replaced

    # -- passing the page through -------------------------------------------------------------------
    def handle_data(self, data: str) -> None:
        if not self.skip_text:
            self.out.append(data)

    def handle_entityref(self, name: str) -> None:
        if not self.skip_text:
            self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        if not self.skip_text:
            self.out.append(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.out.append(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self.out.append(f"<![{data}]>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.in_form and tag == "input":
            self._input(attrs, self_closing=True)
        else:
            self.out.append(self.get_starttag_text() or _tag(tag, attrs, True))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or _tag(tag, attrs)
        if tag == "form":
            self.forms_seen += 1
            self.in_form = self.forms_seen == self.target
            self.out.append(raw)
        elif not self.in_form:
            self.out.append(raw)
        elif tag == "input":
            self._input(attrs)
        elif tag == "textarea":
            self._textarea(attrs)
        elif tag == "select":
            name = dict(attrs).get("name") or ""
            self.select = name
            self.out.append(_tag(tag, self._marked(name, attrs)) if name in self.errors else raw)
        elif tag == "option" and self.select is not None and self.select in self.values:
            value = dict(attrs).get("value")
            chosen = value is not None and value in self.values[self.select]
            self.out.append(_tag(tag, _drop(attrs, "selected") + ([("selected", None)] if chosen else [])))
        else:
            self.out.append(raw)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self.skip_text:
            self.skip_text = False
        self.out.append(f"</{tag}>")
        if not self.in_form:
            return
        if tag in ("textarea", "select"):
            name = self.select if tag == "select" else self._textarea_name
            if tag == "select":
                self.select = None
            self._error_after(name)
        elif tag == "form":
            self.in_form = False

    # -- the target form ----------------------------------------------------------------------------
    def _marked(self, name: str, attrs: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
        return _set(_set(attrs, "aria-invalid", "true"), "aria-describedby", error_id(name))

    def _error_after(self, name: str | None) -> None:
        if name and name in self.errors and name not in self.shown:
            self.shown.add(name)
            self.out.append(f'<span class="field-error" id="{error_id(name)}">{escape(self.errors[name])}</span>')

    _textarea_name: str | None = None

    def _textarea(self, attrs: list[tuple[str, str | None]]) -> None:
        name = dict(attrs).get("name") or ""
        self._textarea_name = name
        if name in self.errors:
            attrs = self._marked(name, attrs)
        self.out.append(_tag("textarea", attrs))
        if name in self.values:
            # A newline right after <textarea> is dropped by the HTML parser of the browser: keep the text's own.
            self.out.append("\n" + escape(self._next_value(name), quote=False))
            self.skip_text = True

    def _input(self, attrs: list[tuple[str, str | None]], self_closing: bool = False) -> None:
        found = dict(attrs)
        name, kind = found.get("name") or "", (found.get("type") or "text").lower()
        if kind in NOT_FILLED or not name:
            if kind == "password" and name in self.errors:  # never filled, but its error is shown
                self.out.append(_tag("input", self._marked(name, attrs), self_closing))
                self._error_after(name)
            else:
                self.out.append(self.get_starttag_text() or _tag("input", attrs, self_closing))
            return
        if kind in CHECKED:
            if name in self.errors and name not in self.shown:  # a group's error goes before its first box
                self._error_after(name)
            if name in self.values or name in self.errors:
                chosen = found.get("value", "on") in self.values.get(name, ())
                attrs = _drop(attrs, "checked") + ([("checked", None)] if chosen else [])
        elif name in self.values:
            attrs = _set(attrs, "value", self._next_value(name))
        if name in self.errors:
            attrs = self._marked(name, attrs)
        self.out.append(_tag("input", attrs, self_closing))
        if kind not in CHECKED:
            self._error_after(name)

    def _next_value(self, name: str) -> str:
        given = self.values[name]
        n = self.used.get(name, 0)
        self.used[name] = n + 1
        return given[n] if n < len(given) else ""
