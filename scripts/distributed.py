"""The migration on Airflow's distributed engine, on this machine: the topology of
docker-compose.airflow.yml, each service a process.

  * PostgreSQL (the running cluster, 127.0.0.1:5432): Airflow's metadata database and the OCR
    side's flags and events, two fresh databases per run;
  * redis-server (started here, on a free port): Celery's broker (db 0) and the flag
    distribution (db 1);
  * Airflow 3 with the CeleryExecutor: api-server, scheduler, dag-processor, triggerer, and two
    Celery workers (``worker-1``, ``worker-2``: each task instance records which one ran it);
  * two OCR service replicas on two ports, sharing the flag store, Redis and the events
    database, behind haproxy (round robin, health-checked on /health), which the traffic
    simulator talks to;
  * the Document AI API test double, as in the demo.

Runs ``ocr_migration`` end to end with short soaks and prints the demo's timeline, plus the
worker of each task and the share of traffic each replica served. Everything it started ends on
success, failure, Ctrl-C and SIGTERM.

Faults: ``--kill-worker-during TASK`` SIGKILLs the Celery worker running TASK;
``--kill-replica-during TASK`` SIGKILLs an OCR replica while TASK runs and restarts it a few
seconds later (compose's ``restart: always``). After the run, every request the traffic simulator
got a 200 for must have its event in ocr_events, and the gate of the replica fault's stage must
have counted events of both replicas (haproxy names the replica in ``X-OCR-Replica``).

  scripts/distributed.sh [--exit] [--skip-staging] [--bad-engine] ...   (the demo's options)
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from migration_demo import BIN, ROOT, Demo, build_parser, run_demo, say  # noqa: E402
from staging.processes import free_port, port_open, redis_server_argv, signal_group  # noqa: E402

WORKERS = ("worker-1", "worker-2")
WORKER_CONCURRENCY = 4  # task slots per worker (AIRFLOW__CELERY__WORKER_CONCURRENCY, as in compose)
REPLICAS = ("ocr-1", "ocr-2")
REPLICA_DOWN_S = 5.0  # --kill-replica-during: how long the killed replica stays down
POSTGRES = os.environ.get("OCR_DIST_POSTGRES", "postgres@127.0.0.1:5432")


class DistributedDemo(Demo):
    def __init__(self, args):
        super().__init__(args)
        tag = secrets.token_hex(3)
        self.airflow_db, self.metrics_db = f"ocr_dist_airflow_{tag}", f"ocr_dist_metrics_{tag}"
        self.created_dbs: list[str] = []
        self.stats_port = free_port()
        self.workers: dict[str, subprocess.Popen] = {}
        self.killed: str | None = None
        self.replicas: dict[str, subprocess.Popen] = {}
        self.replica_starts: dict[str, tuple[list[str], dict]] = {}
        self.replica_killed: tuple[str, float] | None = None  # (name, monotonic time of the kill)
        self.replica_restarted = False
        self.acknowledged_at_kill = 0

    # ------------------------------------------------------------------ the stores

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"postgresql://{POSTGRES}/postgres", autocommit=True) as conn:
            conn.execute(sql)

    def stores(self) -> dict:
        for name in (self.airflow_db, self.metrics_db):
            self._admin(f'CREATE DATABASE "{name}"')
            self.created_dbs.append(name)
        self.redis_port = free_port()
        (self.home / "redis").mkdir()
        self.start("redis", redis_server_argv(self.redis_port, self.home / "redis"), dict(os.environ), self.redis_port)
        say(f"PostgreSQL databases {self.airflow_db} (Airflow) and {self.metrics_db} (flags, events); "
            f"redis-server on :{self.redis_port}")
        return {"OCR_MIGRATE_DATABASE_URL": f"postgresql+psycopg://{POSTGRES}/{self.metrics_db}",
                "OCR_MIGRATE_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/1"}

    # ------------------------------------------------------------------ the OCR replicas

    def start_service(self, env: dict, ports: dict) -> None:
        self.replica_ports = {name: free_port() for name in REPLICAS}
        for name, port in self.replica_ports.items():
            say(f"starting OCR replica {name} on :{port}")
            # each replica its own data directory, as its own volume in compose: its event spool
            # and journal, which it replays when it comes back after a crash
            self.replica_starts[name] = ([str(BIN / "ocr-migrate"), "serve", "--port", str(port)],
                                         dict(env, OCR_MIGRATE_SERVICE_PORT=str(port),
                                              OCR_MIGRATE_DATA_DIR=str(self.home / name)))
            self.replicas[name] = self.start(name, *self.replica_starts[name], port)
        config = self.home / "haproxy.cfg"
        config.write_text(haproxy_config(ports["service"], self.stats_port,
                                         {name: f"127.0.0.1:{port}" for name, port in self.replica_ports.items()}))
        say(f"starting haproxy on :{ports['service']} (round robin over {', '.join(REPLICAS)}; stats on "
            f":{self.stats_port})")
        self.start("haproxy", ["haproxy", "-db", "-f", str(config)], dict(os.environ), ports["service"])

    def replica_shares(self) -> dict[str, int]:
        """Requests each replica answered, from haproxy's statistics."""
        import httpx

        try:
            text = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=5).text
        except httpx.HTTPError:
            return {}
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {row["svname"]: int(row["stot"] or 0) for row in rows
                if row["pxname"] == "ocr" and row["svname"] in REPLICAS}

    # ------------------------------------------------------------------ Airflow

    def start_airflow(self, env: dict, ports: dict, workers: tuple[str, ...] = WORKERS,
                      concurrency: int = WORKER_CONCURRENCY) -> dict:
        """Airflow with the CeleryExecutor and ``workers``; returns the environment its processes got."""
        api = f"http://127.0.0.1:{ports['airflow']}"
        env = dict(env, **airflow_celery_settings(POSTGRES, self.airflow_db, self.redis_port, api))
        say("migrating the Airflow metadata database (PostgreSQL)")
        done = subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"airflow db migrate failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        say(f"starting Airflow (CeleryExecutor): api-server on :{ports['airflow']}, scheduler, dag-processor, "
            f"triggerer, {len(workers)} Celery worker(s) of {concurrency} slot(s)")
        self.start("airflow-apiserver", [str(BIN / "airflow"), "api-server", "--port", str(ports["airflow"])],
                   env, ports["airflow"], timeout_s=300)
        for name in ("scheduler", "dag-processor", "triggerer"):
            self.start(f"airflow-{name}", [str(BIN / "airflow"), name], env, None)
        for name in workers:
            self.start_worker(name, env, concurrency)
        return env

    def start_worker(self, name: str, env: dict, concurrency: int = WORKER_CONCURRENCY) -> None:
        """A Celery worker named ``name`` taking ``concurrency`` task instances at once."""
        self.workers[name] = self.start(
            name, [str(BIN / "airflow"), "celery", "worker", "--celery-hostname", f"{name}@%h",
                   "--concurrency", str(concurrency)], worker_environment(env, name, free_port()), None)

    def on_tasks(self, tis: list[dict]) -> None:
        self.kill_worker(tis)
        self.kill_replica(tis)

    def kill_replica(self, tis: list[dict]) -> None:
        """--kill-replica-during TASK: SIGKILL an OCR replica (its process group) while TASK runs,
        once; haproxy's checks take it out and the other replica serves alone. REPLICA_DOWN_S
        later it is started again, as compose's ``restart: always`` would, and replays the
        events its journal holds: those it had answered 200 for but not yet written."""
        task = self.args.kill_replica_during
        if not task or self.replica_restarted:
            return
        if self.replica_killed is None:
            if any(ti["task_id"] == task and ti["state"] == "running" for ti in tis):
                name = REPLICAS[-1]
                self.reported_ends.add(self.replicas[name].pid)  # on purpose: not a crash
                signal_group(self.replicas[name], signal.SIGKILL)
                self.replicas[name].wait()
                self.replica_killed = (name, time.monotonic())
                self.acknowledged_at_kill = len(self.acknowledged)
                say(f"FAULT: SIGKILL to OCR replica {name} while {task} runs; "
                    f"{', '.join(r for r in REPLICAS if r != name)} serves alone")
            return
        name, at = self.replica_killed
        if time.monotonic() - at < REPLICA_DOWN_S:
            return
        self.replica_restarted = True
        alone = len(self.acknowledged) - self.acknowledged_at_kill
        say(f"{alone} requests answered 200 while {name} was down; restarting it")
        log_path = self.home / "logs" / f"{name}.log"
        offset = log_path.stat().st_size
        self.replicas[name] = self.start(name, *self.replica_starts[name], self.replica_ports[name])
        with log_path.open("rb") as fh:
            fh.seek(offset)
            adopted = re.findall(rb"adopted (\d+) events", fh.read())
        say(f"restarted OCR replica {name} after {time.monotonic() - at:.0f} s: it replayed "
            f"{sum(int(n) for n in adopted)} events from its journal (answered 200, not yet written when killed)")

    def kill_worker(self, tis: list[dict]) -> None:
        """--kill-worker-during TASK: SIGKILL the worker (and the task processes under it) that
        runs TASK, once, as a lost machine would end it."""
        task = self.args.kill_worker_during
        if not task or self.killed:
            return
        for ti in tis:
            worker = self.workers.get(ti.get("hostname") or "")
            if ti["task_id"] == task and ti["state"] == "running" and worker is not None:
                self.reported_ends.add(worker.pid)  # on purpose: not a crash
                signal_group(worker, signal.SIGKILL)
                self.killed = ti["hostname"]
                say(f"FAULT: SIGKILL to {self.killed} while it runs {task} (try {ti.get('try_number')})")
                return

    def where(self, ti: dict) -> str:
        return f"  [{ti.get('hostname') or '?'}]"

    # ------------------------------------------------------------------ the end

    def summary(self, state: str, api: str, password: str, ports: dict) -> None:
        super().summary(state, api, password, ports)
        shares = self.replica_shares()
        total = sum(shares.values()) or 1
        say("traffic per OCR replica (haproxy): " + ", ".join(
            f"{name} {count} ({count / total:.0%})" for name, count in sorted(shares.items())))
        self.check_acknowledged_events()
        if self.args.kill_replica_during:
            self.check_gate_saw_both_replicas(self.args.kill_replica_during)

    def _metrics_db(self):
        from sqlalchemy import create_engine

        return create_engine(self.ocr_env["OCR_MIGRATE_DATABASE_URL"])

    def check_acknowledged_events(self, wait_s: float = 20.0) -> None:
        """Every request answered 200 has its event in ocr_events (the writers flush every
        0.5 s: give them ``wait_s``)."""
        from sqlalchemy import text

        acknowledged = dict(self.acknowledged)
        db = self._metrics_db()
        deadline = time.monotonic() + wait_s
        while True:
            with db.connect() as conn:
                stored = {row[0] for row in conn.execute(text("SELECT DISTINCT request_id FROM ocr_events"))}
            lost = sorted(set(acknowledged) - stored)
            if not lost or time.monotonic() > deadline:
                break
            time.sleep(1)
        db.dispose()
        per_replica = {name: sum(1 for r in acknowledged.values() if r == name) for name in REPLICAS}
        say(f"acknowledged requests: {len(acknowledged)} answered 200 ("
            + ", ".join(f"{name} {n}" for name, n in per_replica.items())
            + f"); their events in ocr_events: {len(acknowledged) - len(lost)}; lost events: {len(lost)}")
        if lost:
            self.problems.append(f"{len(lost)} acknowledged requests have no event, e.g. {lost[:5]}")
            say(f"LOST: {len(lost)} requests answered 200 have no event in ocr_events, e.g. {', '.join(lost[:5])}")

    def check_gate_saw_both_replicas(self, task: str) -> None:
        """The last health-gate evaluation of TASK's stage in this run: how many of the events in
        its window each replica answered (by request id: haproxy names the replica)."""
        from sqlalchemy import text

        from rollout.stages import STAGE_PERCENTAGES

        stage = int(task.split(".")[0].removeprefix("stage_"))
        percentage = (self.args.stages or list(STAGE_PERCENTAGES[1:]))[stage - 1]
        db = self._metrics_db()
        with db.connect() as conn:
            gate = conn.execute(text(
                "SELECT verdict, window_start, window_end, canary_documents, baseline_documents FROM gate_evaluations "
                "WHERE run_id = :run AND percentage = :p ORDER BY id DESC LIMIT 1"),
                {"run": self.run_id, "p": percentage}).first()
            ids = [row[0] for row in conn.execute(text(
                "SELECT request_id FROM ocr_events WHERE at >= :start AND at <= :end AND NOT shadow "
                "AND engine IN ('tesseract', 'documentai')"), {"start": gate[1], "end": gate[2]})] if gate else []
        db.dispose()
        counted = {name: sum(1 for i in ids if self.acknowledged.get(i) == name) for name in REPLICAS}
        if not gate:
            self.problems.append(f"no gate evaluation at {percentage} % in run {self.run_id}")
            say(f"PROBLEM: no gate evaluation at {percentage} % in this run")
            return
        say(f"{task}'s last gate ({gate[0]} at {percentage} %: {gate[3]} canary / {gate[4]} baseline documents) "
            f"decided from the events of " + ", ".join(f"{name} {n}" for name, n in counted.items())
            + f" (of {len(ids)} in its window)")
        if not all(counted.values()):
            self.problems.append(f"the {percentage} % gate did not count events of every replica: {counted}")

    def stop_all(self) -> None:
        super().stop_all()
        for name in self.created_dbs:
            try:
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # noqa: BLE001 (report, and keep cleaning up)
                print(f"could not drop database {name}: {exc}", file=sys.stderr)


def airflow_celery_settings(postgres: str, database: str, redis_port: int, api: str) -> dict[str, str]:
    """What makes Airflow distributed: the settings docker-compose.airflow.yml gives its services,
    for processes on one machine."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{postgres}/{database}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{postgres}/{database}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__CORE__FERNET_KEY": "M6xrzRW3_DenGl4UawN4Y7SXyGk_n1JMDt1wRoWNxVg=",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "staging.processes.worker_hostname",
        "AIRFLOW__CORE__PARALLELISM": "16",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        # A worker that dies (machine lost, OOM kill) stops its tasks' heartbeats: after this long
        # the scheduler fails them and their retries run on another worker. The broker's
        # visibility timeout stays long: a poke-mode sensor runs for its whole soak.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    }


def worker_environment(env: dict[str, str], name: str, log_port: int) -> dict[str, str]:
    """A Celery worker's environment: its name (the hostname its task instances record) and its
    own port for the log server every worker starts. Workers that share a machine must not share
    it: the second one could not bind 8793, the default, and served no logs (compose gives each
    container its own network, so 8793 there). The UI reads a finished task's log from the log
    folder the processes share here."""
    return dict(env, OCR_WORKER_NAME=name, AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(log_port))


def haproxy_config(port: int, stats_port: int, replicas: dict[str, str], bind: str = "127.0.0.1",
                   nameserver: str | None = None) -> str:
    """The balancer's configuration: ``replicas`` maps a server name to its ``host:port``. One
    description for both deployments: here (127.0.0.1, free ports) and docker-compose.airflow.yml
    (deploy/haproxy.cfg: all interfaces, the replicas by service name, re-resolved through
    Docker's DNS at ``nameserver`` when a container comes back with another address)."""
    resolve = " resolvers dns init-addr last,libc,none" if nameserver else ""
    servers = "\n".join(f"    server {name} {address} check inter 1s fall 2 rise 1{resolve}"
                        for name, address in replicas.items())
    resolvers = f"""
resolvers dns
    nameserver docker {nameserver}
    hold valid 10s
""" if nameserver else ""
    return f"""# written by scripts/distributed.py (haproxy_config)
global
    maxconn 512
{resolvers}
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    option redispatch
    retries 2

frontend ocr_in
    bind {bind}:{port}
    default_backend ocr

backend ocr
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    # which replica answered (the distributed run attributes each acknowledged event by it)
    http-response set-header X-OCR-Replica %s
{servers}

listen stats
    bind {bind}:{stats_port}
    stats enable
    stats uri /stats
"""


# docker-compose.airflow.yml's balancer: the replicas by service name, Docker's DNS
COMPOSE_BALANCER = {"port": 8001, "stats_port": 8404, "bind": "0.0.0.0", "nameserver": "127.0.0.11:53",
                    "replicas": {"ocr-service-1": "ocr-service-1:8001", "ocr-service-2": "ocr-service-2:8001"}}
COMPOSE_HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"


def main() -> int:
    if sys.argv[1:] == ["--write-compose-balancer"]:  # deploy/haproxy.cfg from the one description
        COMPOSE_HAPROXY_CFG.write_text(haproxy_config(**COMPOSE_BALANCER))
        return 0
    parser = build_parser(__doc__.split("\n\n")[0])
    parser.set_defaults(data_dir="data/distributed")
    parser.add_argument("--kill-worker-during", metavar="TASK_ID", default=None,
                        help="SIGKILL the Celery worker running this task (e.g. stage_1.health_gate): the "
                             "task must be retried on the other worker and the run complete")
    parser.add_argument("--kill-replica-during", metavar="TASK_ID", default=None,
                        help="SIGKILL an OCR replica while this task runs (e.g. stage_2.health_gate) and restart "
                             f"it {REPLICA_DOWN_S:.0f} s later: the other serves meanwhile, no acknowledged event "
                             "may be lost, and the stage's gate must count events of both replicas")
    args = parser.parse_args()
    if not port_open(5432):
        raise SystemExit("PostgreSQL is not running on 127.0.0.1:5432: scripts/distributed.sh starts the local "
                         "cluster (pg_ctlcluster --skip-systemctl-redirect VERSION main start); see README "
                         "\"Scaling out\"")
    return run_demo(DistributedDemo(args))


if __name__ == "__main__":
    sys.exit(main())
