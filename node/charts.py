"""Charts as inline SVG, drawn on the server: no JavaScript, no inline style, no external assets.

Every text and attribute is escaped (markupsafe) while the SVG is built, so templates insert the
finished Markup as it is. A chart is drawn for a page: its words, numbers and dates are in the
reader's language and time zone, and it carries a <title> and a <desc> for screen readers. The
directory's charts (federation/directory/charts.py) are built from the same two helpers.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from markupsafe import Markup, escape

from . import i18n


def el(name: str, content: object = None, **attrs: object) -> Markup:
    """One SVG element; attribute names use _ for -, values and text content are escaped."""
    rendered = "".join(f' {k.rstrip("_").replace("_", "-")}="{escape(v)}"' for k, v in attrs.items() if v is not None)
    if content is None:
        return Markup(f"<{name}{rendered}/>")
    inner = content if isinstance(content, Markup) else escape(content)
    return Markup(f"<{name}{rendered}>") + inner + Markup(f"</{name}>")


def svg(
    width: int, height: int, parts: list[Markup], label: str, css_class: str = "chart", desc: str | None = None
) -> Markup:
    """The chart's <svg>: an image whose accessible name is its title, and whose description is `desc`."""
    head = [el("title", label)] + ([el("desc", desc)] if desc else [])
    return el(
        "svg",
        Markup("").join([*head, *parts]),
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {width} {height}",
        width=width,
        height=height,
        role="img",
        aria_label=label,
        class_=css_class,
    )


def balance_chart(points: list[tuple[datetime, int]], width: int = 720, height: int = 220) -> Markup:
    """The balance over time as a stepped line, with its lowest and highest values, zero and the first and last day."""
    title = _("Your balance over time")
    if len(points) < 2:
        only = points[0][1] if points else 0
        text = _("Balance: %(amount)s", amount=i18n.sif_filter(only))
        return svg(width, 60, [el("text", text, x=width / 2, y=34, text_anchor="middle", class_="empty")], title)
    left, right, top, bottom = 90, 16, 14, height - 28
    values = [v for _t, v in points]
    low, high = min(0, *values), max(0, *values)
    span = (high - low) or 1
    t0, t1 = points[0][0].timestamp(), points[-1][0].timestamp()

    def x(t: datetime) -> float:
        return left + (width - left - right) * (t.timestamp() - t0) / max(1.0, t1 - t0)

    def y(v: int) -> float:
        return bottom - (bottom - top) * (v - low) / span

    steps = []
    for (t, v), (t_next, _v) in zip(points, [*points[1:], points[-1]]):
        steps += [f"{x(t):.1f},{y(v):.1f}", f"{x(t_next):.1f},{y(v):.1f}"]
    parts = [
        el("line", x1=left, x2=width - right, y1=f"{y(0):.1f}", y2=f"{y(0):.1f}", class_="zero"),
        el("text", i18n.sif_filter(high), x=left - 8, y=top + 4, text_anchor="end", class_="axis"),
        el("text", i18n.sif_filter(low), x=left - 8, y=bottom, text_anchor="end", class_="axis"),
        el("polyline", points=" ".join(steps), fill="none", class_="balance-line"),
        el("text", i18n.date_filter(points[0][0]), x=left, y=height - 6, class_="axis"),
        el("text", i18n.date_filter(points[-1][0]), x=width - right, y=height - 6, text_anchor="end", class_="axis"),
    ]
    desc = _(
        "From %(first)s to %(last)s your balance went from %(start)s to %(end)s; lowest %(low)s, highest %(high)s.",
        first=i18n.date_filter(points[0][0]),
        last=i18n.date_filter(points[-1][0]),
        start=i18n.sif_filter(values[0]),
        end=i18n.sif_filter(values[-1]),
        low=i18n.sif_filter(min(values)),
        high=i18n.sif_filter(max(values)),
    )
    return svg(width, height, parts, title, "chart balance", desc)
