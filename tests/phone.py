"""What a page must keep on a 390 x 844 phone, measured in a real Chromium: shared by the node's and the directory's
walks (tests/browser/test_mobile.py, tests/directory/test_directory_phone.py).

The rules a page keeps on the phone:

* No sideways scrolling: the document is never wider than the screen (scrollWidth <= 390).
* The header's menu takes at most two lines, a line being one row of menu links (a link's line height plus the
  padding that makes it a tap target): its links start on at most two different lines and the menu's box is at
  most two links high. When its links do not fit in that, the menu is collapsed into one line that scrolls
  sideways inside itself (computed overflow-x auto or scroll), so that every link stays reachable by a swipe
  while the page itself never scrolls sideways. (The node's menu does that: one line, no script.)
* Every tap target is at least 40 px high and 40 px wide: buttons, links drawn as buttons, the menu's links and
  buttons, links between pages of a list, text fields, drop-down menus, the summaries that open a <details>,
  and for a checkbox or radio button its label (tapping the label ticks it, so the label is the target).
  Links inside running text are exempt, as in WCAG 2.5.8: they are as tall as the line they sit in.
* Table columns keep their words whole: no cell narrower than 8 em breaks a word across lines (it spans more
  lines than it has words). A table of items shows each row as a small card on the phone (class "stack"); a
  table of figures keeps its columns and scrolls sideways inside its box.
"""

from __future__ import annotations

PHONE = {"width": 390, "height": 844, "mobile": True}
MIN_TAP = 40  # px, both ways: about a fingertip (WCAG 2.5.5 asks 44, 2.5.8 at least 24)

# Measures the page in the browser: its width, the header's menu, and the tap targets smaller than MIN_TAP.
MEASURE = """(minTap) => {
  const width = document.documentElement.clientWidth;
  const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
  const scrolls = (e) => ["auto", "scroll"].includes(getComputedStyle(e).overflowX);
  const name = (e) => {
    let s = e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + [...e.classList].map((c) => "." + c).join("");
    const text = (e.innerText || e.value || e.placeholder || e.getAttribute("aria-label") || "").trim();
    return text ? `${s} "${text.replace(/\\s+/g, " ").slice(0, 40)}"` : s;
  };
  // What sticks out on the right, itself or with text that does not wrap: the innermost such elements (what a box
  // that scrolls sideways holds does not count: that box keeps it).
  const wide = [];
  const walk = (parent) => {
    let found = false;
    for (const e of parent.children) {
      if (!shown(e)) continue;
      const r = e.getBoundingClientRect();
      const inner = scrolls(e) ? false : walk(e);
      if ((scrolls(e) ? r.right : Math.max(r.right, r.left + e.scrollWidth)) > width + 0.5) {
        if (!inner) wide.push(name(e));
        found = true;
      }
      found = found || inner;
    }
    return found;
  };
  walk(document.body);
  const nav = document.querySelector("header nav");
  const items = nav ? [...nav.querySelectorAll("a, button")].filter(shown) : [];
  const menu = nav && {
    height: nav.getBoundingClientRect().height,
    lines: new Set(items.map((i) => Math.round(i.getBoundingClientRect().top))).size,
    line: Math.max(...items.map((i) => i.getBoundingClientRect().height)),
    overflows: nav.scrollWidth > nav.clientWidth + 0.5,
    scrolls: scrolls(nav),
  };
  const targets = new Set();
  const selector = "button, .button, input:not([type=hidden]), select, textarea, summary, header nav a, .pager a";
  for (const e of document.querySelectorAll(selector)) {
    targets.add(e.matches("[type=checkbox], [type=radio]") ? e.closest("label") || e : e);
  }
  const small = [...targets].filter(shown).flatMap((e) => {
    const r = e.getBoundingClientRect();
    const size = `${Math.round(r.width)}x${Math.round(r.height)}`;
    return Math.min(r.width, r.height) < minTap - 0.5 ? [`${name(e)} ${size}`] : [];
  });
  // Table cells so narrow that their words break inside (more lines of text than words): a column squeezed to a few
  // letters. Lines are counted on the text's own boxes, which overlap when they share a line.
  const lines = (e) => {
    const rects = [];
    const texts = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
    for (let t = texts.nextNode(); t; t = texts.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(t);
      rects.push(...[...range.getClientRects()].filter((r) => r.width > 0));
    }
    rects.sort((a, b) => a.top - b.top);
    let count = 0;
    let bottom = -Infinity;
    for (const r of rects) {
      if (r.top >= bottom - 1) count += 1;
      bottom = r.top >= bottom - 1 ? r.bottom : Math.max(bottom, r.bottom);
    }
    return count;
  };
  // A stacked table's header row is moved out of the page (for screen readers only): not a column anyone sees.
  const inPage = (e) => {
    const r = e.getBoundingClientRect();
    return r.right + window.scrollX > 0 && r.bottom + window.scrollY > 0;
  };
  const squeezed = [...document.querySelectorAll("td, th")].filter((e) => shown(e) && inPage(e)).flatMap((e) => {
    const words = (e.innerText || "").trim().split(/\\s+/).filter(Boolean).length;
    const narrow = e.getBoundingClientRect().width < 8 * parseFloat(getComputedStyle(e).fontSize);
    const spans = narrow && words ? lines(e) : 0;
    return spans > words ? [`${name(e)} ${spans} lines for ${words} words`] : [];
  });
  return { scroll_width: document.documentElement.scrollWidth, wide, menu, small, squeezed };
}"""


def phone_problems(page) -> list[str]:
    """What keeps the page from working at 390 px (the rules in the module's docstring), in words."""
    found = page.evaluate(MEASURE, MIN_TAP)
    width = page.viewport_size["width"]
    problems = []
    if found["scroll_width"] > width:
        problems.append(f"{found['scroll_width']} px wide: {', '.join(found['wide'][:5])}")
    menu = found["menu"]
    if menu is None:
        problems.append("no menu (header nav)")
    else:
        if menu["lines"] > 2 or menu["height"] > 2 * menu["line"] + 1:
            problems.append(f"the menu takes {menu['lines']} lines, {menu['height']:.0f} px high")
        if menu["overflows"] and not menu["scrolls"]:
            problems.append("the menu's links do not fit, and it does not scroll sideways")
    if found["squeezed"]:
        problems.append(f"columns too narrow for their words: {'; '.join(found['squeezed'][:5])}")
    if found["small"]:
        problems.append(f"tap targets under {MIN_TAP} px: {'; '.join(found['small'][:8])}")
    return problems
