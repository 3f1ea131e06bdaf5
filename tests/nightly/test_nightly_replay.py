"""The nightly replays checkpoints: a tiny real torch model, committed to a real git repo, saved as
safetensors, declared with `replay` in two run records. One reports the score measured without the declared
MXFP4 W4A4 quantization (the E13j story): RA401. The other reports the honest W4A4 score: no RA401.
A second nightly takes the replays from the state; a rewritten checkpoint is replayed again."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import git
import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from cli_helpers import run_cli  # noqa: E402
from repo_helpers import make_repo, tinylab  # noqa: E402

MODEL = textwrap.dedent('''\
    import torch
    from torch import nn


    def build() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))


    def _data():
        g = torch.Generator().manual_seed(1)
        x = torch.randn(512, 32, generator=g)
        x[:, 0] += 8.0  # one large feature sets each MX block's scale: 4-bit blurs the others
        return x


    def evaluate(model: nn.Module) -> dict:
        """Agreement with the full-precision model: 1.0 unquantized, visibly less under MXFP4 W4A4."""
        x = _data()
        with torch.no_grad():
            labels = build()(x).argmax(dim=1)
            agree = (model(x).argmax(dim=1) == labels).float().mean().item()
        return {"val/acc": round(agree, 4)}
''')


def _load(repo: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("nightly_replay_tinylab", repo / "tinylab" / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(run_id: str, sha: str, score: float) -> dict:
    return {"id": run_id, "group": run_id.split("-")[0], "seed": 0, "git": {"sha": sha, "dirty": False},
            "config": {"quant": "mxfp4-w4a4", "max_steps": 10}, "train": {"max_steps": 10},
            "status": {"state": "completed", "exit_code": 0, "elapsed_s": 3},
            "eval": {"quant": "mxfp4-w4a4", "dataset": "synthetic", "framework": "v1"},
            "metrics": {"val/acc": [[0, 0.1], [10, score]]}, "reported": {"val/acc": score, "step": 10},
            "checkpoint": {"path": "ckpt/model.safetensors"},
            "replay": {"model": "tinylab.model:build", "evaluate": "tinylab.model:evaluate", "quant": "mxfp4-w4a4"}}


@pytest.fixture
def replay_lab(tmp_path):
    from auditor.replay.apply import apply_quant

    repo_dir, (sha,) = make_repo(tmp_path / "repo", [("tiny model", tinylab(MODEL))])

    tiny = _load(repo_dir)
    plain = tiny.evaluate(tiny.build())["val/acc"]
    quantized = tiny.evaluate(apply_quant(tiny.build(), "mxfp4-w4a4")[0])["val/acc"]
    assert plain - quantized > 0.03, (plain, quantized)  # the quantization visibly matters for this model
    state = {k: v.contiguous() for k, v in tiny.build().state_dict().items()}
    results = tmp_path / "results"
    for run_id, score in (("bf16eval-s0", plain), ("honest-s0", quantized)):
        (results / run_id / "ckpt").mkdir(parents=True)
        safetensors_torch.save_file(state, str(results / run_id / "ckpt" / "model.safetensors"))
        (results / run_id / "run.json").write_text(json.dumps(_record(run_id, sha, score)))
    return tmp_path, repo_dir, results, state


def _nightly(root: Path, repo: Path, results: Path, *extra: str, jobs: int = 1):
    proc = run_cli("nightly", str(results), "--repo", str(repo), "--out", str(root / "out"), "--jobs", str(jobs),
                   "-v", *extra, cwd=root, env={"XDG_CACHE_HOME": str(root / "cache")})
    assert proc.returncode in (0, 1), proc.stderr
    findings = json.loads((root / "out" / "findings.json").read_text())["findings"]
    return proc, findings


def _ra401(findings: list[dict]) -> dict[str, dict]:
    return {f["location"]["run"]: f for f in findings if f["rule"] == "RA401"}


def test_nightly_replays_checkpoints_and_flags_the_unquantized_score(replay_lab):
    root, repo, results, state = replay_lab
    proc, findings = _nightly(root, repo, results, jobs=2)  # two replays: in the process pool
    assert "replays: 2 (2 run)" in proc.stderr
    ra401 = _ra401(findings)
    assert set(ra401) == {"bf16eval-s0"}, findings
    evidence = ra401["bf16eval-s0"]["evidence"]
    assert evidence["replay_unquantized"] == pytest.approx(1.0)  # the reported number is the unquantized one
    assert not [f for f in findings if f["rule"] in ("RA001", "RA403")], findings

    proc, again = _nightly(root, repo, results)
    assert "replays: 2 (0 run)" in proc.stderr  # unchanged runs and checkpoints: from the state
    assert again == findings

    # A new checkpoint for the honest run (last layer zeroed): it is replayed again, the other is not.
    changed = {k: (torch.zeros_like(v) if k == "2.weight" else v) for k, v in state.items()}
    safetensors_torch.save_file(changed, str(results / "honest-s0" / "ckpt" / "model.safetensors"))
    proc, third = _nightly(root, repo, results)
    assert "replays: 2 (1 run)" in proc.stderr
    assert set(_ra401(third)) == {"bf16eval-s0", "honest-s0"}

    # The evaluate function edited (and committed) in the repo after the runs: a replay imports the code of
    # the run's own commit, so neither is replayed again and the numbers stay those of the runs' code.
    model_py = repo / "tinylab" / "model.py"
    model_py.write_text(model_py.read_text().replace("round(agree, 4)", "round(agree / 2, 4)"))
    with git.Repo(repo) as handle:
        handle.index.add(["tinylab/model.py"])
        handle.index.commit("evaluate halved")
    proc, fourth = _nightly(root, repo, results)
    assert "replays: 2 (0 run)" in proc.stderr
    assert _ra401(fourth)["bf16eval-s0"]["evidence"]["replay_unquantized"] == pytest.approx(1.0)


def test_no_replay_skips_them(replay_lab):
    root, repo, results, _ = replay_lab
    proc, findings = _nightly(root, repo, results, "--no-replay")
    assert "replays: 0 (0 run)" in proc.stderr and not _ra401(findings)
