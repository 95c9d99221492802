"""The drawings of the HTML report, as inline SVG written by hand: an expiry bar, a served chain.

No library: the drawings are rectangles, lines and a few words, and everything written into them is
escaped here (a certificate's CN or a file name is anyone's to choose). Colour is never the only
signal: every state also has a pattern (the fills defined once in `DEFINITIONS`), an icon and words.
"""

from __future__ import annotations

import html

from nginxssl.report.text import one_line

OK, WARNING, CRITICAL, UNKNOWN = "ok", "warning", "critical", "unknown"
# The words and icon each state shows beside its colour.
ICONS = {OK: "✔", WARNING: "⚠", CRITICAL: "✖", UNKNOWN: "?"}
# The fill of each state: plain for ok, hatched for warning, cross-hatched for critical.
FILLS = {OK: "var(--ok-fill)", WARNING: "url(#hatch-warning)", CRITICAL: "url(#hatch-critical)",
         UNKNOWN: "url(#dots-unknown)"}

# Patterns every drawing on the page refers to (one hidden SVG holds them: ids are page-wide).
DEFINITIONS = """<svg class="definitions" width="0" height="0" aria-hidden="true" focusable="false"><defs>
<pattern id="hatch-warning" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
<rect width="8" height="8" fill="var(--warning-fill)"/><line x1="0" y1="0" x2="0" y2="8" stroke="var(--warning)" stroke-width="3"/></pattern>
<pattern id="hatch-critical" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
<rect width="8" height="8" fill="var(--critical-fill)"/><line x1="0" y1="0" x2="0" y2="8" stroke="var(--critical)" stroke-width="3"/>
<line x1="0" y1="0" x2="8" y2="0" stroke="var(--critical)" stroke-width="3"/></pattern>
<pattern id="dots-unknown" width="6" height="6" patternUnits="userSpaceOnUse">
<rect width="6" height="6" fill="var(--unknown-fill)"/><circle cx="3" cy="3" r="1.2" fill="var(--unknown)"/></pattern>
<marker id="arrow" viewBox="0 0 10 10" refX="5" refY="9" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
<path d="M0,0 L10,0 L5,10 z" fill="var(--ink)"/></marker>
</defs></svg>"""


def text(value: object) -> str:
    """Anything from a configuration or a certificate, made safe for HTML and SVG text and
    attributes: control characters as visible escapes, then every markup character escaped."""
    return html.escape(one_line(str(value)), quote=True)


def clip(value: str, width: int) -> str:
    """At most `width` characters of a name: its start tells names apart, so the end goes."""
    return value if len(value) <= width else value[: width - 1] + "…"


def clip_left(value: str, width: int) -> str:
    """At most `width` characters of a `file:line`: its end tells places apart, so the start goes."""
    return value if len(value) <= width else "…" + value[len(value) - width + 1:]


def bar(start: float, end: float, today: float, state: str, label: str, tooltip: str) -> str:
    """One certificate's validity on a 0..1000 axis stretched to the width of its row (no text inside:
    the stretch would distort it; the row's HTML says the words). `label` is the drawing's text
    alternative, `tooltip` what hovering shows."""
    runs_off = end > 1000 or start < 0  # drawn to the edge, with a chevron: it goes on beyond the axis
    start, end = max(0.0, min(1000.0, start)), max(0.0, min(1000.0, end))
    width = max(end - start, 3.0)  # a certificate of a day is still a visible mark
    chevrons = ""
    if runs_off:
        chevrons = "".join(f'<path d="{shape}" fill="var(--ink)"/>' for shape, edge in (
            ("M986,6 L998,12 L986,18 z", end >= 1000), ("M14,6 L2,12 L14,18 z", start <= 0)) if edge)
    return (f'<svg class="bar" viewBox="0 0 1000 24" preserveAspectRatio="none" role="img" '
            f'aria-label="{text(label)}"><title>{text(tooltip)}</title>'
            f'<rect class="track" x="0" y="4" width="1000" height="16"/>'
            f'<rect x="{start:.1f}" y="4" width="{width:.1f}" height="16" fill="{FILLS[state]}" '
            f'stroke="var(--{state})" stroke-width="1.5" vector-effect="non-scaling-stroke"/>'
            f'<line class="today" x1="{today:.1f}" y1="0" x2="{today:.1f}" y2="24" '
            f'vector-effect="non-scaling-stroke"/>{chevrons}</svg>')


BOX_WIDTH = 420
BOX_HEIGHT = 64
GAP = 30  # between two boxes of the path: room for the "issued by" arrow
LINE_CHARACTERS = 58  # what a box's line holds at 13px in BOX_WIDTH


class Box:
    """One certificate (or a missing one) in a chain drawing."""

    def __init__(self, state: str, heading: str, label: str, detail: str, dashed: bool = False,
                 href: str | None = None) -> None:
        self.state, self.heading, self.label, self.detail = state, heading, label, detail
        self.dashed, self.href = dashed, href


def chain(boxes: list[Box], extras: list[Box], notes: list[tuple[str, str, str]], title: str,
          description: str) -> str:
    """A served chain drawn top-down: leaf, an "issued by" arrow, its issuer ... up to the anchor;
    then the certificates sent on no path; then `notes` (state, text, href): the findings about it,
    each a link to its row in the findings table."""
    parts = []
    y = 10
    for index, box in enumerate(boxes):
        if index:
            parts.append(f'<line x1="40" y1="{y - GAP + 2}" x2="40" y2="{y - 4}" class="edge" marker-end="url(#arrow)"/>'
                         f'<text x="52" y="{y - GAP / 2 + 4}" class="edge-label">issued by</text>')
        parts.append(_box(box, y))
        y += BOX_HEIGHT + GAP
    y -= GAP - 14
    if extras:
        parts.append(f'<text x="20" y="{y + 4}" class="section">also sent, on no issuer path:</text>')
        y += 14
        for box in extras:
            parts.append(_box(box, y))
            y += BOX_HEIGHT + 8
    for state, note, href in notes:
        y += 8
        line = f'<text x="20" y="{y + 6}" class="note {state}">{ICONS[state]} {text(clip(note, 64))}</text>'
        parts.append(f'<a href="{text(href)}">{line}</a>')
        y += 12
    height = y + 10
    return (f'<svg class="chain" viewBox="0 0 {BOX_WIDTH + 40} {height}" width="{BOX_WIDTH + 40}" role="img" '
            f'aria-label="{text(title)}"><title>{text(title)}</title><desc>{text(description)}</desc>'
            + "".join(parts) + "</svg>")


def _box(box: Box, y: int) -> str:
    dash = ' stroke-dasharray="7 4"' if box.dashed else ""
    body = (f'<rect x="20" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="6" fill="{FILLS[box.state]}" '
            f'stroke="var(--{box.state})" stroke-width="{1.5 if box.state == OK else 3}"{dash}/>'
            f'<rect x="26" y="{y + 5}" width="{BOX_WIDTH - 12}" height="{BOX_HEIGHT - 10}" rx="4" class="plate"/>'
            f'<text x="32" y="{y + 20}" class="heading {box.state}">{ICONS[box.state]} {text(clip(box.heading, 56))}</text>'
            f'<text x="32" y="{y + 37}" class="label">{text(clip(box.label, LINE_CHARACTERS - 6))}</text>'
            f'<text x="32" y="{y + 53}" class="detail">{text(clip(box.detail, LINE_CHARACTERS + 4))}</text>')
    tooltip = f"<title>{text(box.label)}: {text(box.detail)}</title>"
    if box.href:
        return f'<a href="{text(box.href)}">{tooltip}{body}</a>'
    return f"<g>{tooltip}{body}</g>"
