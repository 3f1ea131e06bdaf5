"""The replay trust boundary, attacked the way a writer of a shared results directory would: records naming
the standard library, the auditor, installed packages or re-exported functions are refused before anything
runs; the project's own code that aborts, hangs, forks, eats memory or opens a debugger costs that run one
RA001 and nothing else; the child sees no inherited descriptor, a clean private working directory, and
writes no bytecode into the repository."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from repo_helpers import TINY_MODEL, make_repo, tinylab

from auditor.config import Config
from auditor.replay.driver import replay
from auditor.replay.imports import ImportFailure, check_target
from auditor.runs.discover import find_run

pytest.importorskip("torch")

LAB = textwrap.dedent('''\
    import json
    import os
    import signal
    import sys
    import time
    from os import abort  # re-exported: still not the project's own function

''') + TINY_MODEL + textwrap.dedent('''\


    def crash():
        os.abort()


    def hang():
        signal.pause()


    def hog():
        return bytearray(6 * 1024 ** 3)


    def creeps():
        held = []
        for _ in range(60):  # up to 1.5 GB, 25 MB at a time (touched: resident, not just reserved)
            held.append(bytearray(25 * 1024 ** 2))
            time.sleep(0.02)
        return build()


    def forks():
        if os.fork() == 0:  # the copy lingers: it must be killed with the replay, never answer
            with open(os.environ["PROBE_OUT"] + ".forked", "w") as handle:
                handle.write(str(os.getpid()))
            time.sleep(600)
        return build()


    def debugs():
        import pdb
        pdb.set_trace()
        return build()


    @torch.no_grad()
    def decorated(model):
        return {"val/acc": 0.5}


    def probe(model):
        """What the replay process sees, for the test to check."""
        try:
            os.fstat(int(os.environ["PROBE_FD"]))
            fd_open = True
        except OSError:
            fd_open = False
        with open(os.environ["PROBE_OUT"], "w") as handle:
            json.dump({"cwd": os.getcwd(), "fd_open": fd_open, "bytecode": not sys.dont_write_bytecode,
                       "env": os.environ.get("PYTHONDONTWRITEBYTECODE")}, handle)
        return {"val/acc": 0.5}
''')


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("sandbox")
    repo, _ = make_repo(root / "repo", [("lab", tinylab(LAB))])
    (repo / ".venv" / "lib").mkdir(parents=True)  # vendored code inside the repository is not the project's
    (repo / ".venv" / "lib" / "__init__.py").write_text("")
    results = root / "results"
    results.mkdir()
    (results / ".pdbrc").write_text(f"import pathlib; pathlib.Path({str(root / 'pwned')!r}).write_text('x')\nc\n")
    return root, repo, results


def _run(results: Path, run_id: str, **replay_section):
    section = {"model": "tinylab.model:build", "evaluate": "tinylab.model:evaluate", "quant": "none",
               **replay_section}
    record = {"id": run_id, "seed": 0, "reported": {"val/acc": 0.5, "step": 1}, "replay": section,
              "status": {"state": "completed", "exit_code": 0}}
    (results / run_id).mkdir(exist_ok=True)
    (results / run_id / "run.json").write_text(json.dumps(record))
    return find_run(results, run_id, Config())


def _config(root: Path, **settings) -> Config:
    from auditor.config import ReplaySettings

    return Config(root=root, replay=ReplaySettings(**settings), cache_dir_setting=str(root / "cache"))


def _problem(lab, run_id, config=None, **section) -> str:
    root, repo, results = lab
    result, findings = replay(_run(results, run_id, **section), config or _config(root), repo)
    assert result is None, result
    (finding,) = findings
    assert finding.rule == "RA001", finding
    return finding.message


@pytest.mark.parametrize("target, why", [
    ("os:abort", "standard library"), ("faulthandler:_sigsegv", "standard library"),
    ("signal:pause", "standard library"), ("os:fork", "standard library"), ("pdb:set_trace", "standard library"),
    ("auditor.cli:main", "auditor's own code"), ("torch:randn", "no module 'torch' in the repository"),
    ("lib:anything", "no module 'lib'"), ("tinylab.model:__class__", "not a 'module:function' name"),
    ("tinylab.model:os.abort", None),
])
def test_names_outside_the_repository_are_refused_before_import(lab, target, why):
    root, repo, _ = lab
    if why is None:  # passes the name check; refused after the import (see the re-export test)
        check_target(target, repo)
        return
    with pytest.raises(ImportFailure, match=why):
        check_target(target, repo)


def test_a_refused_record_is_one_ra001_and_nothing_ran(lab, monkeypatch):
    root, repo, results = lab
    monkeypatch.chdir(results)
    for key, target in (("model", "os:abort"), ("evaluate", "pdb:set_trace"), ("quant", "auditor.cli:main")):
        message = _problem(lab, f"refused-{key}", **{key: target})
        assert "replay not run" in message and target in message
    assert not (root / "pwned").exists()


def test_a_re_exported_standard_function_is_refused_after_import(lab):
    message = _problem(lab, "reexport", model="tinylab.model:abort")
    assert "not a function or class defined in the repository" in message


def test_an_allowed_package_may_be_named(lab):
    root, repo, results = lab
    config = _config(root, allow=["torch"])
    result, findings = replay(_run(results, "allowed", evaluate="tinylab.model:decorated"), config, repo)
    assert result is not None and result.unquantized == 0.5, findings
    assert not findings


def test_a_crash_is_one_ra001(lab):
    assert "died (SIGABRT)" in _problem(lab, "crash", model="tinylab.model:crash")


def test_a_hang_is_stopped_and_one_ra001(lab):
    root, _, _ = lab
    message = _problem(lab, "hang", _config(root, timeout_s=3), model="tinylab.model:hang")
    assert "did not finish within 3 s" in message


def test_a_memory_blow_up_is_one_ra001(lab):
    root, _, _ = lab
    message = _problem(lab, "hog", _config(root, memory_mb=4096), model="tinylab.model:hog")
    assert "MemoryError" in message or "memory limit" in message, message


def test_cuda_replays_have_a_memory_limit_too():
    """CUDA reserves huge address space, so the limit is the parent's watch on resident memory there."""
    from auditor.replay.sandbox import ADDRESS_SPACE, RESIDENT, Limits

    config = _config(Path("."), memory_mb=2048)
    cuda, cpu = Limits.from_config(config, "cuda"), Limits.from_config(config, "cpu")
    assert (cuda.memory_mb, cuda.memory_limiter) == (2048, RESIDENT)
    assert (cpu.memory_mb, cpu.memory_limiter) == (2048, ADDRESS_SPACE)


def test_the_resident_memory_watch_stops_a_replay_past_its_limit(lab, monkeypatch):
    """The limiter --device cuda gets, forced on CPU (no GPU here): the replay is stopped, one RA001."""
    from auditor.replay import sandbox

    monkeypatch.setattr(sandbox, "memory_limiter", lambda _device: sandbox.RESIDENT)
    root, _, _ = lab
    message = _problem(lab, "creeps", _config(root, memory_mb=700), model="tinylab.model:creeps")
    assert "exceeded 700 MB of memory" in message and "memory_mb" in message, message


def test_a_fork_answers_once_and_its_copy_is_killed(lab, tmp_path, monkeypatch):
    root, repo, results = lab
    monkeypatch.setenv("PROBE_OUT", str(tmp_path / "probe"))
    result, findings = replay(_run(results, "forks", model="tinylab.model:forks"), _config(root), repo)
    assert result is not None and result.unquantized == 0.5 and not findings
    forked = tmp_path / "probe.forked"
    if forked.exists():  # the copy got that far before the group was killed: it must be gone now
        assert not _alive(int(forked.read_text()))


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for init to reap it), after the SIGKILL has had time to land."""
    import time

    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.1)
    return True


def test_a_debugger_reads_no_pdbrc_from_the_results_directory(lab, monkeypatch):
    root, repo, results = lab
    monkeypatch.chdir(results)
    replay(_run(results, "debugs", model="tinylab.model:debugs"), _config(root), repo)
    assert not (root / "pwned").exists()


def test_the_child_sees_no_inherited_descriptor_a_clean_cwd_and_writes_no_bytecode(lab, tmp_path, monkeypatch):
    root, repo, results = lab
    lock = open(tmp_path / "nightly.lock", "w")  # an inheritable descriptor, like a held lock
    os.set_inheritable(lock.fileno(), True)
    monkeypatch.setenv("PROBE_FD", str(lock.fileno()))
    monkeypatch.setenv("PROBE_OUT", str(tmp_path / "probe.json"))
    monkeypatch.chdir(results)
    try:
        result, findings = replay(_run(results, "probe", evaluate="tinylab.model:probe"), _config(root), repo)
    finally:
        lock.close()
    assert result is not None and not findings, findings
    seen = json.loads((tmp_path / "probe.json").read_text())
    assert seen["fd_open"] is False
    assert Path(seen["cwd"]).is_relative_to(root / "cache" / "replay")
    assert seen["bytecode"] is False and seen["env"] == "1"
    assert not list(repo.rglob("__pycache__"))
    assert not list((root / "cache" / "replay").iterdir())  # the job folder is cleaned up


def test_no_repository_is_one_ra001(lab):
    root, _, results = lab
    result, findings = replay(_run(results, "norepo"), _config(root), None)
    assert result is None and "give --repo" in findings[0].message
