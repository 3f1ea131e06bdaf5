"""`.pre-commit-hooks.yaml` through the real pre-commit framework: the project is copied into a temp git
repo (pre-commit installs hooks from a committed revision), a user repo points at it, and real
`git commit`s go through pre-commit's own hook. This installs the auditor into pre-commit's virtualenv
(from the configured package index / wheel folders), so it takes a while."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "nightly"))
from nightly_lab import TRAINER_OK, TRAINER_SKIP  # noqa: E402

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
GIT_ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check,
                          env={**os.environ, **GIT_ENV})


def _snapshot_project(dest: Path) -> str:
    """The project's packaging and sources (what pip needs), committed in a fresh repo; returns the SHA."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split("\n")
    wanted = ("auditor/", "rules/", "pyproject.toml", "setup.py", "README.md", "constraints.txt",
              ".pre-commit-hooks.yaml")
    for rel in listed:
        if rel and rel.startswith(wanted) and (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-qm", "snapshot")
    return _git(dest, "rev-parse", "HEAD").stdout.strip()


@pytest.mark.skipif(not PRE_COMMIT.exists(), reason="the pre-commit package is not installed in this environment")
def test_manifest_is_valid_and_names_the_scan():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "repro-auditor")
    assert hook["entry"] == "audit scan --staged" and hook["language"] == "python"
    push = next(h for h in hooks if h["id"] == "repro-auditor-push")
    assert push["entry"] == "audit hook pre-push" and push["stages"] == ["pre-push"]
    # every commit, not only those staging a .py file: the hook compares the whole index with HEAD
    assert "types" not in hook and hook["always_run"] is True and hook["pass_filenames"] is False
    assert "pre-merge-commit" in hook["stages"]
    assert "types" not in push and push["always_run"] is True
    proc = subprocess.run([str(PRE_COMMIT), "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(not PRE_COMMIT.exists(), reason="the pre-commit package is not installed in this environment")
def test_pre_commit_framework_blocks_the_verl_skip(tmp_path):
    project = tmp_path / "auditor-src"
    project.mkdir()
    rev = _snapshot_project(project)

    user = _user_repo(tmp_path, yaml.safe_dump(
        {"repos": [{"repo": str(project), "rev": rev, "hooks": [{"id": "repro-auditor"}]}]}))

    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    install = subprocess.run([str(PRE_COMMIT), "install"], cwd=user, capture_output=True, text=True, env=env)
    assert install.returncode == 0, install.stdout + install.stderr

    (user / "trainer" / "ray_trainer.py").write_text(TRAINER_SKIP)
    _git(user, "add", "-A")
    blocked = subprocess.run(["git", "commit", "-m", "skip final validation"], cwd=user, capture_output=True,
                             text=True, env=env, timeout=900)
    output = blocked.stdout + blocked.stderr
    if blocked.returncode != 0 and "CalledProcessError" in output and "RA101" not in output:
        pytest.skip(f"pre-commit could not build the hook's environment (no package index?): {output[-500:]}")
    assert blocked.returncode != 0, output
    assert "repro-auditor" in output and "Failed" in output and "RA101" in output
    assert _git(user, "log", "--format=%s", "-1").stdout.strip() == "start"

    (user / "trainer" / "ray_trainer.py").write_text(TRAINER_OK + "\n\ndef helper():\n    return 1\n")
    _git(user, "add", "-A")
    passed = subprocess.run(["git", "commit", "-m", "a helper"], cwd=user, capture_output=True, text=True, env=env,
                            timeout=900)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout + passed.stderr
    _a_commit_without_python_files_is_checked(user, env)


# The only seeding is in a helper module: `git rm` of it stages no .py file, yet leaves train.py unseeded.
SEED_HELPER = ("import random\n\nimport numpy as np\nimport torch\n\n\ndef init_rng(seed):\n    random.seed(seed)\n"
               "    np.random.seed(seed)\n    torch.manual_seed(seed)\n")
SEEDED_MAIN = ("import numpy as np\nimport torch\n\nfrom utils import init_rng\n\n\ndef main():\n    init_rng(0)\n"
               "    model = torch.nn.Linear(4, 1)\n    idx = np.random.permutation(100)\n    return model, idx\n\n\n"
               "if __name__ == \"__main__\":\n    main()\n")


def _a_commit_without_python_files_is_checked(user: Path, env: dict) -> None:
    (user / "utils.py").write_text(SEED_HELPER)
    (user / "train.py").write_text(SEEDED_MAIN)
    _git(user, "add", "-A")
    seeded = subprocess.run(["git", "commit", "-m", "seeded entry point"], cwd=user, capture_output=True, text=True,
                            env=env, timeout=900)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    _git(user, "rm", "-q", "utils.py")
    blocked = subprocess.run(["git", "commit", "-m", "drop the rng helper"], cwd=user, capture_output=True,
                             text=True, env=env, timeout=900)
    output = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0 and "RA110" in output and "Failed" in output, output
    assert _git(user, "log", "--format=%s", "-1").stdout.strip() == "seeded entry point"


def _documented_local_config() -> str:
    """The first `.pre-commit-config.yaml` snippet of docs/usage-hooks.md, exactly as a user copies it."""
    text = (ROOT / "docs" / "usage-hooks.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert "repo: local" in block
    return block


def _user_repo(tmp_path: Path, config: str) -> Path:
    user = tmp_path / "user-repo"
    (user / "trainer").mkdir(parents=True)
    (user / "trainer" / "ray_trainer.py").write_text(TRAINER_OK)
    (user / ".pre-commit-config.yaml").write_text(config)
    _git(user, "init", "-q")
    _git(user, "add", "-A")
    _git(user, "commit", "-qm", "start")
    return user


@pytest.mark.skipif(not PRE_COMMIT.exists(), reason="the pre-commit package is not installed in this environment")
def test_the_documented_local_snippet_works_as_written(tmp_path):
    user = _user_repo(tmp_path, _documented_local_config())
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    install = subprocess.run([str(PRE_COMMIT), "install"], cwd=user, capture_output=True, text=True, env=env)
    assert install.returncode == 0, install.stdout + install.stderr
    (user / "trainer" / "ray_trainer.py").write_text(TRAINER_SKIP)
    _git(user, "add", "-A")
    blocked = subprocess.run(["git", "commit", "-m", "skip final validation"], cwd=user, capture_output=True,
                             text=True, env=env, timeout=600)
    output = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0 and "RA101" in output and "Failed" in output, output
    assert _git(user, "log", "--format=%s", "-1").stdout.strip() == "start"
    (user / "trainer" / "ray_trainer.py").write_text(TRAINER_OK)
    _a_commit_without_python_files_is_checked(user, env)


@pytest.mark.skipif(not PRE_COMMIT.exists(), reason="the pre-commit package is not installed in this environment")
def test_try_repo_against_a_clone(tmp_path):
    """`pre-commit try-repo <clone> repro-auditor`, as docs/usage-hooks.md tells users to try it first."""
    project = tmp_path / "auditor-src"
    project.mkdir()
    _snapshot_project(project)
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(project), str(clone))
    user = _user_repo(tmp_path, "repos: []\n")
    (user / "trainer" / "ray_trainer.py").write_text(TRAINER_SKIP)
    _git(user, "add", "-A")
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    proc = subprocess.run([str(PRE_COMMIT), "try-repo", str(clone), "repro-auditor"], cwd=user, capture_output=True,
                          text=True, env=env, timeout=900)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and "CalledProcessError" in output and "RA101" not in output:
        pytest.skip(f"pre-commit could not build the hook's environment (no package index?): {output[-500:]}")
    assert proc.returncode != 0 and "RA101" in output, output
