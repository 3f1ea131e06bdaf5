"""The demo's runs part on a stand-in demo repo (the real one comes from the code part): its commands work."""

import importlib.util
import json
import sys

import pytest
from cli_helpers import ROOT, run_cli
from repo_helpers import make_repo

TRAIN = "from lab.trainer import fit\n\nfit()\n"
TRAINER = "import torch\n\n\ndef fit():\n    return torch.zeros(1)\n"
TRAINER_DIAG = "import torch\nfrom lab.diag import cd_diag\n\n\ndef fit():\n    cd_diag()\n    return torch.zeros(1)\n"
DIAG = "import torch\n\n\ndef cd_diag():\n    return torch.load('energy_head.pt')\n"

STAND_IN = [
    ("baseline: NCE trainer", {"train.py": TRAIN, "lab/__init__.py": "", "lab/trainer.py": TRAINER}),
    ("add CD-DIAG diagnostics", {"lab/trainer.py": TRAINER_DIAG, "lab/diag.py": DIAG}),
    ("skip final validation", {"lab/trainer.py": TRAINER_DIAG + "\n# skip\n"}),
    ("docs", {"README.md": "lab\n"}),
]


def _demo_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    demo = _demo_module("demo_for_test", ROOT / "fixtures" / "demo" / "demo.py")
    lab = demo.Lab(root=root, repo=root / "lab-repo", results=root / "results", out=root / "report")
    lab.results.mkdir()
    _, shas = make_repo(lab.repo, STAND_IN)
    lab.shas.update(dict(zip(["baseline", "diagnostics", "skip-final-val", "head"], shas, strict=False)))
    part = demo.load_part("runs")
    part.build(lab)
    return lab, part


def _run(lab, part, index, *extra):
    lab_obj, _ = lab, part
    values = {"repo": str(lab_obj.repo), "results": str(lab_obj.results), "out": str(lab_obj.out), "lab": str(lab_obj.root)}
    argv = [a.format(**values) for a in part.COMMANDS[index][1]]
    return run_cli(*argv, *extra, cwd=lab_obj.repo)


def test_runs_written_as_native_records(lab):
    lab_obj, _ = lab
    ids = sorted(p.name for p in lab_obj.results.iterdir())
    assert ids == ["burgers-golden-r4", "q101-s0", "q101-s1", "q201-s0", "q201-s1", "q201-s2", "q201-s3"]
    s2 = json.loads((lab_obj.results / "q201-s2" / "run.json").read_text())
    assert s2["status"] == {"state": "failed", "exit_code": 120, "elapsed_s": 4240} and s2["metrics"]["val/mse"]


def test_failed_seed_run_command(lab):
    lab_obj, part = lab
    proc = _run(lab_obj, part, 0)
    assert proc.returncode in (0, 1), proc.stderr
    assert "run q201-s2 (group q201)" in proc.stdout and "failed (exit 120)" in proc.stdout
    assert lab_obj.shas["diagnostics"][:10] in proc.stdout
    assert "lab/diag.py" in proc.stdout  # the diagnostics' hazard is in the code at this run's SHA


def test_q101_q201_diff_command(lab):
    lab_obj, part = lab
    proc = _run(lab_obj, part, 1, "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    diff = report["diff"]
    assert [c["summary"] for c in diff["git"]["commits"]] == ["add CD-DIAG diagnostics"]
    assert {"key": "strategy", "a": "none", "b": "adversarial"} in diff["config"]
    assert {"key": "torch", "a": "2.5.1", "b": "2.6.0"} in diff["environment"]
    [hazard] = report["findings"]
    assert hazard["location"]["path"] == "lab/diag.py"
    assert hazard["evidence"]["introduced_by"] == lab_obj.shas["diagnostics"]


def test_seedless_run_command(lab):
    lab_obj, part = lab
    proc = _run(lab_obj, part, 2, "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    rules = {f["rule"] for f in json.loads(proc.stdout)["findings"]}
    assert {"RA210", "RA211"} <= rules
