"""Metrics written beside a run by the user's own code: metrics.json, metrics.jsonl, metrics.csv."""

from __future__ import annotations

import csv
import io
import json
import os

from auditor.runs.readers.common import ReadError, load_json, read_text, to_float, to_step
from auditor.runs.series import Series, clean_series, series_for

NAMES = ("metrics.json", "metrics.jsonl", "metrics.csv")
STEP_KEYS = ("step", "_step", "global_step", "iteration", "iter", "epoch")


def _rows(rows: list[dict], metrics: dict[str, Series]) -> None:
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        step_key = next((k for k in STEP_KEYS if to_step(row.get(k)) is not None), None)
        step = to_step(row[step_key]) if step_key else index
        for name, value in row.items():
            number = to_float(value) if value not in ("", None) else None
            if name in STEP_KEYS or name.startswith("_") or number is None:
                continue
            series_for(metrics, name).append(step, number)


def read_metrics_file(path: str, display: str) -> dict[str, Series]:
    """{name: Series of (step, value)} from one of the supported files; a ReadError names file and line."""
    metrics: dict[str, Series] = {}
    name = os.path.basename(path)
    text = read_text(path)
    if name.endswith(".jsonl"):
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    if number == len(text.splitlines()):
                        break  # a half-written last line of a live or killed run
                    raise ReadError(f"invalid JSON line: {exc}", display, line=number) from exc
        _rows(rows, metrics)
    elif name.endswith(".csv"):
        _rows(list(csv.DictReader(io.StringIO(text))), metrics)
    else:
        try:
            data = load_json(path, text)
        except ReadError as exc:
            exc.path = display
            raise
        if isinstance(data, list):
            _rows(data, metrics)
        elif isinstance(data, dict):
            for key, series in data.items():
                if isinstance(series, dict) and "values" in series:  # {steps: [], values: []} (Sacred style)
                    steps = series.get("steps") or list(range(len(series["values"])))
                    metrics[key] = clean_series(zip(steps, series["values"], strict=False))
                elif isinstance(series, list):
                    metrics[key] = clean_series(series)
    return metrics
