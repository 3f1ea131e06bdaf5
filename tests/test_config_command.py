"""`audit config check` validates and prints the configuration in effect; a bad setting is exit 2 naming the
file and the key (never an internal error); `audit docs` honours RA001's selection and severity."""

from __future__ import annotations

import json
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from cli_helpers import run_cli


def test_config_check_prints_the_effective_configuration(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        "[tool.auditor]\nignore = ['RA113']\n[tool.auditor.scan]\nmax-file-bytes = 1000\n"
        "[tool.auditor.rules.RA315]\ncv_threshold = 0.2\n[tool.auditor.severity]\nRA120 = 'error'\n")
    proc = run_cli("config", "check", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"# {tmp_path / 'pyproject.toml'}"
    effective = tomllib.loads(proc.stdout)["tool"]["auditor"]
    assert effective["ignore"] == ["RA113"] and effective["fail-on"] == "error"
    assert effective["scan"] == {"max-file-bytes": 1000, "check-syntax": True}
    assert effective["compare"]["confidence"] == 0.95  # a default, filled in
    assert effective["rules"]["RA315"] == {"cv_threshold": 0.2} and effective["severity"] == {"RA120": "error"}
    assert "set_seed" in effective["seed-helpers"]


def test_config_check_rejects_an_unknown_rule_parameter(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.auditor.rules.RA315]\ncv_treshold = 0.2\n")
    proc = run_cli("config", "check", cwd=tmp_path)
    assert proc.returncode == 2
    assert str(tmp_path / "pyproject.toml") in proc.stderr and "rules.RA315" in proc.stderr
    assert "cv_treshold" in proc.stderr


def test_a_wrongly_typed_setting_is_exit_2_for_every_command(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.auditor.scan]\nmax-file-bytes = 'big'\n")
    (tmp_path / "train.py").write_text("x = 1\n")
    for argv in (("config", "check"), ("scan", "train.py")):
        proc = run_cli(*argv, cwd=tmp_path)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert proc.stderr.strip() == (f"audit: error: {tmp_path / 'pyproject.toml'}: scan.max-file-bytes: "
                                       "must be an integer, got 'big'")


def _docs_lab(tmp_path, config: str):
    (tmp_path / "pyproject.toml").write_text(config)
    run = tmp_path / "results" / "q201-s0"
    run.mkdir(parents=True)
    (run / "run.yaml").write_text("id: q201-s0\ngroup: q201\nmetrics: {val/acc: [[10, 0.5]]}\n")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "good.md").write_text("q201-s0 reached val/acc 50.00% at step 10.\n")
    (tmp_path / "notes" / "broken.md").write_bytes(b"binary\x00junk\n")
    return run_cli("docs", "notes", "--results", "results", "--format", "json", cwd=tmp_path)


def test_docs_honours_ignore_of_ra001(tmp_path):
    proc = _docs_lab(tmp_path, "[tool.auditor]\nignore = ['RA001']\n")
    assert proc.returncode == 0, proc.stderr
    assert not [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "RA001"]


def test_docs_honours_the_severity_of_ra001(tmp_path):
    proc = _docs_lab(tmp_path, "[tool.auditor.severity]\nRA001 = 'error'\n")
    assert proc.returncode == 1, proc.stderr
    unreadable = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "RA001"]
    assert [f["severity"] for f in unreadable] == ["error"]
    assert unreadable[0]["location"]["path"].endswith("broken.md")
