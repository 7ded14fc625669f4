"""Charts as inline SVG, drawn on the server: no JavaScript, no external assets.

Much of a chart's text comes from nodes' summaries, so every text and attribute is escaped
(markupsafe) while the SVG is built (node/charts.py: el, svg); templates insert the finished Markup as
it is. The charts are drawn for a page: their own words, numbers and times are in the reader's language
and time zone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from flask_babel import gettext as _
from markupsafe import Markup

from federation.labels import FIGURE, NODE_HEALTH
from node import i18n
from node.charts import el, svg

PALETTE = ("#0b6e4f", "#c8553d", "#3d5a80", "#d4a017", "#7b2d8b", "#2a9d8f", "#8d6e63", "#e76f51", "#457b9d", "#6a994e")
OUTCOME_COLOURS = {"up": "#0b6e4f", "slow": "#d4a017", "unreachable": "#b3261e", "refused": "#7b2d8b"}


def colour_of(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def legend(items: list[tuple[str, str]], x: int, y: int, spacing: int = 90) -> list[Markup]:
    out = []
    for n, (label, colour) in enumerate(items):
        out += [
            el("rect", x=x + n * spacing, y=y, width=12, height=12, fill=colour),
            el("text", label, x=x + n * spacing + 16, y=y + 11, class_="legend"),
        ]
    return out


def stacked_bars(rows: list[dict], series: list[str], label_key: str, title: str, limit: int = 24) -> Markup:
    """Horizontal bars, one per row, stacked by series (countries); bar length is the row's total."""
    rows = rows[:limit]
    width, left, bar, gap = 720, 170, 16, 6
    height = 40 + len(rows) * (bar + gap) + 10
    peak = max([r["total"] for r in rows] + [1])
    scale = (width - left - 60) / peak
    parts = legend([(s, colour_of(i)) for i, s in enumerate(series)], left, 8)
    for n, row in enumerate(rows):
        y = 36 + n * (bar + gap)
        parts.append(el("text", row[label_key], x=left - 8, y=y + bar - 4, text_anchor="end", class_="axis"))
        x = float(left)
        for i, name in enumerate(series):
            value = row.get(name, 0)
            if value:
                parts.append(
                    el(
                        "rect",
                        el("title", f"{row[label_key]}, {name}: {value}"),
                        x=round(x, 1),
                        y=y,
                        width=round(value * scale, 1),
                        height=bar,
                        fill=colour_of(i),
                    )
                )
                x += value * scale
        parts.append(
            el(
                "text",
                i18n.number_filter(row["total"]) if row["total"] else _("none"),
                x=round(x, 1) + 6,
                y=y + bar - 4,
                class_="value" if row["total"] else "value missing",
            )
        )
    return svg(width, height, parts, title)


def flow_diagram(
    countries: list[str], edges: list[dict], title: str, key: str, describe: Callable[[dict], str]
) -> Markup:
    """Countries on a circle, an arrow for each flow; its width grows with the amount; `describe` titles an arrow."""
    size, radius = 460, 165
    centre = size / 2
    spot = {
        c: (
            centre + radius * math.sin(2 * math.pi * i / max(1, len(countries))),
            centre - radius * math.cos(2 * math.pi * i / max(1, len(countries))),
        )
        for i, c in enumerate(countries)
    }
    peak = max([e["amount"] for e in edges] + [1])
    marker = f"arrow-{key}"
    parts = [
        el(
            "defs",
            el(
                "marker",
                el("path", d="M0,0 L8,4 L0,8 z", fill="#3d5a80"),
                id=marker,
                viewBox="0 0 8 8",
                refX=8,
                refY=4,
                markerWidth=11,
                markerHeight=11,
                markerUnits="userSpaceOnUse",
                orient="auto-start-reverse",
            ),
        )
    ]
    for e in edges:
        parts += _arrow(spot[e["from"]], spot[e["to"]], e, 1.5 + 6 * e["amount"] / peak, marker, describe(e))
    for i, c in enumerate(countries):
        x, y = spot[c]
        parts += [
            el("circle", cx=round(x, 1), cy=round(y, 1), r=22, fill=colour_of(i)),
            el("text", c, x=round(x, 1), y=round(y, 1) + 5, text_anchor="middle", class_="node-label"),
        ]
    if not edges:
        parts.append(el("text", _("no flows reported yet"), x=centre, y=centre, text_anchor="middle", class_="empty"))
    return svg(size, size, parts, title, "chart flow")


def _arrow(
    a: tuple[float, float], b: tuple[float, float], edge: dict, width: float, marker: str, label: str
) -> list[Markup]:
    """A curved arrow from a to b, bent to its right so that a -> b and b -> a do not overlap."""
    (x1, y1), (x2, y2) = a, b
    dx, dy = x2 - x1, y2 - y1
    length = math.hypot(dx, dy) or 1
    ux, uy = dx / length, dy / length
    sx, sy, ex, ey = x1 + ux * 24, y1 + uy * 24, x2 - ux * 26, y2 - uy * 26  # start and end at the circles' rims
    cx, cy = (x1 + x2) / 2 - uy * length * 0.18, (y1 + y2) / 2 + ux * length * 0.18
    path = el(
        "path",
        el("title", label),
        d=f"M{sx:.1f},{sy:.1f} Q{cx:.1f},{cy:.1f} {ex:.1f},{ey:.1f}",
        fill="none",
        stroke="#3d5a80",
        stroke_width=f"{width:.1f}",
        stroke_opacity="0.75",
        marker_end=f"url(#{marker})",
        class_="flow",
    )
    return [
        path,
        el(
            "text",
            i18n.number_filter(edge["amount"]),
            x=f"{(sx + 2 * cx + ex) / 4:.1f}",
            y=f"{(sy + 2 * cy + ey) / 4:.1f}",
            text_anchor="middle",
            class_="flow-value",
        ),
    ]


def poll_strip(polls: list[dict], title: str, width: int = 720) -> Markup:
    """One thin bar per poll, coloured by outcome, oldest on the left; its height shows the latency."""
    polls = polls[-240:]
    height, base = 74, 70
    step = (width - 20) / max(1, len(polls))
    peak = max([p["latency_ms"] or 0 for p in polls] + [1])
    parts = legend([(NODE_HEALTH(k), v) for k, v in OUTCOME_COLOURS.items()], 10, 0, spacing=110)
    for n, p in enumerate(polls):
        h = 6 if p["latency_ms"] is None else 6 + 36 * p["latency_ms"] / peak
        parts.append(
            el(
                "rect",
                el("title", _poll_label(p)),
                x=round(10 + n * step, 1),
                y=round(base - h, 1),
                width=max(1.0, round(step - 1, 1)),
                height=round(h, 1),
                fill=OUTCOME_COLOURS.get(p["outcome"], "#888"),
            )
        )
    if not polls:
        parts.append(el("text", _("not polled yet"), x=width / 2, y=40, text_anchor="middle", class_="empty"))
    parts.append(
        el(
            "text",
            _("highest latency: %(ms)s ms", ms=i18n.number_filter(peak)),
            x=width - 10,
            y=11,
            text_anchor="end",
            class_="axis",
        )
    )
    return svg(width, height, parts, title, "chart strip")


def _poll_label(p: dict) -> str:
    when = i18n.datetime_filter(p["at"], seconds=True)
    if p["latency_ms"] is None:
        text = _(
            "%(node)s %(when)s: %(outcome)s, no answer",
            node=p.get("node_id", ""),
            when=when,
            outcome=NODE_HEALTH(p["outcome"]),
        )
    else:
        text = _(
            "%(node)s %(when)s: %(outcome)s in %(ms)s ms",
            node=p.get("node_id", ""),
            when=when,
            outcome=NODE_HEALTH(p["outcome"]),
            ms=i18n.number_filter(p["latency_ms"]),
        )
    return f"{text} {p.get('code') or ''}".strip()


def line_chart(points: list[dict], series: list[str], title: str, now: datetime, width: int = 720) -> Markup:
    """Figures over time as one sparkline per series, each between its own lowest and highest value
    (members and SIF differ by orders of magnitude); the last figures hold until ``now``."""
    band, label_width, pad, range_width = 46, 250, 8, 110
    height = 20 + band * len(series)
    if not points:
        return svg(
            width,
            60,
            [el("text", _("no verified summary yet"), x=width / 2, y=34, text_anchor="middle", class_="empty")],
            title,
        )
    points = [*points, {**points[-1], "at": max(now, points[-1]["at"])}]
    t0, t1 = points[0]["at"].timestamp(), points[-1]["at"].timestamp()
    span = width - label_width - range_width - 2 * pad
    parts = []
    for i, s in enumerate(series):
        low, high = min(p[s] for p in points), max(p[s] for p in points)
        top = 6 + i * band
        xy = " ".join(
            f"{label_width + pad + span * (p['at'].timestamp() - t0) / max(1.0, t1 - t0):.1f},"
            f"{top + band / 2 if high == low else top + band - 12 - (band - 18) * (p[s] - low) / (high - low):.1f}"
            for p in points
        )
        first, last = i18n.number_filter(points[0][s]), i18n.number_filter(points[-1][s])
        spread = f"{i18n.number_filter(low)}–{i18n.number_filter(high)}" if high != low else _("unchanged")
        parts += [
            el(
                "text", _("%(figure)s: %(value)s", figure=FIGURE(s), value=last), x=0, y=top + band / 2, class_="legend"
            ),
            el("text", spread, x=width - range_width + pad, y=top + band / 2, class_="axis"),
            el(
                "polyline",
                el("title", _("%(figure)s: from %(first)s to %(last)s", figure=FIGURE(s), first=first, last=last)),
                points=xy,
                fill="none",
                stroke=colour_of(i),
                stroke_width=2,
                stroke_linejoin="round",
            ),
        ]
    parts += [
        el("text", i18n.datetime_filter(points[0]["at"]), x=label_width + pad, y=height - 2, class_="axis"),
        el(
            "text",
            i18n.datetime_filter(points[-1]["at"]),
            x=label_width + pad + span,
            y=height - 2,
            text_anchor="end",
            class_="axis",
        ),
    ]
    return svg(width, height, parts, title)


def clearing_bars(rows: list[dict], title: str, limit: int = 12) -> Markup:
    """What clearing changed: per round that was applied (newest first), its debts before and after, as two bars."""
    rows = [r for r in rows if r["changed"]][:limit]
    width, left, bar = 720, 170, 12
    step = 2 * bar + 14
    height = 40 + len(rows) * step + 10
    peak = max([r["total_before"] for r in rows] + [r["total_after"] for r in rows] + [1])
    scale = (width - left - 80) / peak
    before, after = _("debt before"), _("debt after")
    parts = legend([(before, PALETTE[6]), (after, PALETTE[0])], left, 8, spacing=140)
    for n, r in enumerate(rows):
        y = 36 + n * step
        parts.append(el("text", r["round_id"], x=left - 8, y=y + bar + 4, text_anchor="end", class_="axis"))
        for k, (name, value, colour) in enumerate(
            ((before, r["total_before"], PALETTE[6]), (after, r["total_after"], PALETTE[0]))
        ):
            top = y + k * bar
            label = _(
                "%(round)s, %(figure)s: %(amount)s", round=r["round_id"], figure=name, amount=i18n.sif_filter(value)
            )
            parts += [
                el(
                    "rect",
                    el("title", label),
                    x=left,
                    y=top,
                    width=round(value * scale, 1),
                    height=bar - 2,
                    fill=colour,
                ),
                el(
                    "text",
                    i18n.number_filter(value),
                    x=round(left + value * scale, 1) + 6,
                    y=top + bar - 3,
                    class_="value",
                ),
            ]
    if not rows:
        parts.append(
            el("text", _("no clearing round applied yet"), x=width / 2, y=40, text_anchor="middle", class_="empty")
        )
    return svg(width, height if rows else 60, parts, title)
