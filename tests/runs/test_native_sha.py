"""The git SHA of a native record is read as the text written, even when YAML would call it a number."""

from __future__ import annotations

import pytest

from auditor.runs.discover import discover_runs

from .helpers import config


@pytest.mark.parametrize("written", ["1234567", "0123456", "00000000"])
def test_unquoted_all_digit_short_sha_is_read_as_written(tmp_path, written):
    folder = tmp_path / "results" / "r"
    folder.mkdir(parents=True)
    (folder / "run.yaml").write_text(f"id: r\nseed: 0\ngit:\n  sha: {written}\n  dirty: false\nconfig: {{lr: 0.1}}\n")
    (run,) = discover_runs(tmp_path / "results", config()).runs
    assert run.git_sha == written
