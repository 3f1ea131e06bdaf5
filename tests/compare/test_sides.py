"""A side of a comparison that logs the metric under another name is an input error, not an empty side."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cli_helpers import run_cli  # noqa: E402
from compare_helpers import write_runs  # noqa: E402

from auditor.compare.examples import group  # noqa: E402


def test_a_side_that_logs_the_metric_under_another_name_is_exit_2_with_the_close_name(tmp_path):
    results = write_runs(tmp_path / "results", group("base", [0.70, 0.71, 0.72], metric="val/accuracy")
                         + group("treat", [0.75, 0.76, 0.77], metric="val/acc"))
    proc = run_cli("compare", "base", "treat", "--results", str(results), "--metric", "val/acc", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout
    assert "no run of 'base' has the metric 'val/acc'" in proc.stderr
    assert "did it log it as 'val/accuracy'?" in proc.stderr and "Traceback" not in proc.stderr


def test_a_side_whose_seeds_all_failed_is_compared_and_says_so(tmp_path):
    failed = {i: ("failed", 1) for i in range(3)}
    results = write_runs(tmp_path / "results", group("base", [0.70, 0.71, 0.72])
                         + group("treat", [None, None, None], states=failed))
    proc = run_cli("compare", "base", "treat", "--results", str(results), "--metric", "val/acc", cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr  # compared (exit 2 is for input that cannot be compared)
    assert "RA313" in proc.stdout and "RA310" in proc.stdout
