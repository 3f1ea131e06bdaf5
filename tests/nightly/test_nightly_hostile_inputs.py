"""Each single bad input of a shared results directory is one RA001 (or is read as it is) and the night goes
on to write all five reports: a Sacred group and seed given as lists, a folder name that is not UTF-8, a
config nested ~1000 deep (YAML and JSON), a YAML alias bomb, matplotlib mathtext in a run id, metric values
of +-8.9e307 in a plot, a planted auditor.yaml in the results directory."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cli_helpers import run_cli
from nightly_lab import make_repo, make_results, run_record, write_run

BILLION_LAUGHS = "id: laughs\nconfig:\n  a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  {chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))


def _sacred_run(results: Path) -> None:
    sacred = pytest.importorskip("sacred")
    from sacred.observers import FileStorageObserver

    ex = sacred.Experiment("q201", interactive=True)
    ex.observers.append(FileStorageObserver(str(results / "sacred")))

    @ex.main
    def main(seed):  # noqa: ARG001 - sacred fills it from the config
        return 0.5

    ex.run(config_updates={"seed": 3})
    (folder,) = [p for p in (results / "sacred").iterdir() if p.name.isdigit()]
    record = json.loads((folder / "run.json").read_text())
    record["experiment"]["name"] = ["q201", "q202"]  # a group given as a list
    (folder / "run.json").write_text(json.dumps(record))
    config = json.loads((folder / "config.json").read_text())
    config["seed"] = [1, 2]  # a seed given as a list
    (folder / "config.json").write_text(json.dumps(config))


@pytest.fixture
def hostile_night(tmp_path):
    repo, shas = make_repo(tmp_path)
    results = make_results(tmp_path, shas)
    _sacred_run(results)
    latin = os.path.join(os.fsencode(results), b"caf\xe9-run")  # a Latin-1 folder name: not UTF-8
    os.mkdir(latin)
    with open(os.path.join(latin, b"run.yaml"), "w") as handle:
        yaml.safe_dump(run_record("cafe-s0", "cafe", 0, shas["ok"]), handle)
    (results / "deep-yaml").mkdir()
    (results / "deep-yaml" / "run.yaml").write_text("id: deep-yaml\nconfig: " + "{a: " * 990 + "1" + "}" * 990 + "\n")
    deep = json.dumps({**run_record("deep-json", "deep", 0, shas["ok"]), "config": "DEEP"})
    (results / "deep-json").mkdir()
    (results / "deep-json" / "run.json").write_text(deep.replace('"DEEP"', '{"a": ' * 960 + "1" + "}" * 960))
    (results / "laughs").mkdir()
    (results / "laughs" / "run.yaml").write_text(BILLION_LAUGHS)
    write_run(results, {**run_record("mathtext", "mt", 0, shas["ok"], final=False), "id": "$\\cmd$ $x^{$", "group": "$\\frac$"})
    huge = run_record("huge-s0", "huge", 0, shas["ok"], final=False)  # RA220: its plot is drawn
    huge["metrics"]["val/acc"] = [[0, 8.9e307], [20, -8.9e307]]
    huge["metrics"]["train/loss"] = [[s, (-1) ** s * 8.9e307] for s in range(30)]
    huge["reported"] = {"val/acc": -8.9e307, "step": 20}
    write_run(results, huge)
    (results / "auditor.yaml").write_text("ignore: [RA]\n")  # planted: must not silence the night
    (repo / "docs").mkdir()
    (repo / "docs" / "latin1.md").write_bytes("# Caf\u00e9\n\nbase reached 0.70 val/acc.\n".encode("latin-1"))
    (repo / "docs" / "ok.md").write_text("# Results\n\nSee `results/base-s0/run.yaml`.\n")
    return tmp_path, repo, results


def test_one_bad_input_is_one_finding_and_the_night_goes_on(hostile_night):
    root, repo, results = hostile_night
    out = root / "out"
    proc = run_cli("nightly", results, "--repo", repo, "--out", out, "--jobs", "1", "--docs", repo / "docs" / "*.md",
                   cwd=results,
                   env={"XDG_CACHE_HOME": str(root / "cache")})
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for name in ("report.md", "report.html", "findings.json", "findings.sarif", "summary.json"):
        assert (out / name).is_file(), name
    findings = json.loads((out / "findings.json").read_text())["findings"]
    ra001 = {f["location"].get("path", f["location"].get("run", "")): f["message"]
             for f in findings if f["rule"] == "RA001"}
    assert any("deep-yaml" in p and "nested more than" in m for p, m in ra001.items()), ra001
    assert any("deep-json" in p and "nested more than" in m for p, m in ra001.items()), ra001
    assert any("laughs" in p and "alias" in m for p, m in ra001.items()), ra001
    assert any("latin1.md" in p and "not UTF-8" in m for p, m in ra001.items()), ra001
    assert any("sacred" in p and "group: must be a single value" in m for p, m in ra001.items()), ra001
    assert any("caf\\xe9-run" in p and "not UTF-8" in m for p, m in ra001.items()), ra001
    assert {f["location"].get("run") for f in findings if f["rule"] == "RA220"} >= {"$\\cmd$ $x^{$", "huge-s0"}
    assert any(f["rule"] != "RA001" for f in findings)  # the planted auditor.yaml ignored nothing
    assert (out / "report.html").stat().st_size < 5 * 1024 * 1024
