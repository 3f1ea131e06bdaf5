"""Fixes: every rule's `fixes` examples (before -> after) run through the real scan and fix engine; the
engine's promises (only scanned files, no symlinks, no results folders, atomic writes keeping the mode and
line endings, idempotent, "not fixed" reported) through `audit scan` as users run it."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from cli_helpers import run_cli

from auditor.code import fix as fixing
from auditor.code.discover import discover
from auditor.code.scan import scan_paths
from auditor.config import Config
from auditor.registry import all_rule_classes


def _text(source: str) -> str:
    return textwrap.dedent(source).lstrip("\n")


def _cases():
    for rule_id, cls in all_rule_classes().items():
        for number, example in enumerate(getattr(cls, "fixes", ())):
            safety = example[2] if len(example) > 2 else getattr(cls, "fix_safety", "unsafe")
            yield pytest.param(rule_id, _text(example[0]), _text(example[1]), safety, id=f"{rule_id}-fix{number}")


def _fix(folder: Path, rule_id: str, unsafe: bool) -> fixing.Outcome:
    config = Config(root=folder)

    def rescan():
        result = scan_paths([folder], config, use_cache=False, jobs=1)
        return result, result.findings

    files = {c.path: Path(c.full) for c in discover([folder], folder, config)}
    _, findings = rescan()
    return fixing.fix_until_stable(findings, files, config, rescan, unsafe=unsafe, only={rule_id})


def test_the_rules_that_must_offer_fixes_do():
    rules = all_rule_classes()
    for rule_id in ("RA002", "RA101", "RA102", "RA110", "RA111", "RA120", "RA170"):
        assert callable(getattr(rules[rule_id], "fix", None)) and rules[rule_id].fixes, rule_id


@pytest.mark.parametrize("rule_id, before, after, safety", list(_cases()))
def test_fix_example(rule_id, before, after, safety, tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    target = folder / "example.py"
    target.write_text(before, encoding="utf-8")
    flagged = [f for f in scan_paths([folder], Config(root=folder), use_cache=False, jobs=1).findings if f.rule == rule_id]
    assert flagged, f"the example's `before` must be flagged by {rule_id}"

    _fix(folder, rule_id, unsafe=False)  # --fix: only what keeps behaviour
    assert target.read_text(encoding="utf-8") == (after if safety == "safe" else before)

    outcome = _fix(folder, rule_id, unsafe=True)  # --unsafe-fixes
    assert target.read_text(encoding="utf-8") == after
    assert not [f for f in outcome.findings if f.rule == rule_id], "the fix must remove the finding"
    assert not [f for f in outcome.findings if f.rule == "RA001"], "the fixed file must still parse"

    again = _fix(folder, rule_id, unsafe=True)  # idempotent
    assert not any(p.changed for p in again.rounds[0]) and target.read_text(encoding="utf-8") == after


# -- the command line --------------------------------------------------------------------------------------

UNSAFE_LOAD = "import torch\n\n\ndef restore(model, path):\n    model.load_state_dict(torch.load(path))  # ours\n"
SAFE_LOAD = "import torch\n\n\ndef restore(model, path):\n    model.load_state_dict(torch.load(path, weights_only=True))  # ours\n"


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(text.encode())
    (root / "pyproject.toml").write_text("[tool.auditor]\n")
    return root


def _scan(root: Path, *args: str):
    return run_cli("scan", ".", "--no-cache", *args, cwd=root, env={"XDG_CACHE_HOME": str(root.parent / "cache")})


def test_fix_writes_the_safe_fix_and_reports_what_remains(tmp_path):
    root = _project(tmp_path, {"train.py": UNSAFE_LOAD, "other.py": "import pickle\nx = pickle.load(open('a', 'rb'))\n"})
    os.chmod(root / "train.py", 0o755)
    done = _scan(root, "--fix", "--fail-on", "warning")
    assert (root / "train.py").read_text() == SAFE_LOAD
    assert os.stat(root / "train.py").st_mode & 0o777 == 0o755
    assert "Fixed 1 finding(s) in 1 file(s)." in done.stdout
    remains = done.stdout.split("Scanned")[1]  # the report after the fix: what remains
    assert "other.py\n  2:5 warning RA170 pickle.load()" in remains and "train.py" not in remains
    assert done.returncode == 1  # the pickle.load is still there
    assert not [p for p in root.iterdir() if p.name.endswith(".audit-fix")]  # no temporary file left
    again = _scan(root, "--fix")
    assert "Fixed 0 finding(s) in 0 file(s)." in again.stdout and (root / "train.py").read_text() == SAFE_LOAD


def test_unsafe_fixes_are_left_to_unsafe_fixes(tmp_path):
    source = ("def fit(model, opt, steps, every):\n    for step in range(steps):\n        model(step).backward()\n"
              "        opt.step()\n        if step % every == 0:\n            validate(model)\n")
    root = _project(tmp_path, {"fit.py": source})
    done = _scan(root, "--fix")
    assert (root / "fit.py").read_text() == source
    assert "1 more fixable with --unsafe-fixes" in done.stdout
    _scan(root, "--unsafe-fixes")
    assert "if step % every == 0 or step == steps - 1:" in (root / "fit.py").read_text()


def test_diff_fixes_prints_the_patch_and_writes_nothing(tmp_path):
    root = _project(tmp_path, {"train.py": UNSAFE_LOAD})
    done = _scan(root, "--diff-fixes")
    assert done.returncode == 1
    assert "--- a/train.py\n+++ b/train.py\n" in done.stdout
    assert "-    model.load_state_dict(torch.load(path))  # ours\n" in done.stdout
    assert "+    model.load_state_dict(torch.load(path, weights_only=True))  # ours\n" in done.stdout
    assert (root / "train.py").read_text() == UNSAFE_LOAD
    (root / "train.py").write_text(SAFE_LOAD)
    assert _scan(root, "--diff-fixes").returncode == 0


def test_add_ignore_suppresses_every_finding_once(tmp_path):
    source = ("import pickle\nimport torch\n"
              "a = pickle.load(open('a', 'rb'))  # noqa: S301\n"
              "b = torch.load(\n    'b.pt')\n"
              "c = torch.load('c.pt')  # audit: ignore[RA101] stale reason\n")
    root = _project(tmp_path, {"load.py": source})
    done = _scan(root, "--add-ignore", "--ignore-reason", "legacy loader")
    text = (root / "load.py").read_text()
    assert text == ("import pickle\nimport torch\n"
                    "a = pickle.load(open('a', 'rb'))  # noqa: S301  # audit: ignore[RA170] legacy loader\n"
                    "b = torch.load(  # audit: ignore[RA170] legacy loader\n    'b.pt')\n"
                    "c = torch.load('c.pt')  # audit: ignore[RA101,RA170] stale reason\n")
    assert done.returncode == 0 and "Added ignore comments for 3 finding(s)." in done.stdout
    # the stale RA101 entry is still reported (RA002), and --fix removes it
    assert "RA002" in done.stdout
    _scan(root, "--fix")
    assert (root / "load.py").read_text().endswith("c = torch.load('c.pt')  # audit: ignore[RA170] stale reason\n")
    assert _scan(root, "--add-ignore").stdout.count("Added ignore comments") == 0


def test_fix_keeps_crlf_line_endings_and_a_byte_order_mark(tmp_path):
    root = _project(tmp_path, {})
    (root / "train.py").write_bytes(b"\xef\xbb\xbf" + UNSAFE_LOAD.replace("\n", "\r\n").encode())
    _scan(root, "--fix")
    assert (root / "train.py").read_bytes() == b"\xef\xbb\xbf" + SAFE_LOAD.replace("\n", "\r\n").encode()


def test_fix_writes_a_file_back_in_the_encoding_it_declares(tmp_path):
    root = _project(tmp_path, {})
    declared = "# -*- coding: latin-1 -*-\n# caf\u00e9 au lait\n"
    (root / "train.py").write_bytes((declared + UNSAFE_LOAD).encode("latin-1"))
    _scan(root, "--fix")
    assert (root / "train.py").read_bytes() == (declared + SAFE_LOAD).encode("latin-1")
    # a reason latin-1 cannot hold is not written: the finding stays, and the file is as it was
    (root / "train.py").write_bytes((declared + UNSAFE_LOAD).encode("latin-1"))
    done = _scan(root, "--add-ignore", "--ignore-reason", "\u6b63\u3057\u3044")
    assert (root / "train.py").read_bytes() == (declared + UNSAFE_LOAD).encode("latin-1")
    assert "cannot be written in the file's encoding (iso-8859-1)" in done.stdout + done.stderr


def test_fix_writes_only_the_files_asked_for(tmp_path):
    root = _project(tmp_path, {"train.py": UNSAFE_LOAD, "lib/load.py": UNSAFE_LOAD})
    run_cli("scan", "train.py", "--no-cache", "--fix", cwd=root, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert (root / "train.py").read_text() == SAFE_LOAD
    assert (root / "lib/load.py").read_text() == UNSAFE_LOAD


def test_fix_never_writes_through_a_symlink_or_into_a_results_folder(tmp_path):
    root = _project(tmp_path, {"real/train.py": UNSAFE_LOAD, "results/run-1/code/train.py": UNSAFE_LOAD,
                               "results/run-1/run.json": "{}"})
    (root / "linked.py").symlink_to(root / "real" / "train.py")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    for target in ("linked.py", "alias/train.py", "results/run-1/code/train.py"):
        done = run_cli("scan", target, "--no-cache", "--fix", cwd=root, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
        assert "not fixed:" in done.stdout and "not written" in done.stdout, (target, done.stdout, done.stderr)
    assert (root / "real/train.py").read_text() == UNSAFE_LOAD
    assert (root / "results/run-1/code/train.py").read_text() == UNSAFE_LOAD


def test_a_finding_the_fixer_cannot_place_is_reported_not_fixed(tmp_path):
    source = ("class T:\n    def fit(self):\n        for batch in self.loader:\n            self.loss(batch).backward()\n"
              "            if self.global_steps % self.test_freq == 0:\n                self._validate()\n")
    root = _project(tmp_path, {"fit.py": source})
    done = _scan(root, "--unsafe-fixes")
    assert (root / "fit.py").read_text() == source
    assert "not fixed: fit.py:5 RA102: no last-step test follows from the loop" in done.stdout


def test_fix_options_that_cannot_go_together(tmp_path):
    root = _project(tmp_path, {"train.py": UNSAFE_LOAD})
    assert _scan(root, "--fix", "--rev", "HEAD").returncode == 2
    assert _scan(root, "--ignore-reason", "x").returncode == 2


def test_seeding_fix_then_determinism_fix_in_one_run(tmp_path):
    """Seeding the entry point brings out RA120's entry-point finding; the next round fixes it too."""
    source = ("import torch\n\n\ndef main(seed=3):\n    model = torch.nn.Linear(2, 2)\n"
              "    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
              "    model(torch.randn(3, 2)).sum().backward()\n    opt.step()\n\n\nif __name__ == \"__main__\":\n"
              "    main()\n")
    root = _project(tmp_path, {"train.py": source})
    done = _scan(root, "--unsafe-fixes")
    text = (root / "train.py").read_text()
    assert "def main(seed=3):\n    torch.manual_seed(seed)\n" in text
    assert "    torch.backends.cudnn.deterministic = True\n    main()\n" in text
    assert "RA110" not in done.stdout.split("Scanned")[1] and "RA120" not in done.stdout.split("Scanned")[1]
    again = _scan(root, "--unsafe-fixes")
    assert (root / "train.py").read_text() == text and "Fixed 0 finding(s)" in again.stdout


def test_fix_with_diff_base_fixes_only_what_changed(tmp_path):
    import git

    root = _project(tmp_path, {"old.py": UNSAFE_LOAD})
    repo = git.Repo.init(root, initial_branch="main")
    actor = git.Actor("T", "t@example.org")
    repo.index.add(["old.py", "pyproject.toml"])
    repo.index.commit("base", author=actor, committer=actor)
    (root / "new.py").write_text(UNSAFE_LOAD)
    done = _scan(root, "--diff", "main", "--fix")
    assert (root / "new.py").read_text() == SAFE_LOAD
    assert (root / "old.py").read_text() == UNSAFE_LOAD  # not changed since main: not reported, not fixed
    assert "Fixed 1 finding(s) in 1 file(s)." in done.stdout


def test_fix_with_json_output_keeps_the_summary_out_of_the_report(tmp_path):
    import json

    root = _project(tmp_path, {"train.py": UNSAFE_LOAD, "other.py": "import pickle\nx = pickle.load(open('a', 'rb'))\n"})
    done = _scan(root, "--fix", "--format", "json")
    report = json.loads(done.stdout)
    assert [(f["rule"], f["location"]["path"]) for f in report["findings"]] == [("RA170", "other.py")]
    assert "Fixed 1 finding(s) in 1 file(s)." in done.stderr


STALE_IGNORE = ("import torch\n\n\ndef restore(model, path):\n"
                "    model.load_state_dict(torch.load(path, weights_only=True))  # audit: ignore[RA170] ours\n")


def test_fixing_many_files_in_worker_processes_writes_what_one_process_writes(tmp_path):
    """Twelve files (a code fix, a comment fix, both in one file, an ignore comment for what has no fix): the
    pool's bytes and report are the serial run's."""
    unfixable = "import pickle\nx = pickle.load(open('a', 'rb'))\n"
    files = {f"pkg/m{n}.py": (UNSAFE_LOAD, STALE_IGNORE, UNSAFE_LOAD + STALE_IGNORE.replace("restore", "again"),
                              unfixable)[n % 4] for n in range(12)}
    runs = {}
    for jobs in ("1", "2"):
        (tmp_path / f"jobs{jobs}").mkdir()
        root = _project(tmp_path / f"jobs{jobs}", files)
        done = _scan(root, "--fix", "--add-ignore", "-j", jobs)
        runs[jobs] = (done.stdout, {rel: (root / rel).read_bytes() for rel in files})
    assert runs["1"] == runs["2"]
    stdout, written = runs["2"]
    assert "Fixed 12 finding(s) in 12 file(s)." in stdout and "Added ignore comments for 3 finding(s)." in stdout
    assert written["pkg/m0.py"] == SAFE_LOAD.encode()
    assert written["pkg/m1.py"] == STALE_IGNORE.split("  # audit")[0].encode() + b"\n"
    assert written["pkg/m3.py"].endswith(b"  # audit: ignore[RA170] " + fixing.DEFAULT_IGNORE_REASON.encode() + b"\n")


def test_nothing_to_fix_loads_no_libcst(tmp_path):
    """libcst (about 0.3 s to import) is loaded only when there is something to fix."""
    import subprocess
    import sys

    root = _project(tmp_path, {"train.py": SAFE_LOAD})
    probe = ("import sys\nfrom auditor.cli import main\n"
             "try:\n    main(['scan', '.', '--no-cache', '--fix'])\nexcept SystemExit:\n    pass\n"
             "print('libcst loaded' if 'libcst' in sys.modules else 'libcst not loaded')\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert "Fixed 0 finding(s) in 0 file(s)." in done.stdout
    assert done.stdout.rstrip().endswith("libcst not loaded")
