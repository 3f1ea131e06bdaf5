"""The nightly with the discovery cache writes the same bytes as one that reads every run folder again, night
after night, as runs are changed, added and deleted; and it does not re-read unchanged folders."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import run_cli  # noqa: E402
from nightly_lab import make_repo, make_results, run_record, write_run  # noqa: E402

REPORTS = ("report.md", "report.html", "findings.json", "findings.sarif", "summary.json")


def _nightly(root: Path, results: Path, repo: Path, cached: bool):
    """One nightly into root/out, with its own cache dir and state per mode; returns (process, report bytes)."""
    mode = "cached" if cached else "uncached"
    config = root / f"{mode}.yaml"
    config.write_text(yaml.safe_dump({"nightly": {"discovery_cache": cached}}))
    out = root / "out"
    shutil.rmtree(out, ignore_errors=True)
    proc = run_cli("nightly", str(results), "--repo", str(repo), "--out", str(out), "--jobs", "1", "-v",
                   "--config", str(config), cwd=root, env={"XDG_CACHE_HOME": str(root / f"cache-{mode}")})
    assert proc.returncode in (0, 1), proc.stderr
    return proc, {name: (out / name).read_bytes() for name in REPORTS}


def _both(root: Path, results: Path, repo: Path):
    cached, with_cache = _nightly(root, results, repo, cached=True)
    _, without = _nightly(root, results, repo, cached=False)
    for name in REPORTS:
        assert with_cache[name] == without[name], f"{name} differs with the discovery cache"
    return cached, with_cache


def test_reports_are_byte_identical_with_and_without_the_discovery_cache(tmp_path):
    repo, shas = make_repo(tmp_path)
    results = make_results(tmp_path, shas, n_extra=6)
    time.sleep(2.1)  # older than the racy window: the second nightly may trust what the first read

    first, _ = _both(tmp_path, results, repo)
    assert "12 audited" in first.stderr and "0 run folder(s) unchanged on disk" in first.stderr
    second, reports = _both(tmp_path, results, repo)
    assert "0 audited, 12 from the last nightly; 12 run folder(s) unchanged on disk, not re-read" in second.stderr
    assert b'"skip-s0"' in reports["findings.json"]  # RA220: the final validation was skipped

    # A night of changes: one run fixed (its final validation now logged), one deleted, one new, one broken.
    write_run(results, run_record("skip-s0", "skip", 0, shas["skip"], final=True, score=0.72))
    shutil.rmtree(results / "filler-00001")
    write_run(results, run_record("late-s0", "late", 0, shas["ok"], final=False))
    (results / "filler-00002" / "run.json").write_text('{"id": "filler-00002", "config": {')
    third, reports = _both(tmp_path, results, repo)
    assert "9 run folder(s) unchanged on disk" in third.stderr
    findings = yaml.safe_load(reports["findings.json"])["findings"]
    ra220 = sorted(f["location"]["run"] for f in findings if f["rule"] == "RA220")
    assert ra220 == ["late-s0", "skip-s1", "skip-s2"]
    assert any(f["rule"] == "RA001" and "filler-00002" in f["message"] + str(f["location"]) for f in findings)
    assert "filler-00001" not in reports["report.md"].decode()


def test_a_commit_fetched_later_clears_ra202_though_the_record_is_unchanged(tmp_path):
    """The run's record does not change, the repository does: the state must not serve the old RA202."""
    import git

    repo, shas = make_repo(tmp_path)
    results = make_results(tmp_path, shas)
    elsewhere = git.Repo(repo).clone(str(tmp_path / "elsewhere"))
    with elsewhere.config_writer() as cfg:
        cfg.set_value("user", "name", "Lab")
        cfg.set_value("user", "email", "lab@example.com")
    (tmp_path / "elsewhere" / "notes.txt").write_text("pushed later\n")
    elsewhere.index.add(["notes.txt"])
    later = elsewhere.index.commit("not fetched yet").hexsha
    write_run(results, run_record("later-s0", "later", 0, later))

    _, first = _nightly(tmp_path, results, repo, cached=True)
    ra202 = [f for f in yaml.safe_load(first["findings.json"])["findings"] if f["rule"] == "RA202"]
    assert [f["location"]["run"] for f in ra202] == ["later-s0"]

    git.Repo(repo).git.fetch(str(tmp_path / "elsewhere"), "HEAD")  # the commit is now in the repository
    proc, second = _nightly(tmp_path, results, repo, cached=True)
    assert "1 audited, 6 from the last nightly" in proc.stderr
    assert not [f for f in yaml.safe_load(second["findings.json"])["findings"] if f["rule"] == "RA202"]
