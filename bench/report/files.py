"""Reading one results file: every problem becomes a ResultsError that names the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd


class ResultsError(ValueError):
    """A results file that exists but cannot be used; the message names the file."""


def read_json(path: Path) -> Any:
    """Parsed JSON of `path`; any problem is a ResultsError naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ResultsError(f"{path}: cannot be read ({error})") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsError(
            f"{path}: not valid JSON ({error.msg} at line {error.lineno}, column "
            f"{error.colno}); the file is truncated or was edited by hand"
        ) from error


def read_csv(path: Path, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV with at least the `required` columns; otherwise a ResultsError naming the file."""
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        # An empty file is an empty table (bench.results.csv_text writes no header for no
        # rows): e.g. episodes.csv before the first game ends.
        return pd.DataFrame(columns=list(required))
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise ResultsError(f"{path}: not a readable CSV ({error})") from error
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ResultsError(
            f"{path}: expected columns {list(required)}, missing {missing} "
            f"(found {list(frame.columns)})"
        )
    return frame


def expect_dict(value: Any, path: Path, what: str) -> dict:
    if not isinstance(value, dict):
        raise ResultsError(f"{path}: expected {what} to be an object, got {type(value).__name__}")
    return value


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The non-empty frames stacked (an empty frame when there is none)."""
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
