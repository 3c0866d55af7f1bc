"""Local server processes: a PostgreSQL cluster, redis-server, and any long-running command.

Two kinds of users:

* the staging deployer, whose processes must outlive the Python process that started them
  (Airflow runs each task in its own process: deploy in one task, tests in another, teardown in a
  third). ``start_detached`` starts a command in its own session with its output in a log file and
  writes a pid record (pid, start time, command markers) so that a later process can find it,
  check that the pid still belongs to it, and stop it;
* tests that stop and restart private servers (``PrivatePostgres``, ``RedisProcess``), while the
  shared PostgreSQL and Redis keep running for everything else.

PostgreSQL refuses to run as root: its binaries run as the ``postgres`` user (via ``runuser``)
when this process is root.
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path


class ProcessError(RuntimeError):
    """A server process could not be started, reached or stopped; the message says why."""


# ---------------------------------------------------------------- small helpers

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"(empty log {path})"


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise ProcessError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")


def _version_key(path: str) -> tuple:
    version = Path(path).parent.parent.name
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def as_postgres(*args: str) -> list[str]:
    """``args`` run as the postgres user when we are root (PostgreSQL refuses root)."""
    return ["runuser", "-u", "postgres", "--", *args] if running_as_root() else list(args)


# ---------------------------------------------------------------- detached processes

@dataclass
class ProcessRecord:
    """What a pid file holds: enough to tell our process from a later one that reused the pid."""

    name: str
    pid: int
    create_time: float  # wall-clock start (psutil): shown to people, and the check for records without boot_start
    argv: list[str]
    markers: list[str]  # substrings of the command line that identify the process
    log: str
    started_at: float
    fingerprint: str = ""  # of the command and settings it was started with: a change means restart
    boot_start: float | None = None  # start in seconds since boot: what tells this process from a later one

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


def start_detached(name: str, argv: list[str], env: dict[str, str], log_path: Path, pid_path: Path,
                   markers: list[str], cwd: Path | None = None, fingerprint: str = "") -> ProcessRecord:
    """Start ``argv`` in its own session (it survives this process and its process group), output
    appended to ``log_path``; write and return its pid record."""
    import psutil

    log_path.parent.mkdir(parents=True, exist_ok=True)
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        except OSError as exc:
            raise ProcessError(f"cannot start {name} ({argv[0]}): {exc}") from None
    _CHILDREN[proc.pid] = proc  # reaped in stop_process / is_alive; never garbage-collected while running
    try:
        create_time = psutil.Process(proc.pid).create_time()
    except psutil.NoSuchProcess:
        create_time = 0.0
    record = ProcessRecord(name, proc.pid, create_time, list(argv), list(markers), str(log_path), time.time(),
                           fingerprint, started_since_boot(proc.pid))
    tmp = pid_path.with_suffix(".tmp")
    tmp.write_text(record.to_json())
    tmp.replace(pid_path)
    return record


_CHILDREN: dict[int, subprocess.Popen] = {}

# A reused pid is told apart by its start time, but not by psutil's create_time(): on Linux that
# is the start since boot plus a boot time which the kernel recomputes from the wall clock at every
# read (/proc/stat btime), so it jitters by a second and drifts with NTP. A live redis-server was
# once taken for dead ("exited during startup") that way. The start since boot never changes.
CREATE_TIME_SLACK_S = 2.0  # for records written before boot_start existed


def started_since_boot(pid: int) -> float | None:
    """When ``pid`` started, in seconds since boot (field 22 of /proc/PID/stat); None where there
    is no /proc (not Linux) or no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")


def read_record(pid_path: Path) -> ProcessRecord | None:
    try:
        return ProcessRecord(**json.loads(pid_path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def is_alive(record: ProcessRecord | None) -> bool:
    """The recorded process still runs and is the one we started (same start time, same command)."""
    if record is None:
        return False
    import psutil

    child = _CHILDREN.get(record.pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(record.pid, None)
        return False
    try:
        proc = psutil.Process(record.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        started = started_since_boot(record.pid) if record.boot_start is not None else None
        if started is not None:
            if abs(started - record.boot_start) > 0.05:
                return False
        elif record.create_time and abs(proc.create_time() - record.create_time) > CREATE_TIME_SLACK_S:
            return False
        cmdline = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return all(marker in cmdline for marker in record.markers)


def stop_process(record: ProcessRecord | None, timeout_s: float = 15.0) -> str:
    """SIGTERM the recorded process (and what it started), SIGKILL what is left after ``timeout_s``.
    Returns what happened: 'stopped', 'killed', 'not running' or 'not ours' (pid reused: left alone)."""
    if record is None:
        return "not running"
    import psutil

    if not is_alive(record):
        _reap(record.pid)
        try:
            psutil.Process(record.pid)
            return "not ours" if not _is_zombie(record.pid) else "not running"
        except psutil.NoSuchProcess:
            return "not running"
    try:
        leader = psutil.Process(record.pid)
        family = [leader, *leader.children(recursive=True)]
    except psutil.NoSuchProcess:
        return "not running"
    try:
        leader.terminate()
    except psutil.NoSuchProcess:
        pass
    child = _CHILDREN.get(record.pid)
    if child is not None:
        try:
            child.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pass
    gone, alive = psutil.wait_procs(family, timeout=timeout_s if child is None else 2.0)
    outcome = "stopped"
    for proc in alive:  # the leader ignored SIGTERM, or its workers outlived it
        try:
            proc.kill()
            outcome = "killed" if proc.pid == record.pid else outcome
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    _reap(record.pid)
    return outcome


def _is_zombie(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _reap(pid: int) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            pass


def signal_group(proc: subprocess.Popen, sig: int) -> bool:
    """Send ``sig`` to the process group ``proc`` leads (started with start_new_session), but only
    while the leader is not reaped. An unreaped leader, alive or a zombie, holds its pid and so
    the group id; once reaped, an empty group's id may be handed to any new session on the
    machine (pids wrap at 32768 here), and a killpg would end someone else's processes."""
    if proc.returncode is not None:
        return False
    try:
        os.killpg(proc.pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def exited(proc: subprocess.Popen) -> bool:
    """The process has ended; unlike Popen.poll() this leaves a zombie unreaped (WNOWAIT)."""
    if proc.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def end_process_groups(procs: list[subprocess.Popen], timeout_s: float = 20.0) -> None:
    """SIGTERM the groups these processes lead (the last started first), wait up to ``timeout_s``
    for the leaders, SIGKILL what is left of each group (children that outlived their leader too)
    and reap the leaders. Every signal goes through ``signal_group``."""
    for proc in reversed(procs):
        signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        while not exited(proc) and time.monotonic() < deadline:
            time.sleep(0.05)
        signal_group(proc, signal.SIGKILL)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            pass


def wait_until(check, timeout_s: float, interval_s: float = 0.2, alive=None) -> bool:
    """Poll ``check()`` until true or ``timeout_s``; stop early (False) when ``alive()`` says the
    process died."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return True
        except Exception:  # noqa: BLE001 - any failure of a readiness probe means "not yet"
            pass
        if alive is not None and not alive():
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


# ---------------------------------------------------------------- PostgreSQL

class PostgresCluster:
    """A PostgreSQL cluster in ``root`` (data in root/data, log and socket in root), TCP on
    127.0.0.1:``port``, trust authentication for the ``postgres`` user: a local server for
    staging or tests, never production. pg_ctl daemonises the server, so it outlives us."""

    def __init__(self, root: Path, port: int):
        self.root = Path(root)
        self.port = port
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").is_file()

    def init(self) -> None:
        """initdb once; the directory is handed to the postgres user when we are root."""
        self.root.mkdir(parents=True, exist_ok=True)
        if running_as_root():
            shutil.chown(self.root, "postgres", "postgres")
            os.chmod(self.root, 0o700)
            probe = subprocess.run(as_postgres("test", "-w", str(self.root)), capture_output=True)
            if probe.returncode != 0:
                raise ProcessError(
                    f"the postgres user cannot write {self.root}: a parent directory is not traversable by "
                    f"other users (o+x); choose a base directory under one that is (e.g. /tmp or /var/lib)")
        if self.initialised:
            return
        proc = subprocess.run(as_postgres(pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                                          "-E", "UTF8", "--no-sync"),
                              capture_output=True, text=True, start_new_session=True)
        if proc.returncode != 0:
            raise ProcessError(f"initdb failed in {self.data}: {(proc.stderr or proc.stdout).strip()[-2000:]}")

    def running_port(self) -> int | None:
        """The port of the server running on this data directory, None when none runs."""
        pidfile = self.data / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return port

    def start(self, timeout_s: float = 60) -> None:
        options = f"-p {self.port} -k {shlex.quote(str(self.root))} -c listen_addresses=127.0.0.1"
        proc = subprocess.run(as_postgres(pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-t", str(int(timeout_s)),
                                          "-l", str(self.log), "-o", options, "start"),
                              capture_output=True, text=True, start_new_session=True, timeout=timeout_s + 30)
        if proc.returncode != 0:
            raise ProcessError(f"PostgreSQL did not start on port {self.port}: "
                               f"{(proc.stderr or proc.stdout).strip()[-1000:]}\n--- {self.log}:\n{log_tail(self.log)}")

    def stop(self, mode: str = "fast", timeout_s: float = 60) -> bool:
        """True when a server was running and is stopped now."""
        if self.running_port() is None:
            return False
        proc = subprocess.run(as_postgres(pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                                          "-t", str(int(timeout_s)), "stop"),
                              capture_output=True, text=True, start_new_session=True, timeout=timeout_s + 30)
        if proc.returncode != 0 and self.running_port() is not None:
            raise ProcessError(f"pg_ctl stop failed for {self.data}: {(proc.stderr or proc.stdout).strip()[-1000:]}")
        return True

    def ready(self) -> bool:
        return subprocess.run([pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-t", "2"],
                              capture_output=True).returncode == 0

    def wait_ready(self, timeout_s: float = 30) -> None:
        if not wait_until(self.ready, timeout_s, 0.1):
            raise ProcessError(f"PostgreSQL on port {self.port} is not accepting connections after {timeout_s:.0f} s"
                               f"\n--- {self.log}:\n{log_tail(self.log)}")

    def create_database(self, name: str) -> bool:
        """Create ``name`` if absent; True when it was created."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True, connect_timeout=5) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True


# ---------------------------------------------------------------- test servers

class PrivatePostgres:
    """A throw-away cluster in a temp dir on a free port, for tests that stop and restart it."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="ocr-pg-"))
        self.data = self.dir / "data"
        self._cluster = PostgresCluster(self.dir, self.port)
        self._cluster.init()

    @property
    def url(self) -> str:
        return self._cluster.url()

    def start(self) -> None:
        self._cluster.start()

    def stop(self, mode: str = "immediate") -> None:
        self._cluster.stop(mode)

    def destroy(self) -> None:
        try:
            self.stop("fast")
        except ProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def wait_ready(self, timeout_s: float = 10) -> None:
        try:
            self._cluster.wait_ready(timeout_s)
        except ProcessError:
            raise RuntimeError("private PostgreSQL did not become ready") from None

    def _processes(self):
        import psutil

        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        main = psutil.Process(pid)
        return [main, *main.children(recursive=True)]

    def freeze(self) -> None:
        """SIGSTOP the server and its backends: connections stay open, nothing answers (a hung
        database, which enforces none of its own timeouts)."""
        for proc in self._processes():
            proc.suspend()

    def thaw(self) -> None:
        for proc in self._processes():
            proc.resume()


def redis_server_argv(port: int, workdir: Path | None = None) -> list[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise ProcessError("redis-server is not installed (apt-get install redis-server)")
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    if workdir is not None:
        argv += ["--dir", str(workdir)]
    return argv


def redis_ping(port: int, host: str = "127.0.0.1") -> bool:
    import redis

    try:
        return bool(redis.Redis(host=host, port=port, socket_timeout=1, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


class RedisProcess:
    """A redis-server on a free port, a child of this process, for tests that stop and restart it."""

    def __init__(self):
        self.port = free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(redis_server_argv(self.port), stdout=subprocess.DEVNULL)
        if not wait_until(lambda: redis_ping(self.port), 5, 0.05):
            raise RuntimeError("redis-server did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def worker_hostname() -> str:
    """Airflow's ``[core] hostname_callable`` in a topology whose processes share one machine:
    the process's name in it (``OCR_WORKER_NAME``, e.g. 'worker-2'), else the host's name. Each
    task instance then records which Celery worker ran it (scripts/distributed.py)."""
    return os.environ.get("OCR_WORKER_NAME") or socket.getfqdn()
