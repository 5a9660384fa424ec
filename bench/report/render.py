"""Sections -> one self-contained index.html (CSS inline, PNGs as base64 data URIs, no script,
nothing fetched) and report.md (PNGs beside it), written atomically with the CSV tables.

Layout of the output folder:

    index.html  report.md  <figure>.png ...  tables/<table>.csv ...
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

from ..results import write_bytes_atomic, write_text_atomic
from .blocks import Figure, Note, Section, Table, Text

#: Written by every report run: files of an earlier run that this one did not write are removed,
#: so a figure or CSV of a section that is gone now never lingers beside the new report.
MANIFEST = ".report-files"
SCROLL_ROWS = 30

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0 auto; max-width: 1200px; padding: 1.5em 2em 4em; color: #1d1d1f;
       line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em;
       margin-top: 2em; }
.meta { color: #555; font-size: 0.9em; }
nav ol { columns: 2; font-size: 0.95em; }
code { background: #f3f3f3; padding: 0 0.25em; border-radius: 3px; font-size: 0.92em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.4em 0 0.2em; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #f6f6f6; position: sticky; top: 0; }
tr:hover td { background: #fafafa; }
.scroll { max-height: 36em; overflow: auto; display: inline-block; max-width: 100%; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption, .caption { color: #444; font-size: 0.88em; margin-bottom: 0.6em; }
.note { padding: 0.45em 0.8em; border-radius: 4px; margin: 0.6em 0; }
.note.missing { background: #eef4fb; border-left: 4px solid #5b8fd1; }
.note.warning { background: #fdf3e7; border-left: 4px solid #e08a1e; }
.note.ok { background: #edf7ee; border-left: 4px solid #3c9a48; }
"""


def _inline_html(text: str) -> str:
    """Escape, then `code` spans."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _table_html(table: Table) -> str:
    body = table.frame.to_html(index=False, border=0, na_rep="–", escape=True)
    link = f' <a href="tables/{table.csv}">{table.csv}</a>' if table.csv else ""
    # Long tables scroll inside a box (headers stay visible); short ones print as they are.
    wrapper = "scroll" if len(table.frame) > SCROLL_ROWS else "plain"
    return (f'<div class="{wrapper}">{body}</div>\n'
            f'<div class="caption">{_inline_html(table.caption)}{link}</div>')  # fmt: skip


def _block_html(block) -> str:
    if isinstance(block, Text):
        return f"<p>{_inline_html(block.text)}</p>"
    if isinstance(block, Note):
        return f'<div class="note {block.kind}">{_inline_html(block.text)}</div>'
    if isinstance(block, Table):
        return _table_html(block)
    if isinstance(block, Figure):
        data = base64.b64encode(block.png).decode("ascii")
        caption = _inline_html(block.caption)
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block.name)}'
                f'"><figcaption>{caption}</figcaption></figure>')  # fmt: skip
    raise TypeError(f"block: unknown kind {type(block).__name__}")


def render_html(sections: list[Section], title: str, meta: list[str],
                warnings: list[str]) -> str:  # fmt: skip
    """The whole report as one HTML document (no external resource of any kind)."""
    toc = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',  # no favicon request, not even file://favicon.ico
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "".join(f'<div class="meta">{_inline_html(line)}</div>' for line in meta),
    ]
    if warnings:
        items = "".join(f"<li>{_inline_html(w)}</li>" for w in warnings)
        parts.append(f'<div class="note warning"><b>Problems reading results</b> (the rest of '
                     f"the report is unaffected):<ul>{items}</ul></div>")  # fmt: skip
    parts.append(f"<nav><ol>{toc}</ol></nav>")
    for section in sections:
        parts.append(f'<section id="{section.anchor}"><h2>{html.escape(section.title)}</h2>')
        parts += [_block_html(block) for block in section.blocks]
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _table_markdown(table: Table) -> str:
    frame = table.frame.astype(str).map(lambda v: v.replace("|", "\\|"))
    body = frame.to_markdown(index=False) if not frame.empty else "(empty)"
    link = f" ([{table.csv}](tables/{table.csv}))" if table.csv else ""
    return f"{body}\n\n*{table.caption}*{link}"


def _block_markdown(block) -> str:
    if isinstance(block, Text):
        return block.text
    if isinstance(block, Note):
        marker = {"missing": "**Missing:**", "warning": "**Warning:**", "ok": "**OK:**"}
        return f"> {marker.get(block.kind, '')} {block.text}"
    if isinstance(block, Table):
        return _table_markdown(block)
    if isinstance(block, Figure):
        return f"![{block.name}]({block.name}.png)\n\n*{block.caption}*"
    raise TypeError(f"block: unknown kind {type(block).__name__}")


def render_markdown(sections: list[Section], title: str, meta: list[str],
                    warnings: list[str]) -> str:  # fmt: skip
    parts = [f"# {title}", "\n".join(f"{line}  " for line in meta)]
    if warnings:
        parts.append("**Problems reading results** (the rest of the report is unaffected):\n\n"
                     + "\n".join(f"- {w}" for w in warnings))  # fmt: skip
    for section in sections:
        parts.append(f"## {section.title}")
        parts += [_block_markdown(block) for block in section.blocks]
    return "\n\n".join(parts) + "\n"


def write_report(out: Path, sections: list[Section], csvs: dict[str, pd.DataFrame], title: str,
                 meta: list[str], warnings: list[str]) -> dict[str, Path]:  # fmt: skip
    """Write index.html, report.md, the PNGs and tables/<name>.csv under `out`; returns
    {"html": path, "markdown": path}. Files a previous report wrote and this one did not are
    removed (see MANIFEST)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for section in sections:
        for block in section.blocks:
            if isinstance(block, Figure):
                write_bytes_atomic(out / f"{block.name}.png", block.png)
                written.append(f"{block.name}.png")
    for name, frame in csvs.items():
        write_text_atomic(out / "tables" / f"{name}.csv", frame.to_csv(index=False))
        written.append(f"tables/{name}.csv")
    markdown = write_text_atomic(out / "report.md",
                                 render_markdown(sections, title, meta, warnings))  # fmt: skip
    page = write_text_atomic(out / "index.html", render_html(sections, title, meta, warnings))
    written += ["report.md", "index.html"]
    manifest = out / MANIFEST
    if manifest.exists():
        for name in set(manifest.read_text(encoding="utf-8").split()) - set(written):
            stale = out / name
            # Only plain files inside `out` that an earlier report listed are ever removed.
            if stale.is_file() and out.resolve() in stale.resolve().parents:
                stale.unlink()
    write_text_atomic(manifest, "\n".join(sorted(written)) + "\n")
    return {"html": page, "markdown": markdown}
