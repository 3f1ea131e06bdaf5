"""Each replay in its own child process: a crash, a hang, a fork or a memory blow-up of the project's code
(or of a hostile record) costs that run an RA001, never the night.

The child is a fresh interpreter (`python -P -m auditor.replay.sandbox JOBDIR`), started with
close_fds (no inherited lock or other descriptors), in its own session (so whatever it forks is killed
with it), in an empty private working directory inside the cache (never the results directory: no
planted `.pdbrc` or module is found there), with bytecode writing off, `breakpoint()` disabled, and
memory and CPU-time limits from `[tool.auditor.replay]` (memory: an address-space limit in the child on
CPU; on CUDA, whose driver reserves huge address ranges, the parent watches the resident memory of the
child and what it forked, and stops it past the limit). The job goes in as a pickle the
parent wrote; the result comes back as JSON (a child running project code never gets to unpickle into
the parent), written only by the child's original process.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from auditor.errors import InputError
from auditor.replay.code_at_sha import ReplayCode, replay_code

DEFAULT_TIMEOUT_S = 1800
DEFAULT_MEMORY_MB = 16384
WATCH_INTERVAL_S = 0.1  # how often the parent reads a watched child's resident memory
ADDRESS_SPACE, RESIDENT = "address-space", "resident"  # how memory_mb is enforced
MAX_RESULT_BYTES = 16 * 1024 * 1024
TARGET_KEYS = ("model", "evaluate", "quant")


class ReplayProblem(InputError):
    """The replay could not run, or its process crashed, hung or went over a limit."""


def memory_limiter(device: str) -> str:
    """How memory_mb is enforced for a device: RLIMIT_AS set in the child on CPU; on CUDA, whose driver maps
    address space far beyond any real use (RLIMIT_AS would stop it at start), the parent's watch on the
    resident memory of the child and its descendants (auditor.replay.resident)."""
    return RESIDENT if device.startswith("cuda") else ADDRESS_SPACE


@dataclass(frozen=True)
class Limits:
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int | None = DEFAULT_MEMORY_MB  # None: no limit
    memory_limiter: str = ADDRESS_SPACE
    cpu_s: int | None = None  # CPU seconds over all threads; None: timeout x cores

    @classmethod
    def from_config(cls, config, device: str = "cpu") -> Limits:
        section = config.replay  # types checked when the configuration was loaded

        def number(key, default):
            value = getattr(section, key)
            return default if value is None else value

        timeout = float(number("timeout_s", DEFAULT_TIMEOUT_S))
        memory = number("memory_mb", DEFAULT_MEMORY_MB)
        cpu = number("cpu_s", None)
        return cls(timeout_s=timeout, memory_mb=int(memory), memory_limiter=memory_limiter(device),
                   cpu_s=int(cpu) if cpu else int(timeout * (os.cpu_count() or 1)) + 10)


@dataclass(frozen=True)
class ChildExit:
    code: int | None
    timed_out: bool = False
    resident_mb: int | None = None  # set when the watch stopped it: the resident memory it had reached


def allowed_packages(config) -> list[str]:
    value = config.replay.allow or []
    return sorted([value] if isinstance(value, str) else value)


def check_targets(run, config, code: ReplayCode) -> None:
    """Refuse a record naming anything outside the boundary before a process is even started."""
    from auditor.replay.imports import ImportFailure, allow_packages, check_target, label_source

    allow_packages(allowed_packages(config))
    label_source(code.root, code.label)
    for key in TARGET_KEYS:
        target = (run.replay or {}).get(key)
        if isinstance(target, str) and ":" in target:
            try:
                check_target(target, code.root, f"replay.{key}")
            except ImportFailure as exc:
                raise ReplayProblem(f"run {run.id}: {exc}", path=run.record_path, field=f"replay.{key}") from exc


def replay_in_child(run, config, repo_path: str | Path = ".", device: str = "cpu", tolerance: float | None = None):
    """auditor.replay.driver.replay_run in a sandboxed child process: its ReplayResult, or ReplayProblem."""
    if repo_path is None:
        raise ReplayProblem(f"run {run.id}: replaying needs the repository that defines replay.model "
                            "(give --repo)", path=run.record_path, field="replay")
    repo = Path(repo_path).resolve()
    if not repo.is_dir():
        raise ReplayProblem(f"run {run.id}: the repository {repo} is not a directory", path=run.record_path)
    limits = Limits.from_config(config, device)
    base = config.cache_dir / "replay"
    base.mkdir(parents=True, exist_ok=True)
    jobdir = Path(tempfile.mkdtemp(prefix="job-", dir=base))  # private (0700): nothing planted in it
    try:
        code = replay_code(run, repo, jobdir)  # the tree at the run's SHA, exported into jobdir/code
        check_targets(run, config, code)
        (jobdir / "work").mkdir()
        job = {"run": run, "config": config, "repo": str(code.root), "label": code.label, "device": device,
               "tolerance": tolerance, "limits": limits, "allow": allowed_packages(config)}
        try:
            (jobdir / "job.pkl").write_bytes(pickle.dumps(job))
        except (RecursionError, pickle.PicklingError, TypeError) as exc:
            raise ReplayProblem(f"run {run.id}: the record cannot be handed to the replay process "
                                f"({type(exc).__name__})", path=run.record_path) from exc
        result = _outcome(run, _run_child(jobdir, limits), jobdir, limits)
        if code.note:
            result.notes.append(code.note)
        return result
    finally:
        shutil.rmtree(jobdir, ignore_errors=True)


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONHOME")}
    here = str(Path(__file__).resolve().parents[2])  # where this auditor is imported from
    env["PYTHONPATH"] = os.pathsep.join([here] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONBREAKPOINT="0", PYTHONSAFEPATH="1")
    return env


def _run_child(jobdir: Path, limits: Limits) -> ChildExit:
    with open(jobdir / "stderr.txt", "wb") as err:
        safe_path = ["-P"] if sys.version_info >= (3, 11) else []  # 3.10: sys.path[0] is the empty work dir
        proc = subprocess.Popen([sys.executable, *safe_path, "-m", "auditor.replay.sandbox", str(jobdir)],
                                cwd=jobdir / "work", env=_child_env(), stdin=subprocess.DEVNULL, stdout=err,
                                stderr=err, close_fds=True, start_new_session=True)
        timed_out, resident_mb = _wait(proc, limits)
        _kill_group(proc.pid)  # the child after a timeout, and anything it forked that outlived it
        proc.wait()
    return ChildExit(proc.returncode, timed_out, resident_mb)


def _wait(proc: subprocess.Popen, limits: Limits) -> tuple[bool, int | None]:
    """Wait for the child: (timed out, resident MB when the memory watch stopped it)."""
    from auditor.replay.resident import tree_resident_mb

    watch = limits.memory_mb if limits.memory_limiter == RESIDENT else None
    deadline = time.monotonic() + limits.timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return True, None
        try:
            proc.wait(timeout=min(left, WATCH_INTERVAL_S) if watch else left)
            return False, None
        except subprocess.TimeoutExpired:
            if watch and (used := tree_resident_mb(proc.pid)) > watch:
                return False, used


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - 4096))
            lines = [line for line in handle.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return ""
    text = lines[-1].strip() if lines else ""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text[:200]


def _outcome(run, status: ChildExit, jobdir: Path, limits: Limits):
    from auditor.replay.result import ReplayResult

    code = status.code
    fail = lambda message: ReplayProblem(f"run {run.id}: {message}", path=run.record_path)
    if status.timed_out:
        raise fail(f"the replay did not finish within {limits.timeout_s:g} s and was stopped "
                   "([tool.auditor.replay] timeout_s)")
    if status.resident_mb is not None:
        raise fail(f"the replay exceeded {limits.memory_mb} MB of memory (resident: {status.resident_mb} MB; "
                   "[tool.auditor.replay] memory_mb) and was stopped")
    answer = jobdir / "result.json"
    if not answer.is_file() or answer.stat().st_size > MAX_RESULT_BYTES:
        raise fail(f"the replay process {_death(code, limits)}" + (f": {_last_line(jobdir / 'stderr.txt')}"
                                                                   if _last_line(jobdir / "stderr.txt") else ""))
    try:
        data = json.loads(answer.read_text(encoding="utf-8"))
        if data["status"] == "ok":
            return ReplayResult(**data["result"])
        raise InputError(data["message"], path=data.get("path"), line=data.get("line"), field=data.get("field"))
    except InputError as exc:
        raise ReplayProblem(exc.message, path=exc.path, line=exc.line, field=exc.field) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise fail(f"the replay process gave an unreadable answer ({type(exc).__name__})") from None


def _death(code: int | None, limits: Limits) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else f"signal {-code}"
        if -code == signal.SIGXCPU:
            return f"went over its CPU time limit ({limits.cpu_s} s, [tool.auditor.replay] cpu_s)"
        return f"died ({name})"
    return f"ended (exit code {code}) without an answer"


# -- the child ----------------------------------------------------------------------------------

def _write_answer(jobdir: Path, pid: int, answer: dict) -> None:
    if os.getpid() != pid:  # a process the project's code forked: only the original answers
        os._exit(0)
    temp = jobdir / "result.tmp"
    temp.write_text(json.dumps(answer, default=str), encoding="utf-8")
    os.replace(temp, jobdir / "result.json")


def _limit(limits: Limits) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits.memory_mb and limits.memory_limiter == ADDRESS_SPACE:
        size = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    if limits.cpu_s:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 5))


def child_main(jobdir: Path) -> None:
    pid = os.getpid()
    sys.dont_write_bytecode = True
    job = pickle.loads((jobdir / "job.pkl").read_bytes())  # written by the parent, not by the record's author
    _limit(job["limits"])
    from auditor.replay.driver import replay_run
    from auditor.replay.imports import allow_packages, label_source

    allow_packages(job["allow"])
    label_source(job["repo"], job["label"])
    try:
        result = replay_run(job["run"], job["config"], job["repo"], job["device"], job["tolerance"])
        answer = {"status": "ok", "result": asdict(result)}
    except InputError as exc:
        answer = {"status": "error", "message": exc.message, "path": exc.path, "line": exc.line, "field": exc.field}
    except MemoryError:
        answer = {"status": "error", "message": f"run {job['run'].id}: the replay ran out of its memory limit "
                  f"({job['limits'].memory_mb} MB, [tool.auditor.replay] memory_mb)", "path": job["run"].record_path}
    except BaseException as exc:  # anything the project's code raises: that run's problem, not the night's
        answer = {"status": "error", "message": f"run {job['run'].id}: the replay failed: {type(exc).__name__}: "
                  f"{str(exc)[:300]}", "path": job["run"].record_path}
    _write_answer(jobdir, pid, answer)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no atexit handlers or lingering threads of the project's code keep the child alive


if __name__ == "__main__":
    child_main(Path(sys.argv[1]))
