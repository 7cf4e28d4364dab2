"""``zonefacts report``: one static, offline HTML page over the published snapshot.

Per-entity Plotly charts of the headline indicators over periods (transforms/vocab/indicators.csv,
column ``headline``), a table of the latest figures, the data-quality summary of the last run, its fact changes, the corrections in force and
each fact's evidence. Plotly.js is inlined once (no CDN): the page opens without network access.

Article text is hostile input: every value written into HTML goes through ``html.escape``,
and chart data is embedded as JSON with ``<``, ``>`` and ``&`` escaped as ``\\u003c`` etc.,
so no text from an article can close the ``<script>`` element or inject markup.
"""
from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from transforms.vocabulary import load_vocabulary
from warehouse.migrate import headline_indicators
from warehouse.store import open_published

TRADE = "foreign_trade"       # its level is charted with its parts' (indicators.csv, column part_of)


def _esc(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return html.escape(f"{value:g}")
    if isinstance(value, (list, tuple)):
        return html.escape(", ".join(str(v) for v in value))
    return html.escape(str(value))


def _safe_json(obj: Any) -> str:
    text = json.dumps(obj, ensure_ascii=False, default=str)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _rows(con, sql: str, params=None) -> tuple[list[str], list[tuple]]:
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return cols, cur.fetchall()


def _table(cols: list[str], rows: list[tuple], cls: str = "") -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_esc(v)}</td>" for v in row) + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(cols)}"><em>none</em></td></tr>'
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _period_key(row: dict) -> tuple:
    return (row["year"] or 0, row["end_month"] or 12, -(row["start_month"] or 1))


def _figure(div_id: str, traces: list[dict], title: str, y_title: str) -> str:
    layout = {"title": {"text": html.escape(title)}, "height": 380, "margin": {"t": 50, "l": 60, "r": 20},
              "xaxis": {"type": "category", "title": {"text": "period"}},
              "yaxis": {"title": {"text": y_title}}, "legend": {"orientation": "h"}}
    config = {"displaylogo": False, "responsive": True, "staticPlot": False}
    return (f'<div id="{div_id}" class="chart"></div>\n<script>Plotly.newPlot({_safe_json(div_id)}, '
            f"{_safe_json(traces)}, {_safe_json(layout)}, {_safe_json(config)});</script>")


def _entity_charts(con) -> list[str]:
    indicators = load_vocabulary().indicators
    names = dict(indicators.select("code", "name_en").iter_rows())
    headline = headline_indicators()
    trade = [TRADE, *indicators.filter(pl.col("part_of") == TRADE).get_column("code").to_list()]
    _, rows = _rows(con, """
        SELECT entity, year, start_month, end_month, period, indicator, measure, value, unit
        FROM latest_observations
        WHERE segment IS NULL AND benchmark IS NULL
          AND ((measure = 'yoy_pct' AND list_contains(?, indicator))
               OR (measure = 'level' AND list_contains(?, indicator)))
        ORDER BY entity, year, end_month, start_month""", [headline, trade])
    keys = ["entity", "year", "start_month", "end_month", "period", "indicator", "measure", "value", "unit"]
    by_entity: dict[str, list[dict]] = {}
    for row in rows:
        by_entity.setdefault(row[0], []).append(dict(zip(keys, row)))
    sections = []
    for n, (entity, facts) in enumerate(sorted(by_entity.items())):
        periods = sorted({(_period_key(f), f["period"]) for f in facts})
        labels = [p[1] for p in periods]
        growth, level = [], []
        for code in headline:
            pts = {f["period"]: f["value"] for f in facts if f["indicator"] == code and f["measure"] == "yoy_pct"}
            if pts:
                growth.append({"type": "scatter", "mode": "lines+markers", "name": html.escape(names[code]),
                               "x": [p for p in labels if p in pts], "y": [pts[p] for p in labels if p in pts]})
        for code in trade:
            pts = {f["period"]: (f["value"], f["unit"]) for f in facts
                   if f["indicator"] == code and f["measure"] == "level"}
            if pts:
                unit = next(iter(pts.values()))[1]
                level.append({"type": "bar", "name": html.escape(f"{names[code]} ({unit})"),
                              "x": [p for p in labels if p in pts], "y": [pts[p][0] for p in labels if p in pts]})
        parts = [f'<section class="entity"><h3>{_esc(entity)}</h3>']
        if growth:
            parts.append(_figure(f"growth-{n}", growth, f"{entity}: year-on-year growth", "yoy %"))
        if level:
            parts.append(_figure(f"trade-{n}", level, f"{entity}: trade level", "level"))
        parts.append("</section>")
        sections.append("\n".join(parts))
    return sections


CSS = """
body { font-family: system-ui, "Noto Sans CJK SC", "PingFang SC", sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.evidence, table.evidence td:last-child { max-width: 40em; }
.chart { width: 100%; max-width: 1100px; }
.meta { color: #666; }
"""


def render_report(warehouse: Path) -> str:
    """The report as one HTML string (Plotly.js inlined)."""
    from plotly.offline import get_plotlyjs

    con = open_published(Path(warehouse))
    try:
        counts = con.execute("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM fact_observation),"
                             " (SELECT count(*) FROM conflicts)").fetchall()[0]
        charts = _entity_charts(con)
        latest = _rows(con, """
            SELECT entity, period, indicator, measure, segment, value, unit, qualifier, benchmark,
                   document, published_at, documents_reporting
            FROM latest_observations ORDER BY entity, year DESC, end_month DESC NULLS LAST, indicator, measure""")
        last_run = _rows(con, """
            SELECT run_id, status, started_at, finished_at, documents_seen, documents_new,
                   documents_quarantined, observations_loaded, expectations_failed
            FROM pipeline_runs ORDER BY started_at DESC LIMIT 1""")
        dq_run = _rows(con, """
            SELECT run_id, started_at, expectations_evaluated, failed_error, failed_warning
            FROM dq_runs ORDER BY started_at DESC, run_id DESC LIMIT 1""")
        dq_fail = _rows(con, "SELECT suite, expectation, severity, unexpected_count FROM dq_failures")
        conflicts = _rows(con, """
            SELECT entity, period, indicator, measure, segment, value_a, document_a, published_at_a,
                   value_b, document_b, published_at_b FROM conflicts ORDER BY entity, indicator""")
        evidence = _rows(con, """
            SELECT o.entity, o.period, o.indicator, o.measure, o.value, o.unit, o.document, o.title,
                   o.published_at, o.evidence
            FROM latest_observations o ORDER BY o.entity, o.year DESC, o.indicator, o.measure""")
        changes = _rows(con, """
            SELECT change, cause, document, entity, indicator, measure, segment, old_value, new_value,
                   coalesce(new_evidence, old_evidence) AS evidence
            FROM observation_changes ORDER BY change, document, entity, indicator, measure LIMIT 500""")
        corrections = _rows(con, """
            SELECT l.line, l.action, l.document, l.entity, l.indicator, l.measure, l.value, l.phrase,
                   l.author, l.reason, coalesce(sum(m.matched), 0)::BIGINT AS facts_matched
            FROM correction_lines l LEFT JOIN correction_matches m USING (correction_id)
            WHERE l.error IS NULL GROUP BY ALL ORDER BY l.line""")
    finally:
        con.close()
    generated = datetime.now().isoformat(timespec="seconds")
    body = [
        "<h1>zonefacts report</h1>",
        f'<p class="meta">Warehouse {_esc(Path(warehouse).name)} · {counts[0]} documents · '
        f"{counts[1]} observations · {counts[2]} conflicts · generated {_esc(generated)}</p>",
        "<h2>Headline indicators by entity</h2>",
        *(charts or ["<p><em>No headline indicators yet.</em></p>"]),
        "<h2>Latest figures</h2>",
        '<p class="meta">One row per fact: the value from the most recently published document.</p>',
        _table(*latest),
        "<h2>Data quality of the last run</h2>",
        _table(*last_run), _table(*dq_run),
        "<h3>Failed expectations</h3>", _table(*dq_fail),
        "<h2>Conflicting reports</h2>", _table(*conflicts),
        "<h2>Recent changes</h2>",
        '<p class="meta">What the last run added, changed and retracted (view observation_changes).</p>',
        _table(*changes),
        "<h2>Corrections in force</h2>",
        '<p class="meta">The analysts\' corrections file as the last load applied it.</p>',
        _table(*corrections),
        "<h2>Evidence</h2>", _table(*evidence, cls="evidence"),
    ]
    return ("<!doctype html>\n<html lang=\"zh\"><head><meta charset=\"utf-8\">"
            "<title>zonefacts report</title>"
            f"<style>{CSS}</style>\n<script>{get_plotlyjs()}</script></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_report(warehouse: Path, out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "index.html"
    tmp = target.with_name(".index.html.tmp")
    tmp.write_text(render_report(warehouse), encoding="utf-8")
    tmp.replace(target)
    return target
