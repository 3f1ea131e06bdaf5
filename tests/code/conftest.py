"""Fixtures for code-rule tests (helpers live in code_helpers.py)."""

import pytest

from code_helpers import scan_example

from auditor.config import Config


@pytest.fixture
def scan_source(tmp_path):
    """scan_source(example) -> ScanResult, with the default configuration."""
    counter = iter(range(1000))

    def run(example, config: Config | None = None):
        folder = tmp_path / f"ex{next(counter)}"
        return scan_example(example, folder, config)[1]

    return run
