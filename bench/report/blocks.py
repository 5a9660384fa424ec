"""Building blocks of the report's sections (text, notes, tables, figures) and the number
formatting every table uses; `render` turns the blocks into HTML and Markdown."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from . import tables
from .load import COMMANDS, Results


@dataclasses.dataclass
class Text:
    """A paragraph; `code` spans in backquotes."""

    text: str


@dataclasses.dataclass
class Note:
    """A highlighted line: kind "missing" (what to run), "warning" or "ok"."""

    text: str
    kind: str = "missing"


@dataclasses.dataclass
class Table:
    """A display table (strings), its caption and the CSV (under tables/) with its numbers."""

    frame: pd.DataFrame
    caption: str
    csv: str | None = None


@dataclasses.dataclass
class Figure:
    """A PNG written as <name>.png beside report.md and embedded in index.html."""

    name: str
    png: bytes
    caption: str


@dataclasses.dataclass
class Section:
    anchor: str
    title: str
    blocks: list


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value)


def num(value, digits: int = 3) -> str:
    """A readable number: 3 significant digits, thousands separated, no exponent in 1e-3..1e6."""
    if missing(value):
        return "–"
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if 1e-3 <= abs(value) < 1e6:
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(value)))) if value else 0
        return f"{value:,.{decimals}f}"
    return f"{value:.{digits - 1}e}"


def times(value) -> str:
    return "–" if missing(value) else f"{float(value):.2f}×"


def sci(value) -> str:
    return "–" if missing(value) else f"{float(value):.1e}"


def display(frame: pd.DataFrame, columns: dict[str, tuple[str, Callable]]) -> pd.DataFrame:
    """Rename and format: columns maps source column -> (header, formatter)."""
    out = pd.DataFrame(index=frame.index)
    for source, (header, formatter) in columns.items():
        if source in frame.columns:
            out[header] = frame[source].map(formatter)
    return out.reset_index(drop=True)


def text(value) -> str:
    return "–" if missing(value) else str(value)


def missing_note(what: str, key: str) -> Note:
    return Note(f"No {what} in these results: run `{COMMANDS[key]}`.")


def run_text(results: Results, suite: str) -> str:
    document = results.documents.get(suite) or {}
    meta = document.get("cellbench") or {}
    path = results.sources.get(suite)
    parts = [f"From `{path}`" if path else "", f"run {document.get('datetime', '?')}"]
    if meta.get("profile"):
        parts.append(f"profile {meta['profile']}")
    if meta.get("threads"):
        threads = meta["threads"]
        parts.append(f"{threads} thread{'s' if threads != 1 else ''} (torch and TF alike)")
    return ", ".join(p for p in parts if p) + "."


def by_cell(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in cell order (lstm, gru, cfc, ltc), then backend order (torch, ncps, tf)."""
    cells, backends = tables.rank(tables.CELL_ORDER), tables.rank(tables.BACKEND_ORDER)
    keys = frame.assign(_c=frame["cell"].map(lambda c: cells.get(c, 99)),
                        _b=frame["backend"].map(lambda b: backends.get(b, 99)))  # fmt: skip
    return keys.sort_values(["_c", "_b"], kind="stable").drop(columns=["_c", "_b"])


def relative(path: str, root) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
