"""Rendering the report: Markdown and one self-contained HTML page (jinja2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import jinja2
import pandas as pd
from markupsafe import Markup

if TYPE_CHECKING:  # pragma: no cover
    from attnsim.reports.design_space.build import ReportDoc

__all__ = ["render_markdown", "render_html"]


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``df`` (display strings)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(_md_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(_md_cell(v) for v in row.tolist()) + " |")
    return "\n".join(lines)


def render_markdown(doc: ReportDoc) -> str:
    """The report as Markdown; figures are linked from ``figures/``."""
    out = [f"# {doc.title}", "", doc.subtitle, ""]
    out.append("Contents: " + " · ".join(f"[{s.title}](#{s.anchor})" for s in doc.sections))
    out.append("")
    for s in doc.sections:
        out += [f'<a id="{s.anchor}"></a>', "", f"## {s.title}", ""]
        for warning in s.warnings:
            out += [f"> **Warning:** {warning}", ""]
        for p in s.paragraphs:
            out += [p, ""]
        for name, caption, _ in s.figures:
            out += [
                f"![{caption}](figures/{name}.png)",
                "",
                f"*{caption}* (data: `figures/{name}.json`)",
                "",
            ]
        for caption, table in s.tables:
            out += [f"**{caption}**", "", markdown_table(table), ""]
    return "\n".join(out) + "\n"


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ doc.title }}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
header { background: #1f3a5f; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header p { margin: 0; opacity: 0.85; font-size: 14px; }
nav { padding: 10px 32px; background: #e9eef5; font-size: 13px; }
nav a { margin-right: 14px; color: #1f3a5f; text-decoration: none; }
main { padding: 8px 32px 40px 32px; max-width: 1400px; }
section { background: #fff; border: 1px solid #e1e4e8; border-radius: 6px; padding: 12px 20px; margin: 16px 0; }
h2 { font-size: 18px; margin: 6px 0 10px 0; color: #1f3a5f; }
.warn { background: #fff4e5; border-left: 4px solid #f0a020; padding: 8px 12px; margin: 8px 0; font-size: 14px; }
figure { margin: 10px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 12px; color: #555; }
table.tbl { border-collapse: collapse; font-size: 12px; margin: 6px 0 14px 0; }
table.tbl th, table.tbl td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
table.tbl th { background: #f0f3f7; }
.caption { font-weight: 600; font-size: 13px; margin-top: 10px; }
.scroll { overflow-x: auto; }
</style>
</head>
<body>
<header><h1>{{ doc.title }}</h1><p>{{ doc.subtitle }}</p></header>
<nav>{% for s in doc.sections %}<a href="#{{ s.anchor }}">{{ s.title }}</a>{% endfor %}</nav>
<main>
{% for s in doc.sections %}
<section id="{{ s.anchor }}">
<h2>{{ s.title }}</h2>
{% for w in s.warnings %}<div class="warn"><strong>Warning:</strong> {{ w }}</div>{% endfor %}
{% for p in s.paragraphs %}<p>{{ p }}</p>{% endfor %}
{% for name, caption, png in s.figures %}
<figure id="fig-{{ name }}"><img alt="{{ caption }}" data-figure="{{ name }}" src="{{ uri(png) }}"><figcaption>{{ caption }}</figcaption></figure>
{% endfor %}
{% for caption, table in s.tables %}
<div class="caption">{{ caption }}</div>
<div class="scroll">{{ html_table(table) }}</div>
{% endfor %}
</section>
{% endfor %}
</main>
</body>
</html>
"""


def render_html(doc: ReportDoc, uri: Callable[[bytes], str]) -> str:
    """The report as one HTML page; ``uri`` turns PNG bytes into a data URI."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(_TEMPLATE)

    def html_table(df: pd.DataFrame) -> Markup:
        return Markup(df.to_html(index=False, escape=True, border=0, classes="tbl"))

    return template.render(doc=doc, uri=uri, html_table=html_table)
