"""A replay imports the code of the run's own commit, never today's working tree: a function added since is
refused (one RA001 naming it and the SHA), one deleted since still replays, and the working tree's edits to
the evaluate function change nothing. A SHA the repository does not have, or a revision name instead of a
SHA, is one RA001 before any process starts."""

from __future__ import annotations

import dataclasses
import json
import textwrap

import pytest
from repo_helpers import TINY_MODEL, make_repo, tinylab

from auditor.config import Config, ReplaySettings
from auditor.meta import UNREADABLE_COMMIT
from auditor.replay.driver import replay
from auditor.runs.discover import find_run

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

AT_RUN = TINY_MODEL + textwrap.dedent('''\


    def old_build() -> nn.Module:  # deleted after the run
        return build()
''')

TODAY = TINY_MODEL.replace('"val/acc": 0.5', '"val/acc": 0.25') + textwrap.dedent('''\


    def new_build() -> nn.Module:  # added after the run
        return build()
''')


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A repo whose model module changed after the run's commit (committed, then edited again in the tree)."""
    root = tmp_path_factory.mktemp("at-sha")
    repo_dir, (sha, _) = make_repo(root / "repo", [("the run's code", tinylab(AT_RUN)),
                                                   ("old_build removed, new_build added", tinylab(TODAY))])
    (repo_dir / "tinylab" / "newmod.py").write_text("def build():\n    return None\n")  # never committed
    results = root / "results"
    torch.manual_seed(0)
    state = {k: v.contiguous() for k, v in torch.nn.Linear(4, 2).state_dict().items()}
    return root, repo_dir, results, sha, state


def _replay(history, run_id: str, sha: str, model: str):
    root, repo, results, _, state = history
    (results / run_id / "ckpt").mkdir(parents=True)
    safetensors_torch.save_file(state, str(results / run_id / "ckpt" / "model.safetensors"))
    record = {"id": run_id, "seed": 0, "git": {"sha": "0" * 40}, "reported": {"val/acc": 0.5, "step": 1},
              "checkpoint": {"path": "ckpt/model.safetensors"}, "status": {"state": "completed", "exit_code": 0},
              "replay": {"model": model, "evaluate": "tinylab.model:evaluate", "quant": "none"}}
    (results / run_id / "run.json").write_text(json.dumps(record))
    config = Config(root=root, replay=ReplaySettings(), cache_dir_setting=str(root / "cache"))
    # set after reading: a native record refuses a revision name, other trackers' records carry any string
    run = dataclasses.replace(find_run(results, run_id, config), git_sha=sha)
    return replay(run, config, repo)


def test_a_function_deleted_since_the_run_replays_with_the_runs_own_code(history):
    result, findings = _replay(history, "deleted-since", history[3], "tinylab.model:old_build")
    assert result is not None and not findings, findings
    assert result.unquantized == 0.5  # the evaluate of the run's commit, not today's (0.25)
    assert not result.notes
    assert not list((history[0] / "cache" / "replay").iterdir())  # the exported tree went with the job


def test_a_function_added_since_the_run_is_refused(history):
    sha = history[3]
    result, (finding,) = _replay(history, "added-since", sha, "tinylab.model:new_build")
    assert result is None and finding.rule == "RA001"
    assert "tinylab.model:new_build" in finding.message and sha[:12] in finding.message
    assert "has no attribute 'new_build'" in finding.message


def test_a_module_only_in_the_working_tree_is_refused_before_anything_runs(history):
    sha = history[3]
    result, (finding,) = _replay(history, "uncommitted", sha, "tinylab.newmod:build")
    assert result is None and finding.rule == "RA001"
    assert f"no module 'tinylab.newmod' in the repository at {sha[:12]}" in finding.message


@pytest.mark.parametrize("run_id, sha, why", [
    ("unknown-sha", "deadbeef" * 5, "no such commit"),
    ("revision-name", "HEAD", "not a commit SHA"),
])
def test_code_that_cannot_be_read_at_the_sha_is_one_ra001_kept_for_a_retry(history, run_id, sha, why):
    result, (finding,) = _replay(history, run_id, sha, "tinylab.model:build")
    assert result is None and finding.rule == "RA001"
    assert why in finding.message and "cannot be read" in finding.message
    assert finding.evidence[UNREADABLE_COMMIT] == sha


def test_a_record_without_a_sha_replays_the_working_tree_and_says_so(history):
    root, repo, results, _, state = history
    (results / "no-sha" / "ckpt").mkdir(parents=True)
    safetensors_torch.save_file(state, str(results / "no-sha" / "ckpt" / "model.safetensors"))
    record = {"id": "no-sha", "seed": 0, "reported": {"val/acc": 0.25, "step": 1},
              "checkpoint": {"path": "ckpt/model.safetensors"},
              "replay": {"model": "tinylab.model:new_build", "evaluate": "tinylab.model:evaluate", "quant": "none"}}
    (results / "no-sha" / "run.json").write_text(json.dumps(record))
    config = Config(root=root, replay=ReplaySettings(), cache_dir_setting=str(root / "cache"))
    result, findings = replay(find_run(results, "no-sha", config), config, repo)
    assert result is not None and result.unquantized == 0.25, findings
    assert any("no git SHA" in note and "working tree" in note for note in result.notes)


def test_a_repo_subfolder_imports_from_the_same_subfolder_at_the_sha(history, tmp_path):
    """--repo pointing inside the work tree (src/ layouts): module names are relative to that folder."""
    from auditor.replay.code_at_sha import replay_code

    root, repo, _, sha, _ = history
    run = type("R", (), {"git_sha": sha, "id": "r", "record_path": "r/run.json"})()
    code = replay_code(run, (repo / "tinylab").resolve(), tmp_path)
    assert code.root == tmp_path / "code" / "tinylab" and (code.root / "model.py").read_text() == AT_RUN
