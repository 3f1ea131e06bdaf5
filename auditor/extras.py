"""Optional extras: which third-party module comes with which `pip install 'repro-auditor[EXTRA]'`.

A missing extra is the user's setup, not our bug: the command says which extra it needs and exits 2.
Any other import error is a bug (tests import every command module).
"""

from __future__ import annotations

# top-level module -> the extra that installs it (pyproject.toml [project.optional-dependencies])
EXTRA_OF_MODULE = {"torch": "replay", "safetensors": "replay", "matplotlib": "plots", "wandb": "wandb",
                   "ray": "ray", "submitit": "slurm"}


def missing_extra(exc: ImportError) -> str | None:
    """The extra whose absence raised `exc`, or None when `exc` is something else (a bug)."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    return EXTRA_OF_MODULE.get(exc.name.split(".")[0])


def needs_extra(what: str, extra: str) -> str:
    return f"{what} needs the {extra} extra: pip install 'repro-auditor[{extra}]'"
