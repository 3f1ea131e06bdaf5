import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own cache dir: no state leaks between tests or into the user's ~/.cache."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("NO_COLOR", "1")
    yield


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None):
    """Run `python -m auditor` in a subprocess, the way users and CI do."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "auditor", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=600)
