"""The supervisor dashboard's page (`GET /api/dashboard`): one self-contained HTML page, server-rendered SVG.

The query is parsed by `query`, the data gathered within the request's deadline by `load`, the numbers worked
out by `aggregate`; this module draws the page. It loads nothing from elsewhere (no scripts, fonts or styles
from a CDN) and works offline; its Content-Security-Policy says so.
"""

from __future__ import annotations

import html
import math
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from ..localtime import UTC, utc
from .aggregate import (
    DAYS,
    TIMELINE_WINDOW,
    Bucket,
    HourOfWeek,
    Shares,
    bands,
    heatmap,
    shares,
    timeline,
    understaffed,
)
from .directory import OrgDirectory
from .load import Dashboard, WorkstreamView, load_dashboard
from .query import parse_dashboard_query

REFRESH_SECONDS = 300  # the page reloads itself at the snapshot timer's pace


def dashboard_page(params: Mapping[str, str], *, now: datetime, store: Any, service: Any, configured: Any,
                   directory: OrgDirectory, deadline: float | None = None) -> tuple[str, str]:
    """The page for a request's query parameters; a part given as its error is shown as missing. (html, nonce)"""
    query = parse_dashboard_query(params)
    dashboard = load_dashboard(query, now=now, store=store, service=service, directory=directory,
                               configured=configured, deadline=deadline)
    nonce = secrets.token_urlsafe(16)
    return render_dashboard(dashboard, nonce=nonce), nonce


# =========================================================================================== rendering

_e = html.escape


def _zone_label(zone: ZoneInfo | timezone, moment: datetime) -> str:
    if zone is UTC:
        return "UTC"
    abbreviation = moment.astimezone(zone).tzname() or ""
    return abbreviation if abbreviation.isalpha() else f"UTC{abbreviation}"


def _clock(moment: datetime, zone: ZoneInfo | timezone) -> str:
    return f"{utc(moment).astimezone(zone):%H:%M}"


def _when(moment: datetime, now: datetime, zone: ZoneInfo | timezone) -> str:
    local, today = utc(moment).astimezone(zone), utc(now).astimezone(zone).date()
    if local.date() == today:
        return f"{local:%H:%M}"
    if local.date() == today + timedelta(days=1):
        return f"tomorrow {local:%H:%M}"
    if abs((local.date() - today).days) < 7:
        return f"{DAYS[local.weekday()]} {local:%H:%M}"
    return f"{DAYS[local.weekday()]} {local.day} {local:%b %H:%M}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes % 60 else f"{minutes // 60} h"


def _age(seconds: float) -> str:
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{round(seconds)} s ago"
    if seconds < 3600:
        return f"{round(seconds / 60)} min ago"
    if seconds < 2 * 86400:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} days ago"


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{round(100 * share)}%"


_WORDS = {"available": "Available", "busy": "Busy", "closed": "Closed", "error": "No answer", None: "No data"}
_MEANING = {
    "available": "open, a representative is free: customers can be escalated",
    "busy": "open, but no representative is free",
    "closed": "outside operating hours",
    "error": "the org gave no answer for this snapshot",
    None: "no snapshot",
}
_ICON = {"available": "i-ok", "busy": "i-busy", "closed": "i-closed", "error": "i-error", None: "i-none"}
_SOURCE = {"live": "Live", "cache": "Cached", "stale": "Stale", "snapshot": "Latest snapshot", "none": "Unknown"}


def _icon(status: str | None) -> str:
    # Decorative: the status word always stands beside it.
    name = _ICON.get(status, "i-none")
    return f'<svg class="icon {name}" viewBox="0 0 16 16" aria-hidden="true"><use href="#{name}"/></svg>'


_SPRITES = """<svg class="defs" aria-hidden="true" focusable="false" width="0" height="0">
<defs>
<pattern id="p-busy" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
<rect width="8" height="8" fill="#fde7b0"/><rect width="3.2" height="8" fill="#e0a021"/></pattern>
<pattern id="p-closed" width="6" height="6" patternUnits="userSpaceOnUse">
<rect width="6" height="6" fill="#e6e8ec"/><circle cx="3" cy="3" r="1.1" fill="#9aa1ad"/></pattern>
<pattern id="p-error" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)">
<rect width="8" height="8" fill="#fbe3e4"/><rect width="1.6" height="8" fill="#c0343b"/></pattern>
<pattern id="p-none" width="8" height="8" patternUnits="userSpaceOnUse">
<rect width="8" height="8" fill="#ffffff"/><path d="M0 8L8 0" stroke="#d5d9e0" stroke-width="1"/></pattern>
<symbol id="i-ok" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7.5" fill="#1b7a3e"/>
<path d="M4.3 8.3l2.4 2.4 5-5.2" fill="none" stroke="#fff" stroke-width="2" stroke-linecap="round"
 stroke-linejoin="round"/></symbol>
<symbol id="i-busy" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7.5" fill="#c98a0c"/>
<path d="M8 3.8V8l2.8 1.8" fill="none" stroke="#fff" stroke-width="1.8" stroke-linecap="round"/></symbol>
<symbol id="i-closed" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7.5" fill="#5f6673"/>
<rect x="3.8" y="7" width="8.4" height="2" rx="1" fill="#fff"/></symbol>
<symbol id="i-error" viewBox="0 0 16 16"><path d="M8 .8l7.4 13.4H.6z" fill="#b3261e"/>
<rect x="7.1" y="5.2" width="1.8" height="5" rx=".9" fill="#fff"/><circle cx="8" cy="12.2" r="1" fill="#fff"/></symbol>
<symbol id="i-none" viewBox="0 0 16 16"><circle cx="8" cy="8" r="6.8" fill="#fff" stroke="#8a919c"
 stroke-width="1.4" stroke-dasharray="2.5 2"/></symbol>
</defs></svg>"""

_FILL = {"available": "#1f8a4c", "busy": "url(#p-busy)", "closed": "url(#p-closed)", "error": "url(#p-error)",
         None: "url(#p-none)"}

_CSS = """
:root{--ink:#1d232c;--muted:#5b6472;--line:#dde1e7;--card:#fff;--bg:#f4f6f9;--ok:#1b7a3e;--busy:#9a6700;
--closed:#4d5562;--err:#b3261e;--accent:#2458b8}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif;
color:var(--ink);background:var(--bg)}
header.page{background:#14202e;color:#fff;padding:18px clamp(12px,3vw,32px) 14px}
header.page h1{margin:0 0 2px;font-size:1.45rem;font-weight:650;letter-spacing:.01em}
header.page p{margin:0;color:#c7d0dc;font-size:.92rem}
form.filters{display:flex;flex-wrap:wrap;gap:10px 14px;align-items:flex-end;margin-top:12px}
form.filters label{display:flex;flex-direction:column;font-size:.78rem;color:#c7d0dc;gap:3px}
form.filters select,form.filters input{font:inherit;font-size:.92rem;padding:5px 8px;border-radius:6px;
border:1px solid #4a5a6e;background:#fff;color:var(--ink);min-width:9rem}
form.filters button{font:inherit;font-size:.92rem;padding:6px 14px;border-radius:6px;border:0;
background:#5b8def;color:#fff;font-weight:600;cursor:pointer}
main{padding:16px clamp(10px,3vw,32px) 32px;max-width:1280px;margin:0 auto}
.notice{background:#fff4e5;border:1px solid #f0c27a;border-radius:8px;padding:10px 14px;margin:0 0 14px}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;align-items:center;font-size:.85rem;color:var(--muted);
margin:0 0 14px;padding:0;list-style:none}
.legend li{display:flex;align-items:center;gap:6px}
.swatch{width:26px;height:14px;border-radius:3px;border:1px solid #c3c8d0;display:inline-block}
.icon{width:1.05em;height:1.05em;vertical-align:-.16em;flex:none}
h2.section{font-size:.8rem;text-transform:uppercase;letter-spacing:.08em;color:var(--muted);margin:18px 0 8px}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(245px,1fr));gap:12px}
.tile{background:var(--card);border:1px solid var(--line);border-left:6px solid #8a919c;border-radius:10px;
padding:12px 14px;color:inherit;text-decoration:none;display:block}
.tile.available{border-left-color:#1f8a4c}.tile.busy{border-left-color:#e0a021}.tile.closed{border-left-color:#7d8592}
.tile.unknown{border-left-color:#b3261e}
.tile:hover,.tile:focus{box-shadow:0 2px 10px rgba(20,32,46,.12);outline:none}
.tile .name{font-weight:650;font-size:1.02rem;overflow-wrap:anywhere}
.status{display:flex;align-items:center;gap:7px;font-size:1.25rem;font-weight:700;margin:4px 0 2px}
.status.available{color:var(--ok)}.status.busy{color:var(--busy)}.status.closed{color:var(--closed)}
.status.unknown{color:var(--err)}
.queue{color:var(--muted);font-size:.88rem;overflow-wrap:anywhere}
dl.facts{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:8px 0 6px;font-size:.9rem}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;font-weight:600;font-variant-numeric:tabular-nums}
.fresh{font-size:.8rem;color:var(--muted)}
.fresh.warn{color:var(--err)}
section.workstream{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:14px 16px 16px;
margin:16px 0}
section.workstream>header{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 12px;
border-bottom:1px solid var(--line);padding-bottom:8px;margin-bottom:8px}
section.workstream h2{margin:0;font-size:1.2rem}
.id{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--muted)}
h3{font-size:1rem;margin:14px 0 4px}
.summary{margin:2px 0 6px;color:#2d3440;font-size:.92rem}
.chart{width:100%;overflow-x:auto}
.chart svg{display:block;width:100%;height:auto;min-width:720px}
.chart.line{direction:rtl}.chart.line svg{direction:ltr}
.swipe{display:none;font-size:.78rem;color:var(--muted);margin:0 0 2px}
@media (max-width:760px){.swipe{display:block}}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif}
.empty{border:1px dashed #b9c0ca;border-radius:8px;padding:14px;color:var(--muted);background:#fafbfc}
details{margin:6px 0 0;font-size:.88rem}
summary{cursor:pointer;color:var(--accent)}
table.data{border-collapse:collapse;font-size:.78rem;margin-top:6px;font-variant-numeric:tabular-nums}
table.data th,table.data td{border:1px solid var(--line);padding:2px 4px;text-align:right}
table.data th{background:#f1f3f6;font-weight:600}
.tablewrap{overflow-x:auto}
ol.changes{margin:6px 0;padding-left:1.4em;columns:2 18rem}
footer{color:var(--muted);font-size:.82rem;padding:0 clamp(10px,3vw,32px) 24px;max-width:1280px;margin:0 auto}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
svg.defs{position:absolute;width:0;height:0;overflow:hidden}
@media (max-width:600px){body{font-size:14px}header.page h1{font-size:1.2rem}
form.filters label{flex:1 1 40%}form.filters select,form.filters input{min-width:0;width:100%}
section.workstream{padding:12px 10px}}
@media (prefers-reduced-motion:no-preference){.tile{transition:box-shadow .15s}}
"""

# Keeps the function key (when it came in the URL) on the filter form; nothing else runs.
_SCRIPT = """(function(){var code=new URLSearchParams(location.search).get('code');if(!code)return;
var f=document.getElementById('filters');if(f){var i=document.createElement('input');i.type='hidden';
i.name='code';i.value=code;f.appendChild(i);}
})();"""


def _lane_ticks(start: datetime, end: datetime, zone: ZoneInfo | timezone, every_hours: int) -> list[datetime]:
    """Instants in [start, end] where the local clock shows a whole hour divisible by `every_hours`."""
    ticks = []
    moment = datetime.fromtimestamp(math.ceil(start.timestamp() / 900) * 900, UTC)  # 15-minute steps: any offset
    while moment <= end:
        local = moment.astimezone(zone)
        if local.minute == 0 and local.hour % every_hours == 0:
            ticks.append(moment)
        moment += timedelta(minutes=15)
    return ticks


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _timeline_svg(view: WorkstreamView, buckets: list[Bucket], start: datetime, end: datetime,
                  zone: ZoneInfo | timezone, uid: str, description: str) -> str:
    width, left, right = 960, 92, 14
    plot = width - left - right
    band_top, band_height = 8, 26
    reps_top, reps_height = 52, 58
    wait_top, wait_height = 128, 58
    axis_y = wait_top + wait_height + 6
    height = axis_y + 30
    span = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        return left + plot * max(0.0, min(1.0, (moment - start).total_seconds() / span))

    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="{uid}-t {uid}-d" '
             f'class="timeline" preserveAspectRatio="xMidYMid meet">',
             f'<title id="{uid}-t">{_e(view.name or view.id)}: the last 24 hours</title>',
             f'<desc id="{uid}-d">{_e(description)}</desc>']
    # lane labels
    for label, top, lane_height in (("Status", band_top, band_height), ("Free reps", reps_top, reps_height),
                                    ("Avg wait", wait_top, wait_height)):
        parts.append(f'<text x="{left - 10}" y="{top + lane_height / 2 + 4:.1f}" text-anchor="end" font-size="12.5" '
                     f'fill="#3b4350" font-weight="600">{label}</text>')
    # gridlines and ticks (local time)
    for tick in _lane_ticks(start, end, zone, 3):
        tx = x(tick)
        local = tick.astimezone(zone)
        midnight = local.hour == 0
        stroke, dash, weight = ("#8a93a0", ' stroke-dasharray="4 3"', ' font-weight="700"') if midnight else (
            "#e3e6eb", "", "")
        parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{band_top}" y2="{axis_y}" stroke="{stroke}" '
                     f'stroke-width="1"{dash}/>')
        label = f"{DAYS[local.weekday()]} {local.day}" if midnight else f"{local:%H:%M}"
        parts.append(f'<text x="{tx:.1f}" y="{axis_y + 16}" text-anchor="middle" font-size="12" fill="#4b5361"'
                     f'{weight}>{_e(label)}</text>')
    # status bands
    for band in bands(buckets):
        x0, x1 = x(band.start), x(band.end)
        if x1 - x0 < 0.1:
            continue
        title = (f"{_clock(band.start, zone)}–{_clock(band.end, zone)} {_WORDS[band.status]}: "
                 f"{_MEANING[band.status]}")
        parts.append(f'<rect x="{x0:.2f}" y="{band_top}" width="{x1 - x0:.2f}" height="{band_height}" '
                     f'fill="{_FILL[band.status]}" class="band {band.status or "none"}"><title>{_e(title)}</title></rect>')
        if x1 - x0 >= 64:
            colour = "#ffffff" if band.status == "available" else "#1d232c"
            parts.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{band_top + band_height / 2 + 4.5:.1f}" '
                         f'text-anchor="middle" font-size="12.5" font-weight="700" fill="{colour}" '
                         f'pointer-events="none">{_e(_WORDS[band.status])}</text>')
    parts.append(f'<rect x="{left}" y="{band_top}" width="{plot}" height="{band_height}" fill="none" '
                 f'stroke="#aab1bb" stroke-width="1"/>')

    def series(values: list[tuple[Bucket, float | None]], top: int, lane_height: int, colour: str, area: bool,
               maximum: float, label: Callable[[float], str]) -> None:
        base = top + lane_height
        parts.append(f'<line x1="{left}" x2="{left + plot}" y1="{base}" y2="{base}" stroke="#aab1bb"/>')
        parts.append(f'<line x1="{left}" x2="{left + plot}" y1="{top}" y2="{top}" stroke="#eef0f3"/>')
        segment: list[tuple[float, float, float]] = []
        segments = []
        for item, value in values:
            if value is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            y = base - lane_height * min(1.0, value / maximum)
            segment.append((x(item.start), x(item.end), y))
        if segment:
            segments.append(segment)
        for run in segments:
            path = f"M{run[0][0]:.1f},{run[0][2]:.1f}"
            for x0, x1, y in run:
                path += f"H{x0:.1f}V{y:.1f}H{x1:.1f}"
            if area:
                parts.append(f'<path d="{path}V{base}H{run[0][0]:.1f}Z" fill="{colour}" fill-opacity=".18" '
                             f'stroke="none"/>')
            parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2" '
                         f'stroke-linejoin="round"/>')
        # The scale, over the lines, with a white halo so a line running through it does not hide it.
        halo = 'stroke="#fff" stroke-width="3" paint-order="stroke" font-size="10.5" fill="#5b6472"'
        parts.append(f'<text x="{left + 4}" y="{top + 11}" {halo}>{_e(label(maximum))}</text>')
        parts.append(f'<text x="{left + 4}" y="{base - 4}" {halo}>0</text>')

    reps = [(item, item.representatives) for item in buckets]
    reps_max = _nice_max(max((v for _, v in reps if v is not None), default=0) or 1)
    series(reps, reps_top, reps_height, "#2458b8", True, reps_max, lambda v: f"{_fmt(v)} free")
    waits = [(item, item.wait_seconds) for item in buckets]
    wait_max = max((v for _, v in waits if v is not None), default=0)
    wait_max = 60 * _nice_max(wait_max / 60) if wait_max >= 60 else _nice_max(wait_max or 60)
    series(waits, wait_top, wait_height, "#7b3fa0", False, wait_max, lambda v: _duration(v))
    parts.append(f'<text x="{left - 10}" y="{wait_top + wait_height / 2 + 18:.1f}" text-anchor="end" '
                 f'font-size="10.5" fill="#6b7380">while open</text>')
    parts.append(f'<line x1="{left + plot}" x2="{left + plot}" y1="{band_top - 4}" y2="{axis_y}" stroke="#14202e" '
                 f'stroke-width="1.5"/><text x="{left + plot}" y="{axis_y + 16}" text-anchor="end" font-size="12" '
                 f'font-weight="700" fill="#14202e">now</text>')
    parts.append("</svg>")
    return "".join(parts)


def _heat_fill(cell: HourOfWeek) -> tuple[str, str | None, str]:
    """(base fill, green overlay opacity or None, text colour) of a heatmap cell."""
    if not cell.samples:
        return "url(#p-none)", None, "#8a919c"
    if (cell.open_share or 0) < 0.5:
        return "url(#p-closed)", None, "#4d5562"
    share = cell.share or 0
    return "url(#p-busy)", share, "#ffffff" if share >= 0.55 else "#1d232c"


def _heatmap_svg(view: WorkstreamView, cells: list[HourOfWeek], uid: str, description: str, days: int) -> str:
    left, top, cell_w, cell_h, gap = 46, 24, 36, 26, 2
    width = left + 24 * cell_w + 8
    height = top + 7 * cell_h + 8
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="{uid}-ht {uid}-hd" class="heatmap">',
             f'<title id="{uid}-ht">{_e(view.name or view.id)}: share of snapshots in which a customer could be '
             f'escalated, by hour of the week, last {days} day{"s" if days != 1 else ""}</title>',
             f'<desc id="{uid}-hd">{_e(description)}</desc>']
    for hour in range(24):
        parts.append(f'<text x="{left + hour * cell_w + (cell_w - gap) / 2:.1f}" y="{top - 8}" font-size="11" '
                     f'text-anchor="middle" fill="#4b5361">{hour:02d}</text>')
    for weekday in range(7):
        y = top + weekday * cell_h
        parts.append(f'<text x="{left - 8}" y="{y + cell_h / 2 + 4:.1f}" text-anchor="end" font-size="12" '
                     f'font-weight="600" fill="#3b4350">{DAYS[weekday]}</text>')
        for hour in range(24):
            cell = cells[weekday * 24 + hour]
            x = left + hour * cell_w
            base, overlay, ink = _heat_fill(cell)
            if not cell.samples:
                title = f"{DAYS[weekday]} {hour:02d}:00–{(hour + 1) % 24:02d}:00: no snapshots"
            else:
                title = (f"{DAYS[weekday]} {hour:02d}:00–{(hour + 1) % 24:02d}:00: escalation possible in "
                         f"{_percent(cell.share)} of {cell.samples} snapshots (available {cell.available}, "
                         f"busy {cell.busy}, closed {cell.closed})")
            parts.append(f'<g class="cell"><title>{_e(title)}</title>'
                         f'<rect x="{x}" y="{y}" width="{cell_w - gap}" height="{cell_h - gap}" rx="3" fill="{base}"/>')
            if overlay is not None and overlay > 0:
                parts.append(f'<rect x="{x}" y="{y}" width="{cell_w - gap}" height="{cell_h - gap}" rx="3" '
                             f'fill="#1f8a4c" fill-opacity="{0.25 + 0.75 * overlay:.2f}"/>')
            if overlay is not None:
                # Full hours are the norm: their number is quieter, so the hours short of staff stand out.
                quiet = ' fill-opacity=".72" font-weight="500"' if overlay >= 1 else ' font-weight="700"'
                parts.append(f'<text x="{x + (cell_w - gap) / 2:.1f}" y="{y + cell_h / 2 + 3:.1f}" '
                             f'text-anchor="middle" font-size="11" fill="{ink}"{quiet}>{round(100 * overlay)}</text>')
            parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _now_tile(view: WorkstreamView, queues: Mapping[str, str], dashboard: Dashboard, link: bool) -> str:
    zone, now = dashboard.query.zone, dashboard.generated_at
    state = view.now
    name = view.name or view.id
    queue = queues.get(state.queue_id or "", "") or state.queue_id
    facts = []
    if state.status is not None:
        facts.append(("Representatives free", "–" if state.representatives is None else str(state.representatives)))
        facts.append(("Average wait", _duration(state.wait_seconds)))
        facts.append(("Position in queue", "–" if state.position is None else str(state.position)))
        if state.open_around_the_clock:
            facts.append(("Hours", "open 24/7"))
        elif state.next_closing is not None and state.status != "closed":
            facts.append(("Closes", _when(state.next_closing, now, zone)))
        if state.next_opening is not None:
            facts.append(("Opens", _when(state.next_opening, now, zone)))
    facts_html = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    if state.retrieved_at is not None:
        age = max(0.0, (now - state.retrieved_at).total_seconds())
        fresh = f"{_SOURCE[state.source]} · {_age(age)} ({_clock(state.retrieved_at, zone)})"
    else:
        fresh = _SOURCE[state.source]
    warn = state.problem is not None
    if warn:
        fresh += f" — live check failed: {state.problem}"
    tag, href = ("a", f' href="#w-{_e(view.id)}"') if link else ("div", "")
    return (f'<{tag} class="tile {state.status or "unknown"}"{href} data-workstream="{_e(view.id)}">'
            f'<div class="name">{_e(name)}</div>'
            f'<div class="status {state.status or "unknown"}">{_icon(state.status)}<span>{_e(_WORDS[state.status])}</span></div>'
            f'<div class="queue">{"Queue " + _e(queue) if queue else "Queue unknown"}</div>'
            f'<dl class="facts">{facts_html}</dl>'
            f'<div class="fresh{" warn" if warn else ""}">{_e(fresh)}</div></{tag}>')


def _timeline_text(buckets: list[Bucket]) -> str:
    with_data = [b for b in buckets if b.status is not None]
    if not with_data:
        return "No snapshots in the last 24 hours."
    total = sum((b.end - b.start).total_seconds() for b in with_data)
    parts = []
    for status in ("available", "busy", "closed", "error"):
        seconds = sum((b.end - b.start).total_seconds() for b in with_data if b.status == status)
        if seconds:
            parts.append(f"{_WORDS[status].lower()} {round(100 * seconds / total)}%")
    text = "Last 24 hours: " + ", ".join(parts) + " of the time"
    reps = [b.representatives for b in with_data if b.representatives is not None]
    if reps:
        text += f"; {_fmt(min(reps))}–{_fmt(max(reps))} representatives free"
    waits = [b for b in with_data if b.wait_seconds is not None]
    if waits:
        worst = max(waits, key=lambda b: b.wait_seconds or 0)
        text += f"; longest average wait {_duration(worst.wait_seconds)}"
    return text + "."


def _heatmap_text(cells: list[HourOfWeek], counts: Shares, days: int) -> str:
    if not counts.samples:
        return f"No snapshots in the last {days} day{'s' if days != 1 else ''}."
    text = (f"Over the last {days} day{'s' if days != 1 else ''}, a customer could be escalated in "
            f"{_percent(counts.of('available'))} of {counts.samples:,} snapshots "
            f"(busy {_percent(counts.of('busy'))}, closed {_percent(counts.of('closed'))}).")
    worst = understaffed(cells)
    if worst:
        text += " Open but rarely staffed: " + "; ".join(f"{w.label()} ({_percent(w.share)})" for w in worst) + "."
    else:
        text += " No open hour was short of representatives most of the time."
    if counts.failed:
        text += f" {counts.failed} snapshot{'s' if counts.failed != 1 else ''} got no answer from the org."
    return text


def _heatmap_table(cells: list[HourOfWeek], uid: str) -> str:
    head = "".join(f'<th scope="col">{hour:02d}</th>' for hour in range(24))
    rows = []
    for weekday in range(7):
        values = []
        for hour in range(24):
            cell = cells[weekday * 24 + hour]
            if not cell.samples:
                values.append("<td>–</td>")
            elif (cell.open_share or 0) < 0.5:
                values.append("<td>closed</td>")
            else:
                values.append(f"<td>{_percent(cell.share)}</td>")
        rows.append(f'<tr><th scope="row">{DAYS[weekday]}</th>{"".join(values)}</tr>')
    return (f'<details><summary>Heatmap as a table</summary><div class="tablewrap"><table class="data" '
            f'id="{uid}-table"><caption class="visually-hidden">Escalation possible, share of snapshots by '
            f'weekday and hour</caption><thead><tr><th scope="col">Day</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div></details>')


def _changes_list(buckets: list[Bucket], zone: ZoneInfo | timezone) -> str:
    items = [f"<li>{_clock(b.start, zone)}–{_clock(b.end, zone)}: {_e(_WORDS[b.status])}</li>" for b in bands(buckets)]
    return (f'<details><summary>Status changes in the last 24 hours</summary><ol class="changes">{"".join(items)}'
            f"</ol></details>")


def _workstream_section(view: WorkstreamView, index: int, dashboard: Dashboard) -> str:
    query, now = dashboard.query, dashboard.generated_at
    zone = query.zone
    uid = f"w{index}"
    name = view.name or view.id
    start = now - TIMELINE_WINDOW
    recent = [row for row in view.history if row.captured_at >= start]
    out = [f'<section class="workstream" id="w-{_e(view.id)}" aria-labelledby="{uid}-h">'
           f'<header><h2 id="{uid}-h">{_e(name)}</h2><span class="id">{_e(view.id)}</span></header>']
    if view.history_problem:
        out.append(f'<p class="notice">History could not be read: {_e(view.history_problem)}</p>')
    out.append('<h3>Last 24 hours</h3>')
    if not recent:
        out.append('<p class="empty">No snapshots in the last 24 hours yet. The snapshot timer records one per '
                   'schedule slot (every 5 minutes by default), so this fills in as it runs.</p>')
    else:
        buckets = timeline(view.history, start, now)  # older rows too: the first slice may carry one over
        text = _timeline_text(buckets)
        out.append(f'<p class="summary">{_e(text)}</p>')
        # On a phone the chart scrolls sideways, starting at "now" (the scroll box runs right to left).
        out.append('<p class="swipe" aria-hidden="true">Swipe sideways for earlier hours.</p>')
        out.append(f'<div class="chart line">{_timeline_svg(view, buckets, start, now, zone, uid, text)}</div>')
        out.append(_changes_list(buckets, zone))
    days = query.days
    out.append(f'<h3>When could customers be escalated? Last {days} day{"s" if days != 1 else ""}, '
               f'by hour of the week ({_e(query.tz)})</h3>')
    if not view.history:
        out.append(f'<p class="empty">No snapshots in the last {days} day{"s" if days != 1 else ""} yet: the '
                   f'heatmap appears once the snapshot timer has recorded some.</p>')
    else:
        cells = heatmap(view.history, zone)
        counts = shares(view.history)
        text = _heatmap_text(cells, counts, days)
        out.append(f'<p class="summary">{_e(text)}</p>')
        out.append(f'<div class="chart heat">{_heatmap_svg(view, cells, uid, text, days)}</div>')
        out.append(_heatmap_table(cells, uid))
    out.append("</section>")
    return "".join(out)


def _legend() -> str:
    items = [
        (f'<svg class="swatch" viewBox="0 0 26 14" aria-hidden="true"><rect width="26" height="14" '
         f'fill="{_FILL["available"]}"/></svg>', "Available: open, a representative is free"),
        ('<svg class="swatch" viewBox="0 0 26 14" aria-hidden="true"><rect width="26" height="14" '
         'fill="url(#p-busy)"/></svg>', "Busy: open, nobody free (striped)"),
        ('<svg class="swatch" viewBox="0 0 26 14" aria-hidden="true"><rect width="26" height="14" '
         'fill="url(#p-closed)"/></svg>', "Closed: outside operating hours (dotted)"),
        ('<svg class="swatch" viewBox="0 0 26 14" aria-hidden="true"><rect width="26" height="14" '
         'fill="url(#p-error)"/></svg>', "No answer from the org"),
        ('<svg class="swatch" viewBox="0 0 26 14" aria-hidden="true"><rect width="26" height="14" '
         'fill="url(#p-none)"/></svg>', "No snapshot"),
    ]
    heat = ("Heatmap numbers: % of snapshots in that hour in which a customer could be escalated "
            "(greener = more often); dotted cells were mostly closed.")
    return ('<ul class="legend" aria-label="Legend">' + "".join(f"<li>{swatch}<span>{_e(text)}</span></li>"
                                                                   for swatch, text in items)
            + f"<li><span>{_e(heat)}</span></li></ul>")


def _filters(dashboard: Dashboard) -> str:
    query = dashboard.query
    options = ['<option value="">All workstreams</option>']
    for workstream_id, name in sorted(dashboard.choices.items(), key=lambda item: item[1].lower()):
        selected = " selected" if workstream_id == query.workstream_id else ""
        options.append(f'<option value="{_e(workstream_id)}"{selected}>{_e(name)}</option>')
    if query.workstream_id and query.workstream_id not in dashboard.choices:
        options.append(f'<option value="{_e(query.workstream_id)}" selected>{_e(query.workstream_id)}</option>')
    day_options = "".join(f'<option value="{d}"{" selected" if d == query.days else ""}>{d} day{"s" if d > 1 else ""}'
                          f"</option>" for d in sorted({1, 3, 7, 14, 31, query.days}))
    zones = ("UTC", "Europe/London", "Europe/Paris", "America/New_York", "America/Chicago", "America/Los_Angeles",
             "Asia/Singapore", "Asia/Kolkata", "Australia/Sydney")
    zone_options = "".join(f'<option value="{_e(z)}"></option>' for z in zones)
    return (f'<form class="filters" id="filters" method="get" action="">'
            f'<label>Workstream<select name="workstreamId">{"".join(options)}</select></label>'
            f'<label>Heatmap over<select name="days">{day_options}</select></label>'
            f'<label>Time zone<input name="tz" value="{_e(query.tz)}" list="zones" autocomplete="off" '
            f'spellcheck="false"></label><datalist id="zones">{zone_options}</datalist>'
            f'<button type="submit">Show</button></form>')


def render_dashboard(dashboard: Dashboard, *, nonce: str) -> str:
    """The whole page; every value from outside is escaped. `nonce` goes on the inline style and script."""
    query, now = dashboard.query, dashboard.generated_at
    zone = query.zone
    count = len(dashboard.workstreams)
    subtitle = (f"{count} workstream{'s' if count != 1 else ''} · times in {query.tz} "
                f"({_zone_label(zone, now)}) · updated {utc(now).astimezone(zone):%a %d %b %H:%M} · "
                f"refreshes every {REFRESH_SECONDS // 60} minutes")
    body = []
    if dashboard.notice:
        body.append(f'<p class="notice" role="status">{_e(dashboard.notice)}</p>')
    if not dashboard.workstreams:
        body.append('<p class="empty">No workstreams to show yet. The dashboard shows the workstreams the snapshot '
                    'timer records (SNAPSHOT_WORKSTREAMS, or every active workstream of the org) once the org '
                    'can be reached or the first snapshots are in.</p>')
    else:
        body.append(_legend())
        body.append('<h2 class="section">Right now</h2><div class="tiles">')
        body.extend(_now_tile(view, dashboard.queues, dashboard, link=count > 1) for view in dashboard.workstreams)
        body.append("</div>")
        body.append('<h2 class="section">History</h2>')
        body.extend(_workstream_section(view, i, dashboard) for i, view in enumerate(dashboard.workstreams))
    footer = ("Snapshots come from the snapshot timer (one per workstream per schedule slot, before-conversation "
              "check without context). “Right now” is a live check, served from the gateway's short cache when "
              "fresh; when the org cannot answer, the latest snapshot is shown with its age.")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
            f'<meta name="referrer" content="no-referrer">'
            f'<title>Queue availability · supervisor dashboard</title>'
            f'<style nonce="{_e(nonce)}">{_CSS}</style></head><body>{_SPRITES}'
            f'<header class="page"><h1>Queue availability</h1><p>{_e(subtitle)}</p>{_filters(dashboard)}</header>'
            f'<main>{"".join(body)}</main><footer><p>{_e(footer)}</p></footer>'
            f'<script nonce="{_e(nonce)}">{_SCRIPT}</script></body></html>')


def content_security_policy(nonce: str) -> str:
    """Nothing may load from anywhere: the page carries its own style, script and pictures."""
    return (f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src data:; "
            f"form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
