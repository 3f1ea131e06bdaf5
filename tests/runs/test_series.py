"""Metric histories as compact Series: read like the list of (step, value) they replace, held in two typed
columns by every reader, kept through the discovery cache and the worker processes, parsed one line at a time."""

from __future__ import annotations

import marshal
import pickle
import tracemalloc

from auditor.runs import discovery_cache
from auditor.runs.discover import discover_runs
from auditor.runs.readers.mlflow import parse_metric_lines
from auditor.runs.series import Series, clean_series

from .helpers import config, write_record


def test_reads_like_a_list_of_step_value_pairs():
    series = Series([(0, 1.0), (2, 0.5), (1.0, 0.25)])
    assert list(series) == [(0, 1.0), (2, 0.5), (1, 0.25)] and type(series[2][0]) is int  # 1.0 -> 1, as to_step
    assert len(series) == 3 and series and not Series()
    assert series[-1] == (1, 0.25) and list(series[:2]) == [(0, 1.0), (2, 0.5)]
    assert list(reversed(series)) == [(1, 0.25), (2, 0.5), (0, 1.0)]
    assert series == [(0, 1.0), (2, 0.5), (1, 0.25)] and series != [(0, 1.0)]
    assert next((s for s, v in reversed(series) if v == 0.5), None) == 2
    # a fractional step turns the step column into floats; integral steps still read back as ints
    series.append(2.5, 9.0)
    assert series.steps.typecode == "d" and list(series)[-2:] == [(1, 0.25), (2.5, 9.0)]
    assert [type(s) for s, _ in series] == [int, int, int, float]
    # a value that is not a number changes nothing (the columns keep one length)
    try:
        series.append(3, None)
    except TypeError:
        pass
    assert len(series.steps) == len(series.values) == 4


def test_sorted_by_step_is_stable_and_copies_only_when_needed():
    ordered = Series([(0, 1.0), (1, 2.0), (1, 3.0)])
    assert ordered.sorted_by_step() is ordered
    shuffled = Series([(5, 1.0), (1, 2.0), (5, 3.0), (1, 4.0), (0.5, 5.0)])
    assert list(shuffled.sorted_by_step()) == [(0.5, 5.0), (1, 2.0), (1, 4.0), (5, 1.0), (5, 3.0)]


def test_clean_series_keeps_the_numeric_points_of_a_record():
    assert list(clean_series([[1, "2"], [None, 3], ["x", 1], [3.0, None], "junk", [4, "nan"]]))[:1] == [(1, 2.0)]
    assert len(clean_series([[1, "2"], [4, "nan"]])) == 2


def test_survives_pickle_marshal_and_the_nightly_blob():
    series = Series([(0, 1.0), (3, float("nan")), (7, -0.0)])
    assert pickle.loads(pickle.dumps(series)).to_plain() == series.to_plain()
    assert Series.from_plain(marshal.loads(marshal.dumps(series.to_plain()))).to_plain() == series.to_plain()
    changed = Series([(0, 1.0), (3, float("nan")), (7, 0.5)])
    assert series.digest() != changed.digest() and series.digest() == Series(list(series)).digest()


def test_every_reader_and_the_cache_give_series(tmp_path, monkeypatch):
    """Native records (lists in YAML), an MLflow file store (parsed straight into a Series) and the same
    runs again from the discovery cache: each history is a Series with the same points."""
    monkeypatch.setattr(discovery_cache, "RACY_NS", 0)  # files written a moment ago are trusted at once
    results = tmp_path / "results"
    write_record(results / "native", {"id": "native", "seed": 0, "metrics": {"val/acc": [[20, 0.6], [0, 0.1]]}})
    run = results / "mlruns" / "1" / ("a" * 32)
    for sub in ("params", "metrics", "tags"):
        (run / sub).mkdir(parents=True)
    (results / "mlruns" / "1" / "meta.yaml").write_text("experiment_id: '1'\nname: e\nlifecycle_stage: active\n")
    (run / "meta.yaml").write_text(f"run_id: {'a' * 32}\nstatus: 3\nstart_time: 1\nend_time: 2\n")
    (run / "metrics" / "loss").write_text("1700000000000 0.5 0\n1700000000001 0.25 1\n")
    fresh = {r.id: r for r in discover_runs(results, config(), cache=False).runs}
    assert fresh["native"].metrics["val/acc"] == [(0, 0.1), (20, 0.6)]
    assert fresh["a" * 32].metrics["loss"] == [(0, 0.5), (1, 0.25)]
    discover_runs(results, config(), cache=True)
    cached = discover_runs(results, config(), cache=True)
    assert cached.from_cache == 2
    for run in [*fresh.values(), *cached.runs]:
        assert all(isinstance(points, Series) for points in run.metrics.values()), run.id
    assert {r.id: r.metrics for r in cached.runs} == {r.id: r.metrics for r in fresh.values()}


def test_a_metric_file_is_parsed_line_by_line_into_two_columns(tmp_path):
    """200,000 MLflow lines (7 MB): the points cost 16 bytes each (two array columns), and parsing never
    holds the file or a tuple per line (that would be ~23 MB)."""
    path = tmp_path / "loss"
    lines = 200_000
    with open(path, "w") as handle:
        for step in range(lines):
            handle.write(f"{1700000000000 + step} {1.0 / (step + 1):.10f} {step}\n")
    problems: list[dict] = []
    tracemalloc.start()
    try:
        with open(path, encoding="utf-8") as handle:
            series = parse_metric_lines(handle, str(path), problems)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problems == [] and len(series) == lines and series[-1] == (lines - 1, 1.0 / lines)
    assert series.steps.itemsize == series.values.itemsize == 8
    assert peak < 12 * 1024 * 1024, peak
