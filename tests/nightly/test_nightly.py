"""`audit nightly DIR` end to end on a real git repo and results directory: reports, new vs known,
incremental re-runs, input errors, nothing written into what is audited."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import run_cli  # noqa: E402
from nightly_lab import make_repo, make_results, run_record, write_run  # noqa: E402

REPORTS = ("report.md", "report.html", "findings.json", "findings.sarif", "summary.json")


@pytest.fixture
def lab(tmp_path):
    repo, shas = make_repo(tmp_path)
    results = make_results(tmp_path, shas, n_extra=6)
    return tmp_path, repo, results, shas


def nightly(lab_root: Path, results: Path, repo: Path, out: Path, *extra: str, cache: Path | None = None):
    env = {"XDG_CACHE_HOME": str(cache)} if cache else None
    return run_cli("nightly", str(results), "--repo", str(repo), "--out", str(out), "--jobs", "1", "-v", *extra,
                   cwd=lab_root, env=env)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and ".git" not in p.parts}


def test_nightly_writes_every_report_with_the_verl_findings(lab):
    root, repo, results, shas = lab
    before = (snapshot(results), snapshot(repo))
    out = root / "report"
    proc = nightly(root, results, repo, out)
    assert proc.returncode == 1, proc.stderr  # errors found: cron sees a failure
    assert f"report: {out / 'report.html'}" in proc.stdout.replace(str(root) + "/", str(root) + "/")
    for name in REPORTS:
        assert (out / name).is_file(), name

    document = json.loads((out / "findings.json").read_text())
    assert document["version"] == 1 and set(document["summary"]) == {"error", "warning", "info"}
    findings = document["findings"]
    ra220 = sorted(f["location"]["run"] for f in findings if f["rule"] == "RA220")
    assert ra220 == ["skip-s0", "skip-s1", "skip-s2"]
    code = [f for f in findings if f["rule"] == "RA101"]
    assert len(code) == 1 and code[0]["location"]["path"] == "trainer/ray_trainer.py"
    assert code[0]["evidence"]["shas"] == [shas["skip"][:12]]
    assert code[0]["evidence"]["runs"] == ["skip-s0", "skip-s1", "skip-s2"]
    assert any(f["location"].get("groups") == ["base", "skip"] for f in findings)  # the comparison was checked

    summary = json.loads((out / "summary.json").read_text())
    assert summary["findings"] == len(findings) and summary["new"] == len(findings) and summary["known"] == 0
    assert summary["by_rule"]["RA220"]["count"] == 3
    assert summary["by_group"]["skip"]["error"] >= 3 and summary["runs"] == 12
    assert summary["comparisons"][0]["name"] == "skip-vs-base"
    sarif = json.loads((out / "findings.sarif").read_text())
    assert sarif["version"] == "2.1.0" and len(sarif["runs"][0]["results"]) == len(findings)
    markdown = (out / "report.md").read_text()
    assert "RA220" in markdown and "new" in markdown

    html = (out / "report.html").read_text()
    assert html.count("<svg") >= 4 and "last training step (29)" in html and "reported step (20)" in html
    # The code as it was at the finding's commit (no remote to link to: the lines are shown in the report).
    assert "<code>trainer/ray_trainer.py:" in html and f"at <code>{shas['skip'][:10]}</code>" in html

    assert (snapshot(results), snapshot(repo)) == before  # nothing written into what is audited
    assert not any(p.suffix == ".sqlite" for p in results.rglob("*"))


def test_second_nightly_reuses_state_and_knows_its_findings(lab):
    root, repo, results, _ = lab
    first = nightly(root, results, repo, root / "r1")
    assert "12 audited, 0 from the last nightly" in first.stderr
    second = nightly(root, results, repo, root / "r2")
    assert second.returncode == 1
    assert "0 audited, 12 from the last nightly" in second.stderr and "(0 scanned)" in second.stderr
    assert "0 new" in second.stdout
    assert (root / "r1" / "findings.json").read_bytes() == (root / "r2" / "findings.json").read_bytes()
    summary = json.loads((root / "r2" / "summary.json").read_text())
    assert summary["new"] == 0 and summary["known"] == summary["findings"] > 0
    assert "Known findings" in (root / "r2" / "report.html").read_text()

    # One run changes (its final validation appears): only it is audited again, its finding is gone.
    fixed = run_record("skip-s1", "skip", 1, yaml.safe_load((results / "skip-s1" / "run.yaml").read_text())["git"]["sha"],
                       final=True, score=0.73)
    write_run(results, fixed)
    # A new run with a new problem: audited, and its finding is new.
    broken = run_record("late-s0", "late", 0, "0123456789abcdef0123456789abcdef01234567")
    write_run(results, broken)
    third = nightly(root, results, repo, root / "r3")
    assert "2 audited, 11 from the last nightly" in third.stderr
    summary = json.loads((root / "r3" / "summary.json").read_text())
    findings = json.loads((root / "r3" / "findings.json").read_text())["findings"]
    assert sorted(f["location"]["run"] for f in findings if f["rule"] == "RA220") == ["skip-s0", "skip-s2"]
    new = [f for f in findings if f["fingerprint"] in set(summary["new_fingerprints"])]
    # New at run level: only the new run's problem. skip-s1 now scores its last step, higher: the comparison's
    # seeds disagree in sign, the effect is in the noise (RA311, RA312, RA315 are new); its other findings are the
    # same ones, their numbers moved.
    assert [(f["rule"], f["location"]) for f in new if "run" in f["location"]] == [("RA202", {"run": "late-s0"})]
    before = {f["rule"] for f in json.loads((root / "r2" / "findings.json").read_text())["findings"]
              if "groups" in f["location"]}
    assert sorted(f["rule"] for f in new if "groups" in f["location"]) == ["RA311", "RA312", "RA315"]
    assert not before & {"RA311", "RA312", "RA315"} and {"RA301", "RA303", "RA310"} <= before


def test_a_new_seed_on_both_sides_leaves_the_comparison_findings_known(lab):
    """The comparison's numbers move with the new seed (its effect, p-value, seed counts); its findings are the
    same ones, so "new since the last nightly" stays empty."""
    root, repo, results, shas = lab
    nightly(root, results, repo, root / "r1")
    before = json.loads((root / "r1" / "findings.json").read_text())["findings"]
    write_run(results, run_record("base-s3", "base", 3, shas["ok"], score=0.735))
    write_run(results, run_record("skip-s3", "skip", 3, shas["skip"], final=False, score=0.745))
    nightly(root, results, repo, root / "r2")
    after = json.loads((root / "r2" / "findings.json").read_text())["findings"]
    summary = json.loads((root / "r2" / "summary.json").read_text())

    def compared(findings):
        return {(f["rule"], f["message"]): f for f in findings if "groups" in f["location"]}
    was, now = compared(before), compared(after)
    assert {rule for rule, _ in was} == {rule for rule, _ in now} and was
    assert set(was) != set(now)  # the messages quote the moved numbers
    assert {f["fingerprint"] for f in was.values()} == {f["fingerprint"] for f in now.values()}
    new = set(summary["new_fingerprints"])
    assert [(f["rule"], f["location"]) for f in after if f["fingerprint"] in new] == \
        [("RA220", {"run": "skip-s3"})]  # only the new run's own problem


def test_same_input_gives_byte_identical_reports(lab, tmp_path):
    root, repo, results, _ = lab
    out = root / "report"
    nightly(root, results, repo, out, cache=tmp_path / "cache-a")
    first = {name: (out / name).read_bytes() for name in REPORTS}
    shutil.rmtree(out)
    # Another cache (a cold start) and a process pool instead of one process: the same bytes.
    run_cli("nightly", str(results), "--repo", str(repo), "--out", str(out), "--jobs", "2", cwd=root,
            env={"XDG_CACHE_HOME": str(tmp_path / "cache-b")})
    assert {name: (out / name).read_bytes() for name in REPORTS} == first


def test_broken_record_among_many_is_ra001_and_the_rest_is_audited(lab):
    root, repo, results, _ = lab
    (results / "zz-broken").mkdir()
    (results / "zz-broken" / "run.yaml").write_text("id: [unclosed\n")
    proc = nightly(root, results, repo, root / "out")
    assert proc.returncode == 1, proc.stderr
    findings = json.loads((root / "out" / "findings.json").read_text())["findings"]
    assert any(f["rule"] == "RA001" and "zz-broken" in json.dumps(f) for f in findings)
    assert sum(f["rule"] == "RA220" for f in findings) == 3


def test_unusable_input_exits_2_with_a_clear_message(lab):
    root, repo, results, _ = lab
    missing = nightly(root, root / "no-such-dir", repo, root / "out")
    assert missing.returncode == 2 and "no-such-dir" in missing.stderr and "Traceback" not in missing.stderr
    (results / "comparisons.yaml").write_text("- name: x\n  baseline: base\n")
    bad = nightly(root, results, repo, root / "out")
    assert bad.returncode == 2 and "comparisons.yaml" in bad.stderr and "Traceback" not in bad.stderr
    assert not (root / "out" / "summary.json").exists()


def test_fail_on_and_a_clean_directory_exit_0(lab):
    root, repo, results, shas = lab
    clean = root / "clean"
    for seed in range(2):
        write_run(clean, run_record(f"ok-s{seed}", "ok", seed, shas["ok"]))
    proc = nightly(root, clean, repo, root / "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((root / "out" / "summary.json").read_text())
    assert summary["by_severity"]["error"] == 0
    if summary["findings"] == 0:
        assert "No findings" in (root / "out" / "report.md").read_text()
