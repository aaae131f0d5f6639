"""HTML for the dataclips web pages. Server-rendered; `static/dataclips.js` adds the editor's
Save & Run, cancel, schema explorer, revert and revoke. No CDN: everything is served from here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from paas.dataclips.chart import ChartSettings, chart_for, render_svg
from paas.dataclips.export import text_value
from paas.dataclips.kept import KeptResult
from paas.dataclips.platform import EXAMPLE_SQL
from paas.dataclips.results import ClipError, ClipResult, format_bytes

DISPLAY_ROWS = 1_000
STATIC_DIR = Path(__file__).parent / "static"  # served at /dataclips/static/<name>
STATIC_TYPES = {
    "dataclips.js": "text/javascript",
    "dataclips.css": "text/css",
    "editor.js": "text/javascript",  # CodeMirror 6, built by scripts/build_editor.sh
    "editor.js.LICENSE.txt": "text/plain; charset=utf-8",
}
CHART_LABELS = (("auto", "Chart: automatic"), ("line", "Line"), ("bar", "Bar"), ("none", "No chart"))


def csrf_field(csrf: str) -> str:
    return f'<input type="hidden" name="csrf" value="{escape(csrf)}">' if csrf else ""


def _layout(
    title: str, body: str, logged_in: bool = False, script: bool = False, csrf: str = "", nonce: str = ""
) -> str:
    logout = (
        f'<form method="post" action="/dataclips/logout" class="logout">{csrf_field(csrf)}'
        '<button type="submit">Log out</button></form>'
        if logged_in
        else ""
    )
    js = (  # deferred scripts run in order: the editor component first
        '<script src="/dataclips/static/editor.js" defer></script>'
        '<script src="/dataclips/static/dataclips.js" defer></script>'
        if script
        else ""
    )
    meta = f'\n<meta name="csrf-token" content="{escape(csrf)}">' if csrf else ""
    if nonce:  # the editor's style elements carry it (CSP allows styles with this response's nonce)
        meta += f'\n<meta name="style-nonce" content="{escape(nonce)}">'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">{meta}
<title>{escape(title)} · Dataclips</title>
<link rel="stylesheet" href="/dataclips/static/dataclips.css">{js}
</head><body>
<header class="top"><a href="/dataclips" class="brand">Dataclips</a>{logout}</header>
<main>{body}</main>
</body></html>"""


def login_page(next_path: str, error: str | None = None) -> str:
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = f"""<section class="card narrow">
<h1>Log in</h1>
<p>Paste the daemon's API token (<code>cat $PAAS_HOME/token</code>).</p>
{message}
<form method="post" action="/dataclips/login">
<input type="hidden" name="next" value="{escape(next_path)}">
<label>Token <input type="password" name="token" id="token" autocomplete="current-password" required autofocus></label>
<button type="submit" id="login">Log in</button>
</form></section>"""
    return _layout("Log in", body)


def list_page(
    clips: list[dict[str, Any]], targets: list[dict[str, Any]], error: str | None = None, csrf: str = ""
) -> str:
    rows = "".join(
        f'<tr><td><a href="/dataclips/clips/{c["id"]}">{escape(c["title"])}</a></td>'
        f"<td>{escape(c['target'])}</td><td>v{c['version']}</td><td>{escape(c['updated_at'] or '')}</td>"
        f'<td><a href="{escape(c["share_path"])}">secret link</a></td></tr>'
        for c in clips
    )
    table = (
        f'<table class="clips"><thead><tr><th>Title</th><th>Database</th><th>Version</th><th>Updated</th>'
        f"<th>Share</th></tr></thead><tbody>{rows}</tbody></table>"
        if clips
        else '<p class="empty">No dataclips yet.</p>'
    )
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = f"""<section class="card">
<h1>Dataclips</h1>
{table}
</section>
<section class="card">
<h2>New Dataclip</h2>
{message}
<form method="post" action="/dataclips/new" class="new">{csrf_field(csrf)}
<label>Title <input name="title" id="new-title" required maxlength="200"></label>
<label>Database {_target_select(targets, "platform", "new-target")}</label>
<button type="submit" id="create">Create Dataclip</button>
</form></section>"""
    return _layout("Dataclips", body, logged_in=True, csrf=csrf)


def _target_select(targets: list[dict[str, Any]], current: str, element_id: str) -> str:
    options = []
    names = [t["name"] for t in targets]
    if current not in names:  # an add-on that was destroyed: keep it visible, not silently changed
        options.append(f'<option value="{escape(current)}" selected>{escape(current)} (gone)</option>')
    for t in targets:
        selected = " selected" if t["name"] == current else ""
        label = t["name"] if t["kind"] == "platform" else f"{t['name']} — {t['description']}"
        if t["kind"] == "platform":
            label = "platform — router request events"
        options.append(f'<option value="{escape(t["name"])}"{selected}>{escape(label)}</option>')
    return f'<select name="target" id="{element_id}">{"".join(options)}</select>'


def editor_page(
    clip: dict[str, Any],
    targets: list[dict[str, Any]],
    share_url: str,
    csrf: str = "",
    kept: KeptResult | None = None,
    nonce: str = "",
) -> str:
    sql = clip["sql"] or (EXAMPLE_SQL if clip["target"] == "platform" else "")
    versions = "".join(_version_item(v, clip["version"]) for v in clip.get("versions", []))
    boot = json.dumps({"id": clip["id"], "version": clip["version"], "chart": clip["chart"]})
    settings = ChartSettings.from_json(clip["chart"])
    forked = (
        f'<p class="muted" id="forked-from">Forked from <a href="/dataclips/clips/{clip["forked_from"]}">'
        f"dataclip #{clip['forked_from']}</a></p>"
        if clip.get("forked_from")
        else ""
    )
    body = f"""<div class="editor" id="editor" data-clip='{escape(boot)}'>
<aside class="schema card">
<h2>Schema</h2>
<input type="search" id="schema-filter" placeholder="Filter tables and columns" aria-label="Filter schema">
<ul id="schema-list" class="schema-list"><li class="muted">Loading…</li></ul>
</aside>
<section class="work">
<div class="card">
<div class="row">
<input id="title" class="title" value="{escape(clip["title"])}" maxlength="200" aria-label="Title">
{_target_select(targets, clip["target"], "target")}
</div>
{forked}<textarea id="sql" spellcheck="false" rows="12" aria-label="SQL">{escape(sql)}</textarea>
<div class="row actions">
<button id="save-run" class="primary" title="Ctrl+Enter (⌘+Enter)">Save &amp; Run</button>
<button id="cancel" hidden>Cancel</button>
<button id="fork" title="A new dataclip with this SQL and chart">Fork</button>
<span id="status" class="muted" role="status"></span>
</div>
<div id="error" class="error" hidden role="alert"></div>
</div>
{_result_card(kept, settings)}
<div class="card share">
<h2>Share</h2>
<p>Anyone with this secret link can see the results, without logging in:</p>
<p><a id="share-link" href="{escape(share_url)}">{escape(share_url)}</a>
 · <a id="csv-link" href="{escape(share_url)}.csv" download>CSV</a>
 · <a id="json-link" href="{escape(share_url)}.json">JSON</a></p>
<button id="revoke">Revoke link</button> <span class="muted">(makes a new link; the old one stops working)</span>
</div>
<div class="card">
<h2>Versions</h2>
<ol id="versions" class="versions" reversed>{versions}</ol>
</div>
</section>
</div>"""
    return _layout(clip["title"], body, logged_in=True, script=True, csrf=csrf, nonce=nonce)


def _result_card(kept: KeptResult | None, settings: ChartSettings) -> str:
    """The latest result as it was kept: the page shows it without running the query."""
    meta = notice = table = svg = ""
    if kept is not None:
        result = kept.result
        meta = escape(result_summary(result, DISPLAY_ROWS, kept.rows))
        if result.message:
            meta += " · " + escape(result.message)
        notice = escape(result.notice or "")
        table = result_table(result)
        chart = chart_for(result, settings)
        svg = "" if chart is None else render_svg(chart)
    kinds = "".join(
        f'<option value="{k}"{" selected" if k == settings.kind else ""}>{label}</option>'
        for k, label in CHART_LABELS
    )
    return f"""<div class="card" id="result-card"{"" if kept else " hidden"}>
<div id="result-meta" class="muted">{meta}</div>
<p id="notice" class="notice" role="status"{"" if notice else " hidden"}>{notice}</p>
<div class="row chart-settings">
<select id="chart-kind" aria-label="Chart type">{kinds}</select>
<label class="inline">x <select id="chart-x" aria-label="Chart x axis"></select></label>
<span class="inline">y <span id="chart-y"></span></span>
</div>
<div id="chart">{svg}</div>
<div id="results" class="scroll">{table}</div>
</div>"""


def _version_item(v: dict[str, Any], current: int) -> str:
    mark = " (current)" if v["number"] == current else ""
    button = (
        ""
        if v["number"] == current
        else f'<button class="revert" data-version="{v["number"]}">Revert</button>'
    )
    return (
        f'<li data-version="{v["number"]}"><strong>v{v["number"]}</strong>{mark} · {escape(v["note"])} · '
        f"{escape(v['created_at'] or '')} · {escape(v['target'])} {button}"
        f"<pre>{escape(v['sql'][:400])}</pre></li>"
    )


def result_table(result: ClipResult, limit: int = DISPLAY_ROWS) -> str:
    head = "".join(
        f'<th title="{escape(c.type_name)}" data-kind="{c.kind}">{escape(c.name)}</th>'
        for c in result.columns
    )
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(text_value(v))}</td>" for v in row) + "</tr>"
        for row in result.values[:limit]
    )
    return f'<table class="results"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def result_summary(result: ClipResult, limit: int = DISPLAY_ROWS, total: int | None = None) -> str:
    rows = len(result.values) if total is None else total
    parts = [f"{rows:,} row" + ("s" if rows != 1 else "")]
    if result.truncated_by == "bytes":
        parts.append(f"truncated at the {format_bytes(result.byte_cap)} limit")
    elif result.truncated:
        parts.append(f"truncated at the {result.row_cap:,}-row limit")
    shown = min(limit, len(result.values))  # a kept result may hold fewer rows than the run had
    if rows > shown:
        parts.append(f"showing the first {shown:,}; download the CSV for all")
    parts.append(f"ran in {result.duration_ms:g} ms")
    ran = datetime.fromtimestamp(result.ran_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    parts.append(f"at {ran}")
    return " · ".join(parts)


def chart_svg(result: ClipResult) -> str | None:
    chart = chart_for(result)
    return None if chart is None else render_svg(chart)


def share_page(clip: dict[str, Any], result: ClipResult | None, error: ClipError | None, base: str) -> str:
    link = f"{base}/dataclips/{clip['slug']}"
    if error is not None:
        content = f'<div class="error" role="alert">{escape(error.message)}</div>'
    else:
        assert result is not None
        svg = chart_svg(result) or ""
        note = f'<p class="muted">{escape(result.message)}</p>' if result.message else ""
        if result.notice is not None:
            note += f'<p class="notice" id="notice" role="status">{escape(result.notice)}</p>'

        content = (
            f'<p class="muted" id="result-meta">{escape(result_summary(result))}</p>{note}'
            f'<div id="chart">{svg}</div><div class="scroll">{result_table(result)}</div>'
        )
    body = f"""<section class="card">
<h1>{escape(clip["title"])}</h1>
<p class="downloads"><a href="{escape(link)}.csv" id="csv-link" download>Download CSV</a> ·
<a href="{escape(link)}.json" id="json-link">JSON</a></p>
{content}
</section>"""
    return _layout(clip["title"], body)


def not_found_page() -> str:
    return _layout(
        "Not found",
        '<section class="card narrow"><h1>Not found</h1><p>This dataclip does not exist or its link was revoked.</p></section>',
    )
