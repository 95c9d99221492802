"""One self-contained HTML page (`--format html`): when each certificate expires, every site's chain
as served, the findings, and the text of each rule they cite.

Self-contained: no network, no external script, style or font, so that it reads the same from a CI
artifact or an e-mail attachment. The drawings are inline SVG (report/svg.py). Everything from a
configuration or a certificate is escaped (svg.text), and a Content-Security-Policy lets only the
page's own inline script run, by its hash: a name that slipped through escaping still runs nothing.
With JavaScript off the page shows everything; the script only adds the findings filters.
Accessible: each drawing has a text alternative (aria-label, <title>, <desc>) and a table says what
it draws; colour always comes with a pattern, an icon and words.
"""

from __future__ import annotations

import base64
import hashlib
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Callable, Iterable, Mapping, Sequence, TextIO

from nginxssl import __version__
from nginxssl.catalogue import SEVERITIES, Rule
from nginxssl.model.finding import Finding
from nginxssl.model.inventory import (
    ANCHOR,
    COMPLETE,
    CRITICAL,
    OFF_PATH,
    OK,
    WARNING,
    CertificateRow,
    ChainLink,
    ChainState,
    Inventory,
    SiteUse,
)
from nginxssl.report import svg
from nginxssl.report.certs import abbreviate, site_text
from nginxssl.report.svg import ICONS, text

SEVERITY_STATES = {"error": CRITICAL, "warning": WARNING, "info": svg.UNKNOWN}
SEVERITY_ICONS = {"error": "✖", "warning": "⚠", "info": "ℹ"}
NAMES_SHOWN = 60  # characters of a certificate's names in a table cell, then "+N more"
SITES_SHOWN = 5  # sites a certificate's cell lists before "+N more"
# The timeline spans every certificate's validity, but no further than this either side of --now:
# one root valid for 25 years would otherwise squeeze every other bar to a sliver.
TIMELINE_REACH = timedelta(days=5 * 366)
# Rules about the certificate and its chain: their findings are written on the chain's drawing.
CHAIN_RULE_PREFIXES = ("SSL00", "SSL1", "SSL2", "SSL5")

_SCRIPT = """\
(function () {
  var box = document.getElementById("filters");
  var severity = document.getElementById("filter-severity");
  var rule = document.getElementById("filter-rule");
  var shown = document.getElementById("filter-count");
  var rows = document.querySelectorAll("#findings-table tbody tr");
  function apply() {
    var count = 0;
    rows.forEach(function (row) {
      var keep = (!severity.value || row.dataset.severity === severity.value) &&
                 (!rule.value || row.dataset.rule === rule.value);
      row.hidden = !keep;
      if (keep) { count += 1; }
    });
    shown.textContent = count + " of " + rows.length + " findings shown";
  }
  severity.addEventListener("change", apply);
  rule.addEventListener("change", apply);
  box.hidden = false;
  apply();
})();
"""

_STYLE = """\
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --paper: #fff;
  --ok: #1a7f37; --ok-fill: #dafbe1; --warning: #9a6700; --warning-fill: #fff8c5;
  --critical: #cf222e; --critical-fill: #ffebe9; --unknown: #0969da; --unknown-fill: #ddf4ff; --today: #8250df; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: var(--paper);
  margin: 0 auto; padding: 0 1rem 3rem; max-width: 80rem; }
h1 { font-size: 1.6rem; margin: 1rem 0 .25rem; } h2 { border-bottom: 2px solid var(--line); padding-bottom: .2rem;
  margin-top: 2.2rem; } h3 { margin: 0 0 .3rem; font-size: 1.05rem; overflow-wrap: anywhere; }
code, .path { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em;
  overflow-wrap: anywhere; }
a { color: #0550ae; } .muted { color: var(--muted); } .skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; background: var(--paper); padding: .3rem; }
nav ul { display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; list-style: none; padding: 0; margin: .6rem 0; }
.counts { display: flex; flex-wrap: wrap; gap: .5rem; padding: 0; list-style: none; }
.counts li { border: 1px solid var(--line); border-radius: 6px; padding: .2rem .6rem; }
.state { font-weight: 600; white-space: nowrap; border-radius: 4px; padding: 0 .35rem; border: 1px solid; }
.state.ok { color: var(--ok); background: var(--ok-fill); }
.state.warning { color: var(--warning); background: var(--warning-fill); border-style: dashed; }
.state.critical { color: var(--critical); background: var(--critical-fill); border-width: 2px; }
.state.unknown { color: var(--unknown); background: var(--unknown-fill); border-style: dotted; }
.legend { display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; align-items: center; margin: .5rem 0 1rem; }
.legend .state { white-space: normal; }
.swatch { display: inline-block; width: 2.2rem; height: .9rem; vertical-align: middle; }
.timeline { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .75rem; }
.axis, .bar-row { display: grid; grid-template-columns: minmax(14rem, 22rem) 1fr 7.5rem; gap: .2rem .8rem;
  align-items: center; }
.axis { font-size: .8rem; color: var(--muted); border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
.ticks { position: relative; height: 2.4rem; }
.ticks span { position: absolute; top: 0; transform: translateX(-50%); white-space: nowrap; }
.ticks span::after { content: ""; position: absolute; left: 50%; top: 1.2rem; height: .9rem; border-left: 1px solid var(--line); }
.ticks .now { color: var(--today); font-weight: 600; top: 1.1rem; }
.ticks .now::after { top: -1.1rem; border-left: 2px solid var(--today); }
.bar-row { padding: .35rem 0; border-bottom: 1px dotted var(--line); }
.bar-row:last-child { border-bottom: 0; }
.bar-label { min-width: 0; } .bar-label .sites { font-size: .82rem; color: var(--muted); overflow-wrap: anywhere; }
svg.bar { width: 100%; height: 1.5rem; display: block; }
svg.bar .track { fill: #f6f8fa; } svg.bar .today { stroke: var(--today); stroke-width: 2; stroke-dasharray: 3 2; }
.days { text-align: right; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0; font-size: .9rem; }
th, td { border: 1px solid var(--line); padding: .3rem .45rem; text-align: left; vertical-align: top;
  overflow-wrap: break-word; }
td code, td.path, td a { overflow-wrap: break-word; word-break: break-all; }
td code, td.path { min-width: 9rem; }
#findings-table td:nth-child(-n+2) { white-space: nowrap; } #findings-table td:nth-child(3) { min-width: 12rem; }
th { background: #f6f8fa; } caption { text-align: left; font-weight: 600; padding: .3rem 0; }
.table-wrap { overflow-x: auto; }
.site { border: 1px solid var(--line); border-radius: 6px; padding: .8rem; margin: 1rem 0; break-inside: avoid-page; }
.site-body { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
figure { margin: 0; flex: 0 1 460px; min-width: 0; } figcaption { font-size: .85rem; margin-top: .3rem; }
svg.chain { max-width: 100%; height: auto; display: block; font: 13px system-ui, sans-serif; }
svg.chain .plate { fill: var(--paper); opacity: .92; }
svg.chain .heading { font-weight: 700; font-size: 12px; letter-spacing: .02em; }
svg.chain .heading.ok, svg.chain .note.ok { fill: var(--ok); } svg.chain .heading.warning, svg.chain .note.warning { fill: var(--warning); }
svg.chain .heading.critical, svg.chain .note.critical { fill: var(--critical); }
svg.chain .heading.unknown, svg.chain .note.unknown { fill: var(--unknown); }
svg.chain .label { font-weight: 600; fill: var(--ink); } svg.chain .detail { fill: var(--muted); font-size: 12px; }
svg.chain .edge { stroke: var(--ink); stroke-width: 1.5; } svg.chain .edge-label, svg.chain .section { fill: var(--muted); font-size: 12px; }
svg.chain .note { font-size: 12px; text-decoration: underline; }
.chain-table { flex: 1 1 22rem; min-width: 0; }
.site-findings { margin: .4rem 0 0; padding-left: 1.2rem; font-size: .9rem; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem 1.2rem; align-items: center; margin: .5rem 0; }
details.rule { border: 1px solid var(--line); border-radius: 6px; padding: .4rem .8rem; margin: .6rem 0; }
details.rule summary { font-weight: 600; cursor: pointer; } .rule-text { margin: .3rem 0; max-width: 60rem; }
:target { outline: 3px solid var(--today); outline-offset: 2px; }
@media (max-width: 46rem) {
  .axis, .bar-row { grid-template-columns: 1fr; } .axis > :first-child, .axis > :last-child { display: none; }
  .days { text-align: left; } body { padding: 0 .5rem 2rem; }
}
@media print {
  body { font-size: 10pt; max-width: none; } nav, .skip, .filters { display: none !important; }
  tr[hidden] { display: table-row !important; } a { color: inherit; text-decoration: none; }
  .site, .bar-row, tr, figure, details.rule { break-inside: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _day(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d}"


def _state_words(state: str, words: str) -> str:
    return f'<span class="state {state}">{ICONS[state]} {text(words)}</span>'


def _severity(severity: str) -> str:
    state = SEVERITY_STATES.get(severity, svg.UNKNOWN)
    return f'<span class="state {state}">{SEVERITY_ICONS.get(severity, "?")} {text(severity)}</span>'


def _days_words(row: CertificateRow) -> str:
    if row.validity == "not yet valid":
        return f"not valid before {_day(row.not_before)}"
    if row.whole_days is None:
        return row.status if row.checked else "not checked"
    if row.whole_days < 0:
        return f"expired {-row.whole_days} day{'s' if row.whole_days != -1 else ''} ago"
    return f"{row.whole_days} day{'s' if row.whole_days != 1 else ''} left"


def _site_key(use: SiteUse) -> tuple[str, int]:
    return use.file, use.line


def _site_title(use: SiteUse) -> str:
    return ", ".join(use.names) if use.names else f"(no server name) at {use.where}"


class _Page:
    """The page's parts, with the anchors they link to one another by."""

    def __init__(self, inventory: Inventory, findings: Sequence[Finding], rules: Mapping[str, Rule]) -> None:
        self.inventory, self.findings, self.rules = inventory, findings, rules
        self._headlines: dict[int, str] = {}  # by finding index: a finding is listed under each site it concerns
        self.row_ids = {id(row): f"cert-{number}" for number, row in enumerate(inventory.rows, start=1)}
        sites: dict[tuple[str, int], SiteUse] = {}
        self.rows_of_site: dict[tuple[str, int], list[CertificateRow]] = defaultdict(list)
        for row in inventory.rows:
            for use in row.sites:
                sites.setdefault(_site_key(use), use)
                if row not in self.rows_of_site[_site_key(use)]:
                    self.rows_of_site[_site_key(use)].append(row)
        self.sites = sorted(sites.values(), key=_site_key)
        self.site_ids = {_site_key(use): f"site-{number}" for number, use in enumerate(self.sites, start=1)}
        # Findings by place, to find a site's own in one look-up each (a tree has thousands of both).
        self.at_place: dict[tuple[str, int], list[int]] = defaultdict(list)
        self.in_file: dict[str, list[int]] = defaultdict(list)
        for index, finding in enumerate(findings):
            self.at_place[(finding.file, finding.line)].append(index)
            for place in finding.related:
                self.at_place[(place.file, place.line)].append(index)
            self.in_file[finding.file].append(index)

    def headline(self, index: int) -> str:
        """The finding's headline, as page text (worked out once: a finding may concern many sites)."""
        found = self._headlines.get(index)
        if found is None:
            found = self._headlines[index] = text(self.findings[index].headline_and_detail()[0])
        return found

    def site_findings(self, use: SiteUse) -> list[int]:
        """The findings about a site: at its block or its certificate directive (or naming either
        among their related places), or in its file for one of its names."""
        chosen = set(self.at_place.get((use.file, use.line), ())) | set(
            self.at_place.get((use.directive_file, use.directive_line), ()))
        names = set(use.names)
        chosen.update(index for index in self.in_file.get(use.file, ()) if names & set(self.findings[index].names))
        return sorted(chosen)

    # ------------------------------------------------------------ the page

    def render(self, out: TextIO) -> None:
        script_hash = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
        policy = f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; img-src data:"
        count = len(self.findings)
        out.write(f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                  f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
                  f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                  f'<title>sslint: {len(self.inventory.rows)} certificates, {count} findings</title>\n'
                  f'<style>\n{_STYLE}</style>\n</head>\n<body>\n'
                  '<a class="skip" href="#findings">Skip to the findings</a>\n' + svg.DEFINITIONS + "\n")
        out.write("<header>\n<h1>sslint report</h1>\n" + self._summary() + "</header>\n<main>\n")
        out.write(self._timeline())
        out.write(self._sites())
        out.write(self._findings_table())
        out.write(self._rule_texts())
        out.write(f"</main>\n<script>{_SCRIPT}</script>\n</body>\n</html>\n")  # the very text hashed above

    def _summary(self) -> str:
        inventory = self.inventory
        verdicts = [inventory.verdict(row) for row in inventory.rows]
        by_severity = {severity: sum(1 for finding in self.findings if finding.severity == severity)
                       for severity in SEVERITIES}
        configs = "".join(f"<li><code>{text(config)}</code></li>" for config in inventory.configs)
        counts = [f"<li>{len(inventory.rows)} certificate files: "
                  + ", ".join(_state_words(state, f"{verdicts.count(state)} {state}")
                              for state in (CRITICAL, WARNING, OK)) + "</li>",
                  f"<li>{len(self.findings)} findings: "
                  + ", ".join(f"{_severity(severity)} {by_severity[severity]}" for severity in SEVERITIES) + "</li>",
                  f"<li>{len(self.sites)} TLS sites with a certificate</li>"]
        return (f'<p>Judged at <strong>{inventory.now:%Y-%m-%d %H:%M} UTC</strong> (--now) by sslint '
                f'{text(__version__)}; an expiry within {inventory.expiry_days} days is a warning '
                f'(--warning-days), within {inventory.critical_days} days critical (--critical-days).</p>\n'
                f'<ul class="counts">{"".join(counts)}</ul>\n'
                f'<details><summary>Configurations read ({len(inventory.configs)})</summary><ul>{configs}</ul></details>\n'
                '<nav aria-label="Sections"><ul><li><a href="#expiry">Expiry timeline</a></li>'
                '<li><a href="#certificates">Certificates (table)</a></li><li><a href="#sites">Sites and chains</a></li>'
                '<li><a href="#findings">Findings</a></li><li><a href="#rules">Rules</a></li></ul></nav>\n')

    # ------------------------------------------------------------ expiry

    def _timeline(self) -> str:
        inventory = self.inventory
        dated = [row for row in inventory.rows if row.not_before is not None and row.not_after is not None]
        parts = ['<section id="expiry" aria-labelledby="expiry-heading">\n<h2 id="expiry-heading">Expiry timeline</h2>\n',
                 "<p>Each certificate file as a bar from its notBefore to its notAfter; the dashed line is "
                 f"--now ({inventory.now:%Y-%m-%d}). The table under the timeline says the same in words.</p>\n",
                 '<p class="legend">' + "".join(
                     f'<span><svg class="swatch" viewBox="0 0 36 14" aria-hidden="true"><rect width="36" height="14" '
                     f'fill="{svg.FILLS[state]}" stroke="var(--{state})" stroke-width="1.5"/></svg> '
                     f"{_state_words(state, words)}</span>"
                     for state, words in ((OK, f"ok: more than {inventory.expiry_days} days left"),
                                          (WARNING, f"warning: {inventory.expiry_days} days or fewer"),
                                          (CRITICAL, f"critical: {inventory.critical_days} days or fewer, "
                                                     "expired or not yet valid"))) + "</p>\n"]
        if dated:
            # Every bar's end is on the axis (the expired too, a year before theirs at least); a
            # validity that reaches further than TIMELINE_REACH runs off the edge, its dates in words.
            first_end = min(min(row.not_after for row in dated if row.not_after), inventory.now)
            start = max(min(min(row.not_before for row in dated if row.not_before), inventory.now),
                        min(inventory.now - TIMELINE_REACH, first_end - timedelta(days=365)))
            end = min(max(max(row.not_after for row in dated if row.not_after), inventory.now),
                      inventory.now + TIMELINE_REACH)
            margin = (end - start) * 0.02 or timedelta(days=1)
            start, end = start - margin, end + margin
            span = (end - start).total_seconds()

            def position(moment: datetime) -> float:
                return (moment - start).total_seconds() / span * 1000

            parts.append('<div class="timeline" role="list" aria-label="Certificates by expiry">\n')
            parts.append('<div class="axis" aria-hidden="true"><span>certificate</span><div class="ticks">'
                         + "".join(f'<span style="left:{position(tick) / 10:.2f}%">{tick:%Y-%m}</span>'
                                   for tick in _ticks(start, end))
                         + f'<span class="now" style="left:{position(inventory.now) / 10:.2f}%">'
                         f'now {inventory.now:%Y-%m-%d}</span></div><span>days left</span></div>\n')
            for row in dated:
                parts.append(self._bar_row(row, position))
            parts.append("</div>\n")
        undated = [row for row in inventory.rows if row.not_before is None or row.not_after is None]
        if undated:
            parts.append("<p>Without dates (nothing could be read, or the path is resolved per handshake):</p>\n<ul>"
                         + "".join(f'<li><a href="#{self.row_ids[id(row)]}" class="path">{text(row.path)}</a>: '
                                   f"{_state_words(CRITICAL if row.checked else svg.UNKNOWN, row.status)} "
                                   f"{text(row.detail)}</li>" for row in undated) + "</ul>\n")
        parts.append(self._certificate_table())
        return "".join(parts) + "</section>\n"

    def _bar_row(self, row: CertificateRow, position: Callable[[datetime], float]) -> str:
        assert row.not_before is not None and row.not_after is not None  # undated rows have no bar
        state = self.inventory.expiry_verdict(row)
        days = _days_words(row)
        sites = [site_text(use) for use in row.sites]
        # Beside the bar, what the sites answer to; their file:line is in the tooltip and the table.
        names = list(dict.fromkeys(name for use in row.sites for name in (use.names or (use.where,))))
        shown = names[:4] + ([f"+{len(names) - 4} more"] if len(names) > 4 else [])
        label = (f"{row.path}: valid {_day(row.not_before)} to {_day(row.not_after)}, {days}, {state}; "
                 f"sites: {', '.join(shown) or 'none'}")
        tooltip = (f"{row.subject or row.path}\n{_day(row.not_before)} → {_day(row.not_after)} ({days})\n"
                   + "\n".join(sites[:20]) + (f"\n+{len(sites) - 20} more sites" if len(sites) > 20 else ""))
        drawing = svg.bar(position(row.not_before), position(row.not_after), position(self.inventory.now), state,
                          label, tooltip)
        return (f'<div class="bar-row" role="listitem"><div class="bar-label"><a href="#{self.row_ids[id(row)]}" '
                f'class="path">{text(row.path)}</a><div class="sites">sites: {text(", ".join(shown) or "none")}</div>'
                f'</div>{drawing}'
                f'<div class="days">{_state_words(state, state)}<br>{text(days)}</div></div>\n')

    def _certificate_table(self) -> str:
        rows = []
        for row in self.inventory.rows:
            verdict = self.inventory.verdict(row)
            names = abbreviate(row.names, NAMES_SHOWN) if row.names else (
                f"(no SAN) {row.subject}" if row.subject else f"{row.status}: {row.detail}")
            chain = "-" if row.chain_status is None else (
                "complete" if row.chain_status == COMPLETE else ", ".join(row.problems))
            sites = [site_text(use) for use in row.sites]
            site_links = "<br>".join(f'<a href="#{self.site_ids[_site_key(use)]}">{text(site_text(use))}</a>'
                                     for use in row.sites[:SITES_SHOWN])
            if len(sites) > SITES_SHOWN:
                site_links += f"<br>+{len(sites) - SITES_SHOWN} more sites"
            rows.append(f'<tr id="{self.row_ids[id(row)]}"><td class="path">{text(row.path)}</td>'
                        f"<td>{_state_words(verdict, verdict)}</td><td>{_day(row.not_before)}</td>"
                        f"<td>{_day(row.not_after)}</td><td>{text(_days_words(row))}</td><td>{text(names)}</td>"
                        f"<td>{text(row.issuer_label or '-')}</td><td>{text(chain)}</td><td>{site_links or '-'}</td></tr>\n")
        return ('<div class="table-wrap"><table id="certificates"><caption>Certificates: every certificate file the '
                "configuration names, soonest expiry first</caption>\n<thead><tr><th>File</th><th>Verdict</th>"
                "<th>Not before</th><th>Not after</th><th>Days</th><th>Names</th><th>Issuer</th><th>Chain</th>"
                "<th>Sites</th></tr></thead>\n<tbody>\n" + "".join(rows) + "</tbody></table></div>\n")

    # ------------------------------------------------------------ sites

    def _sites(self) -> str:
        parts = ['<section id="sites" aria-labelledby="sites-heading">\n<h2 id="sites-heading">Sites and their chains</h2>\n'
                 "<p>Each site's chain as the server sends it, drawn from the leaf up to the trust anchor; a dashed "
                 "box is a certificate the server does not send. The findings about the chain are written under "
                 "it, each a link to its row in the findings table.</p>\n"]
        drawn: dict[tuple[str, int], SiteUse] = {}  # (certificate file, chain) -> the site where it is drawn
        for use in self.sites:
            key = _site_key(use)
            site_id = self.site_ids[key]
            own = self.site_findings(use)
            chain_findings = [index for index in own if self.findings[index].rule.startswith(CHAIN_RULE_PREFIXES)]
            parts.append(f'<article class="site" id="{site_id}" aria-labelledby="{site_id}-title">'
                         f'<h3 id="{site_id}-title">{text(_site_title(use))}</h3>'
                         f'<p class="muted">{text(use.server)} site at <code>{text(use.where)}</code>; certificate '
                         f'named at <code>{text(use.directive_file)}:{use.directive_line}</code>'
                         f'{"" if use.tls else " (the site speaks plain HTTP only)"}</p>\n<div class="site-body">\n')
            for row in self.rows_of_site[key]:
                for number, chain in enumerate(row.chains or (None,)):
                    where = drawn.get((row.path, number))
                    if where is not None:
                        parts.append(f'<p>Serves <a href="#{self.row_ids[id(row)]}" class="path">{text(row.path)}</a>, '
                                     f'the same chain as drawn for <a href="#{self.site_ids[_site_key(where)]}">'
                                     f'{text(_site_title(where))}</a>.</p>\n')
                        continue
                    drawn[(row.path, number)] = use
                    parts.append(self._chain_figure(use, row, chain, chain_findings))
            parts.append("</div>\n")
            if own:
                parts.append('<ul class="site-findings" aria-label="Findings about this site">' + "".join(
                    f'<li>{_severity(self.findings[index].severity)} <a href="#finding-{index}">'
                    f"{text(self.findings[index].rule)}</a> <code>{text(self.findings[index].file)}:"
                    f"{self.findings[index].line}</code> {self.headline(index)}</li>"
                    for index in own) + "</ul>\n")
            parts.append("</article>\n")
        if not self.sites:
            parts.append("<p>No TLS site names a certificate.</p>\n")
        return "".join(parts) + "</section>\n"

    def _chain_figure(self, use: SiteUse, row: CertificateRow, chain: ChainState | None, notes: list[int]) -> str:
        findings = [(SEVERITY_STATES.get(self.findings[index].severity, svg.UNKNOWN),
                     f"{self.findings[index].rule} at "
                     f"{svg.clip_left(f'{self.findings[index].file}:{self.findings[index].line}', 52)}",
                     f"#finding-{index}") for index in notes]
        title = f"The chain served for {_site_title(use)} from {row.path}"
        if chain is None:
            box = svg.Box(CRITICAL if row.checked else svg.UNKNOWN, f"no certificate: {row.status}", row.path,
                          row.detail, dashed=True)
            description = f"{row.path}: {row.status}, {row.detail}"
            drawing = svg.chain([box], [], findings, title, description)
            return (f'<figure>{drawing}<figcaption><span class="path">{text(row.path)}</span>: '
                    f"{text(row.status)}, {text(row.detail)}</figcaption></figure>\n")
        path = [link for link in chain.links if link.role != OFF_PATH]
        extras = [link for link in chain.links if link.role == OFF_PATH]
        boxes = [self._box(link, chain, first=index == 0) for index, link in enumerate(path)]
        if chain.unresolved_issuer:
            boxes.append(svg.Box(CRITICAL, "issuer not found", chain.unresolved_issuer,
                                 "not sent and found nowhere: no chain to a trusted root", dashed=True))
        described = [self._link_words(link, chain, first=index == 0) for index, link in enumerate(path)]
        if chain.unresolved_issuer:
            described.append(f"issuer not found: {chain.unresolved_issuer}")
        described += [f"also sent: {self._link_words(link, chain, first=False)}" for link in extras]
        status = "complete" if chain.status == COMPLETE else ", ".join(chain.problems)
        description = f"Chain {status}. " + " Issued by: ".join(f"{words}." for words in described)
        drawing = svg.chain(boxes, [self._box(link, chain, first=False) for link in extras], findings, title,
                            description)
        files = [f'certificate <a href="#{self.row_ids[id(row)]}" class="path">{text(row.path)}</a>']
        if chain.key_file:
            files.append(f'key <span class="path">{text(chain.key_file)}</span>')
        if chain.chain_file:
            files.append(f'chain file <span class="path">{text(chain.chain_file)}</span>')
        verdict = _state_words(OK if chain.status == COMPLETE else CRITICAL, f"chain {status}")
        return (f"<figure>{drawing}<figcaption>{verdict}; {', '.join(files)}; the server sends "
                f"{chain.certificates} certificate{'s' if chain.certificates != 1 else ''}.</figcaption></figure>\n"
                + self._chain_table(path, extras, chain))

    def _problems(self, link: ChainLink, chain: ChainState, first: bool) -> list[str]:
        problems = list(link.problems)
        if first and chain.key_matches is False:
            problems.append("the configured key does not match it")
        return problems

    def _box(self, link: ChainLink, chain: ChainState, first: bool) -> svg.Box:
        problems = self._problems(link, chain, first)
        state = (WARNING if link.role == OFF_PATH else CRITICAL) if problems else OK
        expiry = f"valid until {_day(link.not_after)}" if link.validity == "valid" else (
            f"expired {_day(link.not_after)}" if link.validity == "expired" else f"valid from {_day(link.not_before)}")
        detail = "; ".join(problems + [expiry])
        if link.sent is None and link.role != ANCHOR:  # the heading says NOT SENT: the detail says where it is
            detail = "; ".join([f"found in {link.source}", *(p for p in problems if p != "not sent"), expiry])
        return svg.Box(state, f"{link.role.upper()} · {self._sent_words(link)}", link.label, detail,
                       dashed=link.sent is None and link.role != ANCHOR)

    @staticmethod
    def _sent_words(link: ChainLink) -> str:
        if link.sent is not None:
            return f"sent as certificate {link.sent}"
        return "not sent (the client holds it)" if link.role == ANCHOR else "NOT SENT"

    def _link_words(self, link: ChainLink, chain: ChainState, first: bool) -> str:
        problems = self._problems(link, chain, first)
        return (f"{link.role} {link.label}, {self._sent_words(link)}, valid {_day(link.not_before)} to "
                f"{_day(link.not_after)}" + (f", {', '.join(problems)}" if problems else ""))

    def _chain_table(self, path: list[ChainLink], extras: list[ChainLink], chain: ChainState) -> str:
        rows = []
        for index, link in enumerate([*path, *extras]):
            problems = self._problems(link, chain, first=index == 0)
            state = (WARNING if link.role == OFF_PATH else CRITICAL) if problems else OK
            sent = self._sent_words(link) if link.sent is not None or link.role == ANCHOR else (
                f"not sent; found in {link.source}")
            rows.append(f"<tr><td>{text(link.role)}</td><td>{text(link.label)}</td>"
                        f"<td>{text(sent)}</td>"
                        f"<td>{_day(link.not_after)}</td>"
                        f"<td>{_state_words(state, '; '.join(problems) or 'ok')}</td></tr>")
        if chain.unresolved_issuer:
            rows.append(f"<tr><td>issuer</td><td>{text(chain.unresolved_issuer)}</td><td>not sent, found nowhere</td>"
                        f"<td>-</td><td>{_state_words(CRITICAL, 'issuer not found')}</td></tr>")
        return ('<div class="chain-table table-wrap"><table><caption>The chain in words, leaf first</caption>'
                "<thead><tr><th>Role</th><th>Certificate</th><th>Sent</th><th>Not after</th><th>State</th></tr></thead>"
                "<tbody>" + "".join(rows) + "</tbody></table></div>\n")

    # ------------------------------------------------------------ findings and rules

    def _findings_table(self) -> str:
        rule_ids = sorted({finding.rule for finding in self.findings})
        severities = "".join(f'<option value="{severity}">{severity}</option>' for severity in SEVERITIES)
        rule_options = "".join(
            f'<option value="{text(rule_id)}">{text(rule_id)} {text(self.rules[rule_id].name if rule_id in self.rules else "")}'
            f"</option>" for rule_id in rule_ids)
        rows = []
        for index, finding in enumerate(self.findings):
            related = "".join(f"<br>also <code>{text(place.file)}:{place.line}</code>" for place in finding.related[:10])
            if len(finding.related) > 10:
                related += f"<br>+{len(finding.related) - 10} more places"
            rule_link = (f'<a href="#rule-{text(finding.rule)}">{text(finding.rule)}</a>' if finding.rule in self.rules
                         else text(finding.rule))
            rows.append(f'<tr id="finding-{index}" data-severity="{text(finding.severity)}" data-rule="{text(finding.rule)}">'
                        f"<td>{_severity(finding.severity)}</td><td>{rule_link}<br>{text(finding.name)}</td>"
                        f"<td><code>{text(finding.file)}:{finding.line}</code>{related}</td>"
                        f"<td>{text(abbreviate(finding.names, NAMES_SHOWN) if finding.names else '-')}</td>"
                        f"<td>{text(finding.message)}</td></tr>\n")
        body = "".join(rows) or '<tr><td colspan="5">No findings.</td></tr>\n'
        return ('<section id="findings" aria-labelledby="findings-heading">\n<h2 id="findings-heading">Findings</h2>\n'
                '<form id="filters" class="filters" hidden aria-label="Filter the findings">'
                f'<label>Severity <select id="filter-severity"><option value="">all</option>{severities}</select></label>'
                f'<label>Rule <select id="filter-rule"><option value="">all</option>{rule_options}</select></label>'
                '<output id="filter-count" aria-live="polite"></output></form>\n'
                '<div class="table-wrap"><table id="findings-table"><caption>Every finding, as the JSON report lists '
                "them</caption>\n<thead><tr><th>Severity</th><th>Rule</th><th>Where</th><th>Names</th><th>Message</th>"
                "</tr></thead>\n<tbody>\n" + body + "</tbody></table></div>\n</section>\n")

    def _rule_texts(self) -> str:
        cited = sorted({finding.rule for finding in self.findings if finding.rule in self.rules})
        parts = ['<section id="rules" aria-labelledby="rules-heading">\n<h2 id="rules-heading">Rules</h2>\n'
                 "<p>What each rule of the findings finds, why browsers or servers care, and how to fix it "
                 "(<code>sslint explain ID</code> prints the same).</p>\n"]
        for rule_id in cited:
            rule = self.rules[rule_id]
            parts.append(f'<details class="rule" id="rule-{text(rule.id)}" open><summary>{text(rule.id)} '
                         f"{text(rule.name)} ({_severity(rule.severity)} by default; {text(', '.join(rule.servers))})"
                         f'</summary><p class="rule-text">{_paragraph(rule.summary)}</p>'
                         + (f'<h4>Why it matters</h4><p class="rule-text">{_paragraph(rule.why)}</p>' if rule.why else "")
                         + (f'<h4>How to fix</h4><p class="rule-text">{_paragraph(rule.fix)}</p>' if rule.fix else "")
                         + "</details>\n")
        if not cited:
            parts.append("<p>No finding, no rule to explain.</p>\n")
        return "".join(parts) + "</section>\n"


def _paragraph(value: str) -> str:
    """A rule's text as HTML: the YAML's wrapped lines joined, a blank line a new paragraph, a line
    that starts a list item on a line of its own (the catalogue is the project's own, but escaped
    all the same)."""
    paragraphs = []
    for block in value.split("\n\n"):
        lines: list[str] = []
        for line in block.splitlines():
            stripped = line.strip()
            if lines and not stripped.startswith(("- ", "* ")):
                lines[-1] += " " + stripped
            elif stripped:
                lines.append(stripped)
        paragraphs.append("<br>".join(text(line) for line in lines))
    return '</p><p class="rule-text">'.join(paragraphs)


def _ticks(start: datetime, end: datetime) -> Iterable[datetime]:
    """Month starts for the axis: every quarter over two years or less, every year up to twelve,
    every five beyond."""
    years = (end - start).days / 365.25
    months = 3 if years <= 2 else 12 if years <= 12 else 60
    moment = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while (moment.year * 12 + moment.month - 1) % months:
        moment = _next_month(moment)
    while moment <= end:
        if moment >= start:
            yield moment
        for _ in range(months):
            moment = _next_month(moment)


def _next_month(moment: datetime) -> datetime:
    return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)


def render(inventory: Inventory, findings: Sequence[Finding], rules: Mapping[str, Rule], out: TextIO) -> None:
    """The page: `inventory` for the timeline and the chains, `findings` (as the JSON report lists
    them) for the table and the drawings' notes, `rules` (the catalogue) for the rule texts."""
    _Page(inventory, findings, rules).render(out)
