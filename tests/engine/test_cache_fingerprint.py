"""One fingerprint for every cache of findings: editing a plugin rule (in a temp dir) changes what the next
scan and the next nightly report, without --no-cache."""

from __future__ import annotations

import json
import os

import yaml

from cli_helpers import run_cli
from crash_pack import write_config, write_pack

RULES = '''
from auditor.code.rule_base import ModuleRule
from auditor.findings import code_location, run_location
from auditor.rule import RunRule


class Marker(ModuleRule):
    id = "RA981"
    name = "marker"
    prefilter = ("MARKER",)

    def check(self, ctx, context=None):
        for number, line in enumerate(ctx.source.splitlines(), 1):
            if "MARKER" in line:
                yield self.finding("MESSAGE", code_location(ctx.path, number))


class EveryRun(RunRule):
    id = "RA982"
    name = "every-run"

    def check(self, run, context):
        yield self.finding("MESSAGE", run_location(run.id))
'''


def _lab(tmp_path, message: str):
    write_pack(tmp_path / "plugins", "msgpack", RULES.replace("MESSAGE", message))
    root = tmp_path / "lab"
    root.mkdir(exist_ok=True)
    write_config(root, "msgpack")
    env = {"PYTHONPATH": str(tmp_path / "plugins"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return root, env


def _messages(stdout: str, rule: str) -> list[str]:
    return [f["message"] for f in json.loads(stdout)["findings"] if f["rule"] == rule]


def test_scan_sees_an_edited_plugin_rule_without_no_cache(tmp_path):
    root, env = _lab(tmp_path, "first wording")
    (root / "train.py").write_text("MARKER = 1\n", encoding="utf-8")
    args = ("scan", "train.py", "--format", "json")
    assert _messages(run_cli(*args, cwd=root, env=env).stdout, "RA981") == ["first wording"]
    assert _messages(run_cli(*args, cwd=root, env=env).stdout, "RA981") == ["first wording"]  # from the cache
    _lab(tmp_path, "second wording")
    assert _messages(run_cli(*args, cwd=root, env=env).stdout, "RA981") == ["second wording"]


def test_nightly_sees_an_edited_plugin_rule(tmp_path):
    root, env = _lab(tmp_path, "first wording")
    run = root / "results" / "r1"
    run.mkdir(parents=True)
    (run / "run.yaml").write_text(yaml.safe_dump({"id": "r1", "seed": 0, "config": {"lr": 0.1}}), encoding="utf-8")

    def nightly() -> list[str]:
        proc = run_cli("nightly", "results", "--out", "report", "--no-repo", cwd=root, env=env)
        assert proc.returncode in (0, 1), proc.stderr
        found = json.loads((root / "report" / "findings.json").read_text(encoding="utf-8"))["findings"]
        return [f["message"] for f in found if f["rule"] == "RA982"]

    assert nightly() == ["first wording"]
    _lab(tmp_path, "second wording")
    assert nightly() == ["second wording"]
    assert os.path.isdir(tmp_path / "cache" / "auditor" / "nightly")
