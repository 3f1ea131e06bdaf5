"""Shared by the tests of every area: the command line as users run it."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None):
    """Run `python -m auditor` in a subprocess, the way users and CI do."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "auditor", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=600)


def without_torch(folder: Path) -> dict[str, str]:
    """Environment variables for a subprocess on which `import torch` (and safetensors) fails as it does
    where the replay extra is not installed."""
    for name in ("torch", "safetensors"):
        package = folder / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{name}'\", name={name!r})\n", encoding="utf-8")
    return {"PYTHONPATH": str(folder)}
