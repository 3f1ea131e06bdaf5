"""Small inputs, bounded costs: a YAML alias bomb and deep nesting are refused before anything is built, and
a huge metric history draws as a plot of bounded size."""

from __future__ import annotations

import pytest

from auditor import bounded
from auditor.runs.readers.common import ReadError, load_json, load_yaml

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))


def test_an_alias_bomb_is_refused_before_it_is_built(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(LAUGHS)
    assert len(LAUGHS) < 800
    with pytest.raises(ReadError, match="alias bomb"):
        load_yaml(str(path))


def test_ordinary_aliases_and_big_records_are_read(tmp_path):
    path = tmp_path / "run.yaml"
    points = "".join(f"  - [{i}, 0.5]\n" for i in range(50_000))
    path.write_text("base: &b {lr: 0.1, wd: 0.0}\nrun1: *b\nrun2: *b\nmetrics:\n" + points)
    data = load_yaml(str(path))
    assert data["run2"] == {"lr": 0.1, "wd": 0.0} and len(data["metrics"]) == 50_000


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_deep_nesting_is_refused(tmp_path, suffix):
    path = tmp_path / f"run.{suffix}"
    depth = bounded.MAX_DEPTH + 5
    if suffix == "yaml":
        path.write_text("config: " + "{a: " * depth + "1" + "}" * depth + "\n")
        loader = load_yaml
    else:
        path.write_text('{"config": ' + '{"a": ' * depth + "1" + "}" * depth + "}")
        loader = load_json
    with pytest.raises(ReadError, match="nested more than"):
        loader(str(path))


def test_a_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(ReadError, match="contains itself"):
        load_yaml(str(path))


def test_a_huge_metric_history_draws_a_small_plot():
    pytest.importorskip("matplotlib")
    from auditor.report.plots import MAX_POINTS, run_curve_data, run_curve_svg
    from auditor.runs.record import Run

    run = Run(id="big", folder="big", metrics={"val/acc": [(s, (s % 97) / 97) for s in range(200_000)]},
              reported={"val/acc": 0.5, "step": 199_999})
    data = run_curve_data(run)
    assert len(data["metrics"]["val/acc"]) <= MAX_POINTS + 2
    assert max(v for _, v in data["metrics"]["val/acc"]) == pytest.approx(96 / 97)  # the peaks survive
    assert len(run_curve_svg(data)) < 400_000


def test_crc32c_is_the_compiled_one_and_agrees_with_the_spec():
    from auditor.runs.readers import tensorboard as tb

    assert tb._compiled_crc32c is not None  # a declared dependency
    data = bytes(range(256)) * 300
    assert tb.crc32c(data) == tb._pure_crc32c(data) and tb.crc32c(b"123456789") == 0xE3069283


def test_without_the_compiled_crc_a_big_event_file_is_read_unchecked_and_says_so(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    from auditor.runs.readers import tensorboard as tb

    writer = SummaryWriter(str(tmp_path))
    for step in range(50):
        writer.add_scalar("val/acc", step / 50, step)
    writer.close()
    paths = [str(p) for p in tmp_path.glob("events.out.tfevents*")]
    monkeypatch.setattr(tb, "_compiled_crc32c", None)
    monkeypatch.setattr(tb, "PURE_PYTHON_CRC_LIMIT", 64)
    problems: list[dict] = []
    metrics = tb.read_scalars(paths, "run", problems)
    assert len(metrics["val/acc"]) == 50
    assert any("CRCs not checked" in p["message"] for p in problems), problems


def test_a_zip_bomb_checkpoint_is_refused_before_inflating(tmp_path):
    import zipfile

    pytest.importorskip("torch")
    from auditor.replay.load import CheckpointError, load_checkpoint

    bomb = tmp_path / "model.pt"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("archive/data/0", b"\0" * (64 * 1024 * 1024))  # 64 MB of zeros: ~64 KB compressed
    assert bomb.stat().st_size < 1024 * 1024
    with pytest.raises(CheckpointError, match="zip bomb"):
        load_checkpoint(bomb)


def test_a_file_of_junk_lines_is_one_problem_with_a_count():
    from auditor.runs.readers.mlflow import parse_metric_lines

    text = "1700000000000 0.5 1\n" + "junk\n" * 20_000 + "1700000000001 0.6 2\n"
    problems: list[dict] = []
    points = parse_metric_lines(text, "mlruns/0/r/metrics/val_acc", problems)
    assert points == [(1, 0.5), (2, 0.6)]
    (problem,) = problems
    assert problem["line"] == 2 and "and 19999 more unparsable line(s)" in problem["message"]


def test_comparisons_yaml_alias_bomb_and_fifo(tmp_path):
    import os

    from auditor.compare.api import load_comparisons
    from auditor.errors import InputError

    (tmp_path / "comparisons.yaml").write_text("- name: x\n  " + LAUGHS.replace("\n", "\n  ").rstrip() + "\n")
    with pytest.raises(InputError, match="alias bomb"):
        load_comparisons(tmp_path)
    (tmp_path / "comparisons.yaml").unlink()
    os.mkfifo(tmp_path / "comparisons.yaml")  # an open would wait for a writer for ever
    with pytest.raises((InputError, OSError), match="FIFO|not a regular file"):
        load_comparisons(tmp_path)
