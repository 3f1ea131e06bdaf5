"""`audit replay` end to end on the demo's real tiny model, plus the replay rules' own examples."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from auditor.config import Config
from auditor.replay.driver import replay_findings, replay_run
from auditor.replay.result import ReplayResult
from auditor.runs.discover import find_run

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from cli_helpers import run_cli  # noqa: E402


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


class Payload:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The demo's replay part (a model trained with MXFP4 in the loop), plus runs that break in each way."""
    demo = _module(ROOT / "fixtures" / "demo" / "demo.py", "demo_lab_for_replay_tests")
    root = tmp_path_factory.mktemp("replay-lab")
    lab = demo.Lab(root=root, repo=root / "lab-repo", results=root / "results", out=root / "report")
    lab.results.mkdir()
    _module(ROOT / "fixtures" / "demo" / "parts" / "replay.py", "demo_replay_part").build(lab)
    code = lab.repo / "replaylab"
    (code / "labhooks.py").write_text(textwrap.dedent("""
        def forgets(model):
            model.eval()  # registers nothing: the W4A4 claim is never applied
    """))
    (code / "hostile.py").write_text(textwrap.dedent("""
        import sys
        def exits(model):
            sys.exit(3)  # a script's argparse or an early exit inside the project's evaluate
        def not_a_model():
            return {"weights": 1}
        def words(model):
            return "accuracy: high"
    """))
    (code / "exits_on_import.py").write_text("import sys\nsys.exit('usage: train.py --config X')\n")
    base = json.loads((lab.results / "e13j-demo" / "run.json").read_text())
    base["git"]["sha"] = _commit(lab.repo)  # a replay imports the code of the run's commit
    ckpt = lab.results / "e13j-demo" / "ckpt" / "model.safetensors"
    plain = lab.info["replay"]["plain"]

    def add(run_id, *, checkpoint=None, reported=None, **replay):
        record = json.loads(json.dumps(base))
        record["id"] = record["group"] = run_id
        record["replay"].update(replay)
        if reported is not None:
            record["reported"]["val/acc"] = reported
        folder = lab.results / run_id
        (folder / "ckpt").mkdir(parents=True)
        if checkpoint is None:
            (folder / "ckpt" / "model.safetensors").write_bytes(ckpt.read_bytes())
        else:
            name, writer = checkpoint
            writer(folder / "ckpt" / name)
            record["checkpoint"]["path"] = f"ckpt/{name}"
        (folder / "run.json").write_text(json.dumps(record))

    state = load_file(str(ckpt))
    add("noop-run", quant="replaylab.labhooks:forgets")
    add("lost-run", reported=0.2)
    add("bf16-run", quant="bf16")
    add("nested-run", checkpoint=("model.pt", lambda p: torch.save(
        {"epoch": 1, "state_dict": {f"module.{k}": v for k, v in state.items()}}, p)))
    add("unsafe-run", checkpoint=("model.pt", lambda p: torch.save(
        {**state, "extra": Payload(root / "pwned")}, p)))
    add("truncated-run", checkpoint=("model.safetensors", lambda p: p.write_bytes(ckpt.read_bytes()[:100])))
    add("badmodel-run", model="replaylab.demo_model:nope")
    add("exit-eval-run", evaluate="replaylab.hostile:exits")
    add("exit-import-run", model="replaylab.exits_on_import:build")
    add("dict-model-run", model="replaylab.hostile:not_a_model")
    add("string-eval-run", evaluate="replaylab.hostile:words")
    add("hf-folder-run", checkpoint=("hf", lambda p: (p.mkdir(), (p / "config.json").write_text("{}"),
                                                      (p / "model.safetensors").write_bytes(ckpt.read_bytes()))))
    add("shards-run", checkpoint=("shards", lambda p: _write_shards(p, state)))
    add("empty-folder-run", checkpoint=("empty", lambda p: p.mkdir()))
    record = json.loads(json.dumps(base))
    record["id"] = "noreplay-run"
    del record["replay"]
    (lab.results / "noreplay-run").mkdir()
    (lab.results / "noreplay-run" / "run.json").write_text(json.dumps(record))
    lab.info["code"] = lab.repo
    lab.info["plain"] = plain
    return lab


def _commit(repo: Path) -> str:
    import git

    with git.Repo(repo) as handle:
        handle.git.add(A=True)
        return handle.index.commit("hooks and hostile code for the replay tests").hexsha


def _write_shards(folder: Path, state: dict) -> None:
    from safetensors.torch import save_file

    folder.mkdir()
    names = sorted(state)
    half = len(names) // 2
    save_file({k: state[k] for k in names[:half]}, str(folder / "model-00001-of-00002.safetensors"))
    save_file({k: state[k] for k in names[half:]}, str(folder / "model-00002-of-00002.safetensors"))


def replay(lab, run_id, **kwargs) -> ReplayResult:
    config = Config()
    return replay_run(find_run(lab.results, run_id, config), config, lab.info["code"], **kwargs)


def rules_fired(lab, run_id, **kwargs) -> list[str]:
    from auditor.replay.driver import findings_for

    return sorted(f.rule for f in findings_for(replay(lab, run_id, **kwargs), Config()))


# -- through the command line --------------------------------------------------------------------

def test_dishonest_run_is_measured_without_quantization(lab):
    proc = run_cli("replay", "e13j-demo", "--results", lab.results, "--repo", lab.info["code"], cwd=lab.root)
    assert proc.returncode == 1, proc.stderr
    assert "replay with MXFP4-W4A4" in proc.stdout and "conclusion: measured without quantization" in proc.stdout
    assert "RA401" in proc.stdout and "was measured without quantization" in proc.stdout


def test_audit_run_shows_the_replay_outcome(lab):
    proc = run_cli("run", "e13j-demo", "--results", lab.results, "--repo", lab.repo, cwd=lab.root)
    assert "  replay:  measured without quantization (reported " in proc.stdout, proc.stdout
    assert "closer to the unquantized replay" in proc.stdout
    honest = run_cli("run", "e13h-demo", "--results", lab.results, "--repo", lab.repo, "--format", "json",
                     cwd=lab.root)
    assert json.loads(honest.stdout)["run"]["replay"].startswith("reproduced (")
    skipped = run_cli("run", "e13h-demo", "--results", lab.results, "--repo", lab.repo, "--no-replay",
                      cwd=lab.root)
    assert "  replay:  skipped (--no-replay)" in skipped.stdout


def test_honest_run_is_reproduced_json(lab):
    proc = run_cli("replay", "e13h-demo", "--results", lab.results, "--repo", lab.info["code"], "--format", "json",
                   cwd=lab.root)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["findings"] == [] and document["replay"]["conclusion"] == "reproduced"
    assert document["replay"]["quant_report"]["quantized_modules"] == ["0", "2", "4"]


def test_unsafe_checkpoint_is_reported_and_never_run(lab):
    proc = run_cli("replay", "unsafe-run", "--results", lab.results, "--repo", lab.info["code"], cwd=lab.root)
    assert proc.returncode == 1, proc.stderr
    assert "RA403" in proc.stdout and "os.system" in proc.stdout
    assert not (lab.root / "pwned").exists()


def test_broken_replay_sections_exit_2(lab):
    for run_id, expected in (("noreplay-run", "no replay section"), ("badmodel-run", "no attribute 'nope'")):
        proc = run_cli("replay", run_id, "--results", lab.results, "--repo", lab.info["code"], cwd=lab.root)
        assert proc.returncode == 2 and expected in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("run_id, field, needle", [
    ("exit-eval-run", "replay.evaluate", "raised SystemExit: 3"),
    ("exit-import-run", "replay.model", "SystemExit: usage: train.py"),
    ("dict-model-run", "replay.model", "returned dict, not a torch.nn.Module"),
    ("string-eval-run", "replay.evaluate", "returned str, not a number"),
])
def test_hostile_project_code_is_one_line_exit_2(lab, run_id, field, needle):
    proc = run_cli("replay", run_id, "--results", lab.results, "--repo", lab.info["code"], cwd=lab.root)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    (line,) = proc.stderr.strip().splitlines()
    assert f"{run_id}/run.json: {field}:" in line and needle in line, line


def test_checkpoint_folders(lab):
    assert rules_fired(lab, "hf-folder-run") == ["RA401"]  # model.safetensors inside: the e13j weights
    assert rules_fired(lab, "shards-run") == ["RA401"]  # shards merged into one state dict
    result = replay(lab, "empty-folder-run")
    assert result.checkpoint_problem == "unreadable" and "a folder without a weights file" in result.checkpoint_message


# -- through the API -----------------------------------------------------------------------------

def test_numbers_of_the_dishonest_replay(lab):
    result = replay(lab, "e13j-demo")
    assert result.unquantized == result.reported == lab.info["plain"]
    assert result.quantized == lab.info["replay"]["mxfp4_w4a4"] and result.outputs_identical is False
    assert "reported val/acc = 0.9" in result.verdict()


def test_each_conclusion(lab):
    assert rules_fired(lab, "e13h-demo") == []
    assert rules_fired(lab, "e13j-demo") == ["RA401"]
    # a tolerance wide enough to hold both replays does not hide that the score is the unquantized one
    assert rules_fired(lab, "e13j-demo", tolerance=0.2) == ["RA401"]
    wide = replay(lab, "e13j-demo", tolerance=0.2)
    assert wide.quantized_matches and wide.closer_to == "unquantized"
    assert wide.conclusion == "measured without quantization"
    assert replay(lab, "e13h-demo", tolerance=0.2).closer_to == "quantized"
    assert rules_fired(lab, "noop-run") == ["RA402"]
    assert rules_fired(lab, "lost-run") == ["RA401"]
    assert rules_fired(lab, "bf16-run") == []  # declares no quantization and reports the plain score
    assert rules_fired(lab, "nested-run") == ["RA401"]  # module. prefixes stripped; same weights as e13j
    assert rules_fired(lab, "truncated-run") == ["RA403"]


def test_noop_message_names_the_problem(lab):
    from auditor.replay.driver import findings_for

    (finding,) = findings_for(replay(lab, "noop-run"), Config())
    assert "changes nothing" in finding.message and "no module was quantized" in finding.message
    assert finding.evidence["outputs_identical"] is True


def test_lost_run_is_not_reproduced_either_way(lab):
    from auditor.replay.driver import findings_for

    (finding,) = findings_for(replay(lab, "lost-run"), Config())
    assert "is not reproduced" in finding.message and "diagnosis" not in finding.evidence


def test_replay_findings_for_audit_run_never_raise(lab):
    config = Config()
    findings = replay_findings(find_run(lab.results, "badmodel-run", config), config, lab.info["code"])
    assert [f.rule for f in findings] == ["RA001"] and "replay not run" in findings[0].message
    findings = replay_findings(find_run(lab.results, "e13j-demo", config), config, lab.info["code"])
    assert [f.rule for f in findings] == ["RA401"]


def test_reports_are_deterministic(lab):
    args = ("replay", "e13j-demo", "--results", lab.results, "--repo", lab.info["code"], "--format", "json")
    first, second = run_cli(*args, cwd=lab.root), run_cli(*args, cwd=lab.root)
    assert first.stdout == second.stdout and str(lab.root) not in json.loads(first.stdout)["findings"][0]["message"]
