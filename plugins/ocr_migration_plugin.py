"""The "OCR migration" page of the Airflow UI (an Airflow 3 plugin: ``fastapi_apps`` + ``external_views``).

The api-server mounts the app below at ``/ocr-migration``; the nav entry shows it inside the UI
(an iframe under ``/plugin/ocr-migration``). Routes, all ``GET``:

  /                    the page: stage and flags, the stage timeline (stages, gate verdicts, rollbacks,
                       remediations: one strip), health per engine and per upload kind, plots over time
                       (buckets fitted to the traffic in the window), canary vs baseline, gate history
                       with reasons, alerts, recent flag changes, the DAGs' latest runs, links to the
                       Data Docs and the DAG. ``?hours=N`` (0 < N <= 720, default 24) is the window;
                       anything else is a 422.
  /api/snapshot        the same data as JSON (``?hours=N`` likewise; ``timeline``, ``kinds``, ``series``)
  /data-docs/{path}    the Great Expectations Data Docs in ``settings.data_docs_dir`` (no path may
                       leave that folder: 404)
  /static/{name}       the page's own script and icon

Authentication: plugin FastAPI apps get none from Airflow, so every route depends on Airflow's own
``get_user`` (``GetUserDep``): the JWT the UI got at login, sent by the browser as the ``_token``
cookie, or an ``Authorization: Bearer`` header (``POST /auth/token``). No or an expired token: 401
(a browser asking for HTML is redirected to the login page instead, then comes back); an invalid
token: 403. Authorization: the user must be allowed the UI (``AccessView.WEBSITE``) and to read the
``ocr_migration`` DAG (403 otherwise); a DAG's latest run is only shown to who may read its runs.

Data: the migration database is the one the DAG tasks use: ``ocr_migration_hook.migration_settings()``
(the ``ocr_metrics_db`` Airflow connection over the ``OCR_MIGRATE_*`` environment) when that module
is importable (the api-server puts the plugins folder on ``sys.path``), else
``rollout.settings.get_settings()``.

Import cost: Airflow imports every plugin module in the scheduler, the DAG processor and each task,
so this module imports only Airflow's plugin base class. FastAPI, Airflow's security module and the
health code (numpy, scipy) are imported when the api-server serves the first request
(:class:`LazyASGIApp`).
"""

import functools
import logging
import os
import threading
from pathlib import Path

from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)

URL_PREFIX = "/ocr-migration"
MIGRATION_DAG_ID = "ocr_migration"
#: Shown in the "Airflow DAGs" table, the migration first.
DAG_IDS = ("ocr_migration", "ocr_staging_deploy", "ocr_staging_tests", "ocr_emergency", "ocr_monitoring")
MAX_HOURS = 720
WINDOW_CHOICES = ((1, "1 h"), (6, "6 h"), (24, "24 h"), (168, "7 d"), (720, "30 d"))
REFRESH_S = 60

# When the page is shown inside the Airflow UI (the nav entry's iframe), a link to one of Airflow's
# own pages should move the UI itself, not load a second UI inside the frame. The frame's sandbox
# forbids navigating the top window, but it is same-origin, so the UI's router can be told to go
# there (pushState + popstate is what its history listener follows). Anything unexpected: the link
# keeps its normal behaviour. An external file, not an inline script: a CSP may forbid inline ones.
PAGE_JS = """\
(function () {
  "use strict";
  if (window.top === window.self) { return; }
  var top;
  try { top = window.top; void top.location.pathname; } catch (err) { return; }
  document.addEventListener("click", function (ev) {
    var link = ev.target && ev.target.closest ? ev.target.closest("a[data-airflow-route]") : null;
    if (!link || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) {
      return;
    }
    try {
      top.history.pushState(null, "", link.href);
      top.dispatchEvent(new top.PopStateEvent("popstate", { state: null }));
      ev.preventDefault();
    } catch (err) { /* fall back to following the link inside the frame */ }
  });
})();
"""

ICON_SVG = """\
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24" fill="none" \
stroke="#4a5568" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">\
<path d="M6 2h9l5 5v15H6z"/><path d="M15 2v5h5"/><path d="M9 17v-3M12 17v-6M15 17v-4"/></svg>
"""

class LazyASGIApp:
    """An ASGI app that builds the real one on its first request, in a worker thread (the build
    imports FastAPI, Airflow's security module and numpy/scipy: about two seconds, once)."""

    def __init__(self, factory):
        self._factory = factory
        self._app = None
        self._lock = threading.Lock()

    def build(self):
        with self._lock:
            if self._app is None:
                self._app = self._factory()
        return self._app

    async def __call__(self, scope, receive, send):
        app = self._app
        if app is None:
            import anyio.to_thread

            app = await anyio.to_thread.run_sync(self.build)
        await app(scope, receive, send)


# ------------------------------------------------------------------------------------------- data


def migration_settings():
    """The settings the DAG tasks use (Airflow connection over the environment), see the docstring."""
    try:
        from ocr_migration_hook import migration_settings as from_airflow
    except ImportError:
        from rollout.settings import get_settings

        return get_settings()
    return from_airflow()


@functools.lru_cache(maxsize=4)
def _db(url: str):
    """The database the views read, its schema at head from this API server's first look on (a
    fresh install shows empty figures, not an error)."""
    from rollout.db import ensure_schema, make_db

    db = make_db(url)
    ensure_schema(db)
    return db


def flag_changes(store, limit: int = 10) -> list[dict]:
    """The flag audit log, newest first: who changed what, why, and what came of it."""
    rows = []
    for entry in store.history(limit=limit):
        before, after = entry.before or {}, entry.after or {}
        rows.append({"id": entry.id, "at": entry.at, "actor": entry.actor, "action": entry.action,
                     "outcome": entry.outcome, "version_before": entry.version_before,
                     "version_after": entry.version_after, "reason": entry.reason,
                     "stage_before": before.get("stage"), "stage_after": after.get("stage"),
                     "percentage_before": before.get("percentage"), "percentage_after": after.get("percentage")})
    return rows


def collect(hours: float) -> dict:
    """The health snapshot of ``rollout.health.overview`` plus the recent flag changes and, under
    ``notes``, what could not be read (a missing flag state is shown, not an error)."""
    from sqlalchemy import inspect

    from rollout.flags import FlagStore, StoreUnavailableError
    from rollout.health.overview import health_snapshot

    settings = migration_settings()
    db = _db(settings.sqlalchemy_url)
    store = FlagStore(db)
    notes = []
    try:
        state = store.snapshot()
    except StoreUnavailableError as exc:
        state = None
        fresh = "not initialised" in str(exc) or not inspect(db).has_table("rollout_state")
        notes.append("no rollout state yet: the ocr_migration DAG (or `ocr-migrate status`) creates it at stage 0"
                     if fresh else f"flag state: {exc}")
    data = health_snapshot(db, hours, state, price_per_page=settings.documentai_price_per_page,
                           currency=settings.documentai_price_currency)
    try:
        data["flag_history"] = flag_changes(store)
    except Exception as exc:  # the audit table appears with the flag state
        log.debug("flag history not readable: %s", exc)
        data["flag_history"] = []
    data["notes"] = notes
    data["data_docs"] = {"available": (settings.data_docs_dir / "index.html").is_file()}
    return data


def latest_runs(user, dag_ids=DAG_IDS) -> dict:
    """Per DAG: whether Airflow knows it, and its latest run (if the user may read runs). Read from
    Airflow's own database; ``{"error": ...}`` when that is not possible (e.g. outside the api-server)."""
    from sqlalchemy import select

    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    auth = get_auth_manager()
    out: dict = {"dags": {}}
    try:
        with create_session() as session:
            known = {row.dag_id: row for row in session.execute(
                select(DagModel.dag_id, DagModel.is_paused).where(DagModel.dag_id.in_(dag_ids)))}
            for dag_id in dag_ids:
                info = {"known": dag_id in known, "paused": known[dag_id].is_paused if dag_id in known else None,
                        "latest_run": None}
                if auth.is_authorized_dag(method="GET", access_entity=DagAccessEntity.RUN,
                                          details=DagDetails(id=dag_id), user=user):
                    run = session.execute(
                        select(DagRun.run_id, DagRun.state, DagRun.run_type, DagRun.start_date, DagRun.end_date,
                               DagRun.run_after)
                        .where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)).first()
                    if run is not None:
                        info["latest_run"] = {"run_id": run.run_id, "state": str(run.state) if run.state else None,
                                              "run_type": str(run.run_type), "start_date": run.start_date,
                                              "end_date": run.end_date, "run_after": run.run_after}
                out["dags"][dag_id] = info
    except Exception as exc:  # noqa: BLE001 — the page is still useful without Airflow's view of the runs
        log.warning("ocr-migration page: Airflow's DAG runs not readable: %s", exc)
        return {"dags": {}, "error": "Airflow's database is not readable from here"}
    return out


# ------------------------------------------------------------------------------------------- page


TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


def page_context(data: dict, runs: dict, hours: float, base: str, airflow: str) -> dict:
    """What ``templates/ocr_migration_page.html`` needs beyond the snapshot: the window choices and
    the URLs of this app and of Airflow's own pages."""
    from urllib.parse import quote

    from presentation.formatting import fmt_hours

    choices = [{"hours": h, "label": label, "current": float(h) == float(hours)} for h, label in WINDOW_CHOICES]
    if not any(c["current"] for c in choices):
        choices.append({"hours": hours, "label": fmt_hours(hours), "current": True})

    def dag_url(dag_id: str) -> str:
        return f"{airflow}/dags/{quote(dag_id)}"

    def run_info(dag_id: str, run: dict | None) -> dict | None:
        return run and {**run, "url": f"{dag_url(dag_id)}/runs/{quote(run['run_id'], safe='')}"}

    dags = [{"dag_id": dag_id, "known": info.get("known"), "paused": info.get("paused"), "url": dag_url(dag_id),
             "run": run_info(dag_id, info.get("latest_run"))} for dag_id, info in (runs.get("dags") or {}).items()]
    latest = ((runs.get("dags") or {}).get(MIGRATION_DAG_ID) or {}).get("latest_run")
    return {"base": base, "hours": hours, "refresh_s": REFRESH_S, "choices": choices, "dag_id": MIGRATION_DAG_ID,
            "dag_url": dag_url(MIGRATION_DAG_ID), "latest_run": run_info(MIGRATION_DAG_ID, latest), "dags": dags}


def render_page(data: dict, runs: dict, hours: float, base: str, airflow: str) -> str:
    """The health report of ``presentation.report``, extended by ``templates/ocr_migration_page.html``
    with the page's nav bar, notes, flag changes and the DAGs' latest runs."""
    from presentation.report import context
    from presentation.templating import render

    return render("ocr_migration_page.html", search=[TEMPLATES], **context(data), runs=runs,
                  page=page_context(data, runs, hours, base, airflow))


# -------------------------------------------------------------------------------------------- app


ASSETS = {"page.js": (PAGE_JS, "text/javascript"), "icon.svg": (ICON_SVG, "image/svg+xml")}


def data_docs_file(root: Path, path: str) -> Path | None:
    """The Data Docs file a URL path names under ``root`` (a directory's index.html), or None: no
    such file, or outside ``root`` once resolved."""
    try:  # a NUL or an over-long name is no file of ours: 404, not a ValueError/OSError 500
        target = (root / path).resolve()
        if target.is_dir():
            target = target / "index.html"
        found = target.is_file()
    except (ValueError, OSError):
        return None
    # resolve() has applied every "..", symlink and absolute part: what is left must be inside.
    return target if found and target.is_relative_to(root) else None


def _migration_reader():
    """The dependency every route of the page has: logged in (``GetUserDep``: 401/403 otherwise),
    may use the UI and read the migration DAG (Airflow's imports here: not at plugin load)."""
    from fastapi import HTTPException, status

    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView, DagDetails
    from airflow.api_fastapi.core_api.security import GetUserDep

    def migration_reader(user: GetUserDep) -> BaseUser:
        auth = get_auth_manager()
        if not (auth.is_authorized_view(access_view=AccessView.WEBSITE, user=user)
                and auth.is_authorized_dag(method="GET", details=DagDetails(id=MIGRATION_DAG_ID), user=user)):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"Forbidden: the OCR migration page needs read access to the {MIGRATION_DAG_ID} DAG")
        return user

    return migration_reader


def base_paths(request) -> tuple[str, str]:
    """(this app's URL prefix, Airflow's): the mount's root path, as served."""
    base = request.scope.get("root_path", "").rstrip("/")
    airflow = base.removesuffix(URL_PREFIX) if base.endswith(URL_PREFIX) else ""
    return base, airflow


def create_app():
    """The FastAPI app (built on the first request in the api-server; tests build it directly)."""
    from typing import Annotated

    from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
    from sqlalchemy.exc import SQLAlchemyError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

    migration_reader = _migration_reader()
    Reader = Annotated[BaseUser, Depends(migration_reader)]
    Hours = Annotated[float, Query(gt=0, le=MAX_HOURS, description="the window, in hours")]

    app = FastAPI(title="OCR migration", dependencies=[Depends(migration_reader)],
                  docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(StarletteHTTPException)
    async def login_redirect(request: Request, exc: StarletteHTTPException):
        """A browser without a valid login is sent to the login page, and back here afterwards."""
        if (exc.status_code == status.HTTP_401_UNAUTHORIZED and request.method == "GET"
                and "text/html" in request.headers.get("accept", "")):
            next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(get_auth_manager().get_url_login(next_url=next_url),
                                    status_code=status.HTTP_303_SEE_OTHER)
        return await http_exception_handler(request, exc)

    def snapshot_or_503(hours: float) -> dict:
        try:
            return collect(hours)
        except SQLAlchemyError as exc:
            log.exception("ocr-migration page: the migration database is not readable")
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                f"the migration database is not readable ({type(exc).__name__})") from None

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request, user: Reader, hours: Hours = 24) -> HTMLResponse:
        base, airflow = base_paths(request)
        data = snapshot_or_503(hours)
        html = render_page(data, latest_runs(user), hours, base, airflow)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/api/snapshot")
    def snapshot(user: Reader, hours: Hours = 24) -> JSONResponse:
        data = snapshot_or_503(hours)
        data["airflow"] = latest_runs(user)
        from rollout.health.schema import jsonable

        return JSONResponse(jsonable(data), headers={"Cache-Control": "no-store"})

    @app.get("/data-docs/{path:path}")
    def data_docs(path: str) -> FileResponse:
        root = migration_settings().data_docs_dir.resolve()
        target = data_docs_file(root, path)
        if target is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                "no such Data Docs file" if root.is_dir() else "no Data Docs yet")
        return FileResponse(target)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in ASSETS:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such asset")
        body, media_type = ASSETS[name]
        return Response(body, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})

    return app


app = LazyASGIApp(create_app)


def _data_docs_link():
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:  # Airflow puts the plugins folder on sys.path; a bare import may not
        sys.path.append(here)
    from ocr_migration_operators import DataDocsLink

    return DataDocsLink()


class OcrMigrationPlugin(AirflowPlugin):
    name = "ocr_migration"
    operator_extra_links = [_data_docs_link()]  # the golden gate tasks' "Data Docs" button
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "OCR migration"}]
    external_views = [{
        "name": "OCR migration",
        "href": f"{URL_PREFIX}/",
        "destination": "nav",
        "url_route": "ocr-migration",  # shown inside the UI at /plugin/ocr-migration
        "nav_top_level": True,
        "icon": f"{URL_PREFIX}/static/icon.svg",
    }]
