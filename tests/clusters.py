"""A real single-node Slurm (slurmctld + slurmd, optionally slurmdbd on MariaDB for `sacct`) and a real Ray
head on this machine, for the tests marked `clusters`: started without systemd, each daemon's PID recorded
under one state folder, and stopped by exactly those PIDs.

    python tests/clusters.py install   # as root: the Debian packages, when missing (CI)
    python tests/clusters.py stop      # stop whatever is still recorded (CI's EXIT trap, also after a crash)

Standard library only: CI's trap runs it with the system Python. With AUDITOR_CLUSTERS=required (set by CI),
a cluster that cannot start fails the test with the reason; otherwise (a developer without root or the
packages) the test is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STATE = Path(os.environ.get("AUDITOR_CLUSTERS_DIR") or Path(tempfile.gettempdir()) / f"auditor-clusters-{os.getuid()}")
SLURM_PACKAGES = ["slurmctld", "slurmd", "slurm-client"]
SLURMDBD_PACKAGES = ["slurmdbd", "mariadb-server"]


class Unavailable(Exception):
    """This machine cannot run the cluster (no root, no packages, a daemon that would not start)."""


def required() -> bool:
    return os.environ.get("AUDITOR_CLUSTERS") == "required"


# -- processes we started ---------------------------------------------------------------------------
def _record(name: str, pid: int) -> None:
    (STATE / "pids").mkdir(parents=True, exist_ok=True)
    (STATE / "pids" / name).write_text(f"{pid}\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def stop(name: str, group: bool = False, timeout: float = 20.0) -> None:
    """Stop the process recorded as `name` (its process group with group=True): TERM, then KILL."""
    record = STATE / "pids" / name
    try:
        pid = int(record.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    send = (lambda sig: os.killpg(pid, sig)) if group else (lambda sig: os.kill(pid, sig))
    try:
        send(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid) or group:
            send(signal.SIGKILL)  # a group's other members (Ray's raylet, GCS...) go with it
    except ProcessLookupError:
        pass
    record.unlink(missing_ok=True)


STOP_ORDER = ("group-ray", "slurmd", "slurmctld", "slurmdbd", "mariadb")  # clients before what they use


def stop_all() -> None:
    records = [p.name for p in (STATE / "pids").glob("*")] if (STATE / "pids").is_dir() else []
    for name in sorted(records, key=lambda n: STOP_ORDER.index(n) if n in STOP_ORDER else -1):
        stop(name, group=name.startswith("group-"))


# -- installing ---------------------------------------------------------------------------------------
def install(accounting: bool = True) -> None:
    """The Debian packages, when missing (root and apt only)."""
    packages = SLURM_PACKAGES + (SLURMDBD_PACKAGES if accounting else [])
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True, check=False).returncode != 0]
    if not missing:
        return
    if os.getuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable(f"Slurm packages missing ({', '.join(missing)}) and no root/apt-get to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if subprocess.run(argv, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise Unavailable(f"apt-get install {' '.join(missing)} failed: {done.stderr.strip()[-400:]}")


# -- Slurm --------------------------------------------------------------------------------------------
class Slurm:
    """slurmctld + slurmd (+ slurmdbd and MariaDB with accounting=True) under STATE/slurm."""

    def __init__(self, accounting: bool = False):
        self.accounting = accounting
        self.root = STATE / "slurm"
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.env = {"SLURM_CONF": str(self.conf)}

    def start(self, fresh: bool = True) -> Slurm:
        """Start (fresh=True: with new controller state, so job ids start again at 1)."""
        if os.getuid() != 0:
            raise Unavailable("a local Slurm needs root (its daemons run as root here)")
        install(self.accounting)
        try:
            self._start(fresh)
        except BaseException:
            self.stop()  # whatever did start
            raise
        return self

    def _start(self, fresh: bool) -> None:
        if fresh:
            shutil.rmtree(self.root / "state", ignore_errors=True)
        for sub in ("state", "spool", "log", "run"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for stale in (self.root / "run").glob("*.pid"):  # a PID file must be this start's
            stale.unlink()
        self._write_conf()
        if self.accounting:
            self._start_slurmdbd()
        env = {**os.environ, **self.env}
        for daemon in ("slurmctld", "slurmd"):
            args = [f"/usr/sbin/{daemon}", "-f", str(self.conf)] + (["-c"] if daemon == "slurmctld" else [])
            done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise Unavailable(f"{daemon} did not start: {done.stderr.strip() or self._log(daemon)}")
            pid_file = self.root / "run" / f"{daemon}.pid"
            # the file appears before its number is written: wait for the number
            self._wait(lambda f=pid_file: f.exists() and bool(f.read_text().split()), f"{daemon} to write its PID file",
                       daemon)
            _record(daemon, int(pid_file.read_text().split()[0]))
        self._wait(self._node_idle, "the node to be idle", "slurmd", timeout=60)

    def stop(self) -> None:
        for daemon in STOP_ORDER[1:]:
            stop(daemon)

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), env={**os.environ, **self.env}, capture_output=True, text=True, timeout=60, check=False)

    def _node_idle(self) -> bool:
        done = self.run("sinfo", "-h", "-o", "%T")
        return done.returncode == 0 and done.stdout.strip().startswith("idle")

    def _wait(self, ready, what: str, daemon: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise Unavailable(f"timed out waiting for {what}: {self._log(daemon)}")
            time.sleep(0.2)

    def _log(self, daemon: str) -> str:
        try:
            return " | ".join((self.root / "log" / f"{daemon}.log").read_text().strip().splitlines()[-5:])
        except OSError:
            return "(no log)"

    def _write_conf(self) -> None:
        r, host = self.root, self.host
        accounting = (["AccountingStorageType=accounting_storage/slurmdbd", "AccountingStorageHost=127.0.0.1",
                       "AccountingStoragePort=6819", "JobAcctGatherType=jobacct_gather/none"] if self.accounting
                      else ["AccountingStorageType=accounting_storage/none", "JobAcctGatherType=jobacct_gather/none"])
        lines = [
            "ClusterName=auditor", f"SlurmctldHost={host}(127.0.0.1)", "SlurmUser=root", "SlurmdUser=root",
            "AuthType=auth/none", "CredType=cred/none", "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core", *accounting,
            "JobCompType=jobcomp/filetxt", f"JobCompLoc={r}/log/jobcomp.txt", "MpiDefault=none",
            "MailProg=/bin/true", "ReturnToService=2", "SlurmctldPort=6817", "SlurmdPort=6818",
            f"StateSaveLocation={r}/state", f"SlurmdSpoolDir={r}/spool", f"SlurmctldPidFile={r}/run/slurmctld.pid",
            f"SlurmdPidFile={r}/run/slurmd.pid", f"SlurmctldLogFile={r}/log/slurmctld.log",
            f"SlurmdLogFile={r}/log/slurmd.log", "SlurmctldDebug=info", "SlurmdDebug=info", "KillWait=5",
            "MinJobAge=2", "InactiveLimit=0", "SchedulerParameters=sched_interval=1",
            f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} RealMemory=2000 State=UNKNOWN",
            f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def _start_slurmdbd(self) -> None:
        db = self.root / "mariadb"
        fresh = not (db / "mysql").is_dir()
        db.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chmod(db, 0o755)
        shutil.chown(db, "mysql", "mysql")
        if fresh:
            done = subprocess.run(["mariadb-install-db", "--user=mysql", f"--datadir={db}", "--auth-root-authentication-method=socket"],
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise Unavailable(f"mariadb-install-db failed: {done.stderr.strip()[-400:]}")
        sock = self.root / "run" / "mysqld.sock"
        os.chmod(self.root / "run", 0o777)
        proc = subprocess.Popen(["mariadbd", "--user=mysql", f"--datadir={db}", f"--socket={sock}", "--port=3307",
                                 "--bind-address=127.0.0.1", f"--pid-file={self.root}/run/mariadb.pid",
                                 f"--log-error={self.root}/log/mariadb.log"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _record("mariadb", proc.pid)
        self._wait(sock.exists, "MariaDB's socket", "mariadb")
        sql = ("CREATE DATABASE IF NOT EXISTS slurm_acct_db; CREATE USER IF NOT EXISTS 'slurm'@'localhost' "
               "IDENTIFIED BY 'slurm'; CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm'; "
               "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; "
               "FLUSH PRIVILEGES;")
        done = subprocess.run(["mariadb", f"--socket={sock}", "-u", "root", "-e", sql], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise Unavailable(f"MariaDB setup failed: {done.stderr.strip()}")
        conf = self.root / "slurmdbd.conf"
        conf.write_text("\n".join([
            "AuthType=auth/none", "DbdHost=localhost", "DbdAddr=127.0.0.1", "DbdPort=6819", "SlurmUser=root",
            f"PidFile={self.root}/run/slurmdbd.pid", f"LogFile={self.root}/log/slurmdbd.log", "DebugLevel=info",
            "StorageType=accounting_storage/mysql", "StorageHost=127.0.0.1", "StorageLoc=slurm_acct_db",
            "StorageUser=slurm", "StoragePass=slurm", "StoragePort=3307",
        ]) + "\n")
        os.chmod(conf, 0o600)
        # slurmdbd reads slurmdbd.conf from beside slurm.conf (SLURM_CONF's folder).
        done = subprocess.run(["/usr/sbin/slurmdbd"], env={**os.environ, **self.env}, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise Unavailable(f"slurmdbd did not start: {done.stderr.strip() or self._log('slurmdbd')}")
        pid_file = self.root / "run" / "slurmdbd.pid"
        self._wait(lambda: pid_file.exists() and bool(pid_file.read_text().split()), "slurmdbd's PID file", "slurmdbd")
        _record("slurmdbd", int(pid_file.read_text().split()[0]))
        self._wait(lambda: _port_open(6819), "slurmdbd to listen", "slurmdbd")
        self.run("sacctmgr", "-i", "add", "cluster", "auditor")
        self.run("sacctmgr", "-i", "add", "account", "root")  # harmless when present


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# -- Ray ----------------------------------------------------------------------------------------------
class RayHead:
    """`ray start --head --block` from this interpreter's environment, in its own process group."""

    def __init__(self, cpus: int = 2):
        self.cpus = cpus
        self.address = ""

    def start(self) -> RayHead:
        ray = Path(sys.executable).with_name("ray")
        if not ray.exists():
            raise Unavailable(f"no `ray` command beside {sys.executable} (pip install ray)")
        STATE.mkdir(parents=True, exist_ok=True)
        log = open(STATE / "ray-head.log", "w")  # noqa: SIM115 - handed to the head, closed below
        proc = subprocess.Popen([str(ray), "start", "--head", "--block", f"--num-cpus={self.cpus}",
                                 "--include-dashboard=false", "--disable-usage-stats"],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()  # the head has its own copy
        _record("group-ray", proc.pid)
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in (STATE / "ray-head.log").read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise Unavailable(f"ray start --head failed: {(STATE / 'ray-head.log').read_text()[-600:]}")
            time.sleep(0.3)
        self.address = "127.0.0.1:6379"
        return self

    def stop(self) -> None:
        stop("group-ray", group=True)
        Path("/tmp/ray/ray_current_cluster").unlink(missing_ok=True)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "install":
        try:
            install(accounting=True)
        except Unavailable as exc:
            sys.exit(f"clusters: {exc}")
    elif command == "stop":
        stop_all()
    else:
        sys.exit("usage: clusters.py install|stop")
