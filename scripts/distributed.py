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

  scripts/distributed.sh [--exit] [--skip-staging] [--bad-engine] ...   (the demo's options)
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from migration_demo import BIN, ROOT, Demo, build_parser, run_demo, say  # noqa: E402
from rollout.staging.processes import free_port, port_open, redis_server_argv, signal_group  # noqa: E402

WORKERS = ("worker-1", "worker-2")
REPLICAS = ("ocr-1", "ocr-2")
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
            self.start(name, [str(BIN / "ocr-migrate"), "serve", "--port", str(port)],
                       dict(env, OCR_MIGRATE_SERVICE_PORT=str(port)), port)
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

    def start_airflow(self, env: dict, ports: dict) -> None:
        api = f"http://127.0.0.1:{ports['airflow']}"
        env = dict(env, **airflow_celery_settings(POSTGRES, self.airflow_db, self.redis_port, api))
        say("migrating the Airflow metadata database (PostgreSQL)")
        done = subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"airflow db migrate failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        say(f"starting Airflow (CeleryExecutor): api-server on :{ports['airflow']}, scheduler, dag-processor, "
            f"triggerer, {len(WORKERS)} Celery workers")
        self.start("airflow-apiserver", [str(BIN / "airflow"), "api-server", "--port", str(ports["airflow"])],
                   env, ports["airflow"], timeout_s=300)
        for name in ("scheduler", "dag-processor", "triggerer"):
            self.start(f"airflow-{name}", [str(BIN / "airflow"), name], env, None)
        for name in WORKERS:
            self.workers[name] = self.start(
                name, [str(BIN / "airflow"), "celery", "worker", "--celery-hostname", f"{name}@%h",
                       "--concurrency", "4"], dict(env, OCR_WORKER_NAME=name), None)

    def on_tasks(self, tis: list[dict]) -> None:
        """--kill-worker-during TASK: SIGKILL the worker (and the task processes under it) that
        runs TASK, once, as a lost machine would end it."""
        task = self.args.kill_worker_during
        if not task or self.killed:
            return
        for ti in tis:
            worker = self.workers.get(ti.get("hostname") or "")
            if ti["task_id"] == task and ti["state"] == "running" and worker is not None:
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
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "rollout.staging.processes.worker_hostname",
        "AIRFLOW__CORE__PARALLELISM": "16",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
        # A worker that dies (machine lost, OOM kill) stops its tasks' heartbeats: after this long
        # the scheduler fails them and their retries run on another worker. The broker's
        # visibility timeout stays long: a poke-mode sensor runs for its whole soak.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    }


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
    args = parser.parse_args()
    if not port_open(5432):
        raise SystemExit("PostgreSQL is not running on 127.0.0.1:5432 (README: the machine's services)")
    return run_demo(DistributedDemo(args))


if __name__ == "__main__":
    sys.exit(main())
