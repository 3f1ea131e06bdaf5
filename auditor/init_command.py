"""`audit init [--hook]`: look at the repository and write a commented [tool.auditor] section for it.

What it finds: the trackers' folders (W&B, MLflow, Hydra, TensorBoard, Lightning, native run records),
the entry points (scripts with `if __name__ == "__main__":` or `@hydra.main`), the project's own seed
helpers (functions that seed an RNG) and quantization-hook functions (functions that register forward
hooks and mention quantization). It prints the section, then appends it to pyproject.toml.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import click

from auditor.config import DEFAULT_QUANT_HOOKS, DEFAULT_SEED_HELPERS, find_config_file
from auditor.errors import InputError

# Folder name -> the tool that writes it there by default.
TRACKER_FOLDERS = {"wandb": "W&B", "mlruns": "MLflow", "outputs": "Hydra", "multirun": "Hydra (multirun)",
                   "runs": "TensorBoard", "lightning_logs": "Lightning/TensorBoard", "tb_logs": "TensorBoard",
                   "results": "run records", "experiments": "run records"}
RUN_RECORDS = ("run.yaml", "run.yml", "run.json")
MAX_FILES = 5000  # enough to learn a project's names; a huge tree is not read whole
_SKIP = {".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist", ".tox", "site-packages",
         *TRACKER_FOLDERS}
_SEED_CALLS = {"manual_seed", "manual_seed_all", "seed", "set_seed", "seed_everything"}
_HOOK_CALLS = {"register_forward_pre_hook", "register_forward_hook", "register_module_forward_pre_hook"}


@dataclass
class Findings:
    results: dict[str, str] = field(default_factory=dict)  # folder -> what writes it
    entry_points: list[str] = field(default_factory=list)
    seed_helpers: list[str] = field(default_factory=list)
    quant_hooks: list[str] = field(default_factory=list)


def _python_files(root: Path) -> list[Path]:
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP and not d.startswith(".") and not d.endswith(".egg-info"))
        files += [Path(folder) / n for n in sorted(names) if n.endswith(".py")]
        if len(files) >= MAX_FILES:
            break
    return files[:MAX_FILES]


def _has_records(folder: Path) -> bool:
    return any(next(folder.glob(f"*/{record}"), None) for record in RUN_RECORDS)


def _tracker_folders(root: Path) -> dict[str, str]:
    found = {}
    for name, tool in TRACKER_FOLDERS.items():
        if (root / name).is_dir():
            found[name] = "run records" if _has_records(root / name) else tool
    for child in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in _SKIP and not p.name.startswith(".")):
        if _has_records(child):
            found.setdefault(child.name, "run records")
    return found


def _seeds_a_parameter(node: ast.FunctionDef) -> bool:
    """A seed helper: it passes one of its own parameters to a seeding call (`torch.manual_seed(seed)`);
    a `main()` that seeds with a constant is an entry point, not a helper."""
    params = {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            used = {n.id for arg in (*call.args, *(k.value for k in call.keywords)) for n in ast.walk(arg)
                    if isinstance(n, ast.Name)}
            if name in _SEED_CALLS and used & params:
                return True
    return False


def _called_names(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def _is_entry(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.If) and "__name__" in ast.unparse(node.test) and "__main__" in ast.unparse(node.test):
            return True
        if isinstance(node, ast.FunctionDef) and any("hydra.main" in ast.unparse(d) for d in node.decorator_list):
            return True
    return False


def inspect(root: Path) -> Findings:
    found = Findings(results=_tracker_folders(root))
    seeds, hooks = set(), set()
    for path in _python_files(root):
        try:
            tree = ast.parse(path.read_bytes(), str(path))
        except (SyntaxError, ValueError, OSError):
            continue  # `audit scan` reports unreadable files; init only learns names
        rel = path.relative_to(root).as_posix()
        if _is_entry(tree) and not rel.startswith(("tests/", "test/")) and not path.name.startswith("test_"):
            found.entry_points.append(rel)
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("test"):
                continue
            called = _called_names(node)
            if _seeds_a_parameter(node) and node.name not in _SEED_CALLS and node.name not in DEFAULT_SEED_HELPERS:
                seeds.add(node.name)
            if called & _HOOK_CALLS and re.search(r"quant|fp4|fp8|int8|int4", node.name + ast.unparse(node), re.I) \
                    and node.name not in DEFAULT_QUANT_HOOKS:
                hooks.add(node.name)
    found.seed_helpers, found.quant_hooks = sorted(seeds), sorted(hooks)
    return found


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items) + "]"


def render_section(found: Findings) -> str:
    """The [tool.auditor] text: every setting with a comment saying where it came from."""
    if len(found.results) == 1:
        results = list(found.results)
    else:
        results = ["."] if found.results else []
    where = ", ".join(f"{name}/ ({tool})" for name, tool in found.results.items()) or "none found"
    lines = ["[tool.auditor]",
             f"# Results folders the run commands read (--results overrides). Found: {where}.",
             "# One folder is passed as --results; \".\" finds every tracker's default folder below the repository."]
    lines.append(f"results = {_toml_list(results)}" if results else '# results = ["outputs"]')
    lines.append("# Scripts that start training or evaluation: seeding and validation are checked from them.")
    lines.append(f"entry-points = {_toml_list(found.entry_points)}" if found.entry_points
                 else '# entry-points = ["train.py"]')
    lines.append("# The project's own functions that seed the RNGs (added to the built-in names).")
    lines.append(f"seed-helpers = {_toml_list(found.seed_helpers)}" if found.seed_helpers
                 else '# seed-helpers = ["my_seed"]')
    lines.append("# The project's own functions that install quantization hooks on a model (added to the built-in names).")
    lines.append(f"quant-hooks = {_toml_list(found.quant_hooks)}" if found.quant_hooks
                 else '# quant-hooks = ["apply_my_quant"]')
    lines += ["# Exit 1 at or above this severity (error, warning, info).", 'fail-on = "error"',
              "# Rules to leave out, e.g. ignore = [\"RA160\"]; per file: per-path-ignores = {\"tests/*\" = [\"RA110\"]}.",
              ""]
    return "\n".join(lines)


@click.command()
@click.option("--repo", type=click.Path(file_okay=False, exists=True), default=".", show_default=True,
              help="The project's folder (where pyproject.toml is or will be).")
@click.option("--yes", "-y", is_flag=True, help="Write without asking.")
@click.option("--dry-run", is_flag=True, help="Only print the section.")
@click.option("--hook", "with_hook", is_flag=True, help="Also install the pre-commit hook (`audit hook install`).")
def init(repo, yes, dry_run, with_hook):
    """Write a commented [tool.auditor] section for this repository into pyproject.toml."""
    root = Path(repo).resolve()
    existing = find_config_file(root)
    if existing is not None and existing.parent == root:
        raise InputError("an auditor configuration already exists; edit it (or remove it to start again)",
                         path=str(existing))
    section = render_section(inspect(root))
    target = root / "pyproject.toml"
    click.echo(f"# for {target}\n{section}")
    if dry_run:
        return
    if not yes and not click.confirm(f"Append this to {target}?", default=True):
        raise SystemExit(0)
    text = target.read_text(encoding="utf-8") if target.exists() else ""
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(("\n" if text and not text.endswith("\n\n") else "") + section)
    click.echo(f"wrote [tool.auditor] to {target}")
    if with_hook:
        from auditor.hooks import install_set

        for path, _ in install_set(root, "pre-commit"):
            click.echo(f"installed the {path.name} hook: {path}")
