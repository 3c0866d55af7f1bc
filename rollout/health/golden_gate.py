"""The Great Expectations golden gate: is the open-source engine's output still good enough?

Before every stage the migration reads the golden invoices with the open-source engine, turns each
document into one row (per-field match against the truth, confidence, checksum validity, amounts
in integer grosze) and validates the rows with the suites in ``expectations/gx/expectations/``
(GX 1.x JSON, the source of truth). When a shadow window is given, shadow-compared production
events are validated with a second suite. Each suite run is stored in ``gx_validations``; the
Data Docs site is built into the folder the caller names (the Airflow plugin serves it).

GX, pandas and the OCR engine are imported inside the functions: ``import great_expectations``
alone takes seconds, and this module is imported by DAG files.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import unquote, urlparse

from sqlalchemy import JSON, Boolean, Column, DateTime, Index, Integer, String, Table, Text, insert, inspect, select
from sqlalchemy.engine import Engine

from ocr_engines.compare import IGNORED, MATCH
from ocr_engines.evaluation import (LINE_ITEMS, GoldenDocument, engine_fingerprint, file_digest, golden_documents,
                                    score_document)
from ocr_engines.normalize import digits_only
from ocr_engines.result import FIELD_NAMES
from ocr_engines.validation import CRITICAL_FIELDS, is_valid_iban, is_valid_nip

from ..fanout import pick
from .golden_subsets import CORPUS_SUBSETS, SPANNING_SUBSETS, SUBSETS
from .schema import _id, as_utc, jsonable, metadata, recent_rows

log = logging.getLogger(__name__)

GOLDEN_SUITE = "ocr_golden_fields"
SHADOW_SUITE = "ocr_shadow_agreement"
NO_SHADOW_SAMPLE = "no shadow sample"
DOCS_SITE = "gate_site"

gx_validations = Table(
    "gx_validations", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("evaluated_at", DateTime(timezone=True), nullable=False),
    Column("run_id", String(250)),          # the Airflow run (or CLI) that asked
    Column("stage", Integer),
    Column("suite", String(100), nullable=False),
    Column("success", Boolean),             # NULL: not validated (e.g. no shadow sample)
    Column("evaluated_expectations", Integer, nullable=False),
    Column("successful_expectations", Integer, nullable=False),
    Column("unsuccessful_expectations", Integer, nullable=False),
    Column("documents", Integer, nullable=False),
    Column("results", JSON, nullable=False),  # failing expectations with observed values, figures
    Column("data_docs_path", Text),
    Index("ix_gx_validations_at", "evaluated_at"),
    Index("ix_gx_validations_run", "run_id", "evaluated_at"),
)


class SuiteIntegrityError(RuntimeError):
    """A suite did not load or evaluate every expectation its JSON declares (GX drops an expectation
    whose class is not registered with only a logged traceback; a gate must not pass on fewer checks)."""


def default_gx_dir() -> Path:
    """``OCR_MIGRATE_GX_DIR``, else ``gx/`` beside the ``expectations`` package (a non-editable
    install carries it only when the package data includes ``gx/**``)."""
    override = os.environ.get("OCR_MIGRATE_GX_DIR")
    if override:
        return Path(override)
    import expectations

    return Path(expectations.__file__).resolve().parent / "gx"


# ---------------------------------------------------------------- golden rows


def golden_results(golden_dir: Path, engine_name: str = "tesseract", subset: str = "digital", workers: int = 1,
                   cache_dir: Path | None = None, options: dict | None = None,
                   paths: list[str] | None = None) -> list[dict]:
    """One row per golden document of ``subset`` (see ``subset_documents``): the engine's read
    scored against the truth. Reads are cached in ``cache_dir`` by engine name and version, the
    engine's fingerprint (``ocr_engines.evaluation.engine_fingerprint``: its code, calibration,
    traineddata, backend and options) and the document's sha256, so the gates of one migration run
    OCR each document once, and a change to what makes a read reads again. ``paths``: only these
    documents of the subset (one shard of the gate, as ``rollout.fanout.split`` made it from
    ``subset_documents``)."""
    golden_dir, docs = subset_documents(Path(golden_dir), subset)
    if paths is not None:
        docs = pick(docs, paths)
    if options is None:
        from ..settings import get_settings

        options = get_settings().engine_options(engine_name)
    engine, version = _engine_and_version(engine_name, options)
    cache = _cache_folder(cache_dir, engine_name, version, options) if docs else None
    reads: dict[str, tuple[dict | None, float, str | None]] = {}
    todo = []
    for doc in docs:
        cached = _cache_get(cache, doc)
        if cached is not None:
            reads[str(doc.path)] = cached
        else:
            todo.append(doc)
    for doc, read in _read_documents(engine, engine_name, options, todo, workers):
        reads[str(doc.path)] = read
        _cache_put(cache, doc, read)
    return [golden_row(doc, *reads[str(doc.path)], golden_dir=golden_dir, engine_name=engine_name,
                       engine_version=version) for doc in docs]


def subset_documents(golden_dir: Path, subset: str) -> tuple[Path, list[GoldenDocument]]:
    """(``golden_dir``, the documents of ``subset``). ``subset`` is a variant subset of the golden
    set ("digital", "scan", "all", a manifest variant), for a committed corpus its name
    ("ksef-official": all of it) or its name and a variant subset ("ksef-official:scan"), or a
    subset spanning folders (``golden_subsets.SPANNING_SUBSETS``: "mixed", the default, a fixed
    sample of each kind of the golden set and all of ksef-official). Rows name a document by its
    path in ``golden_dir``, a corpus's as ``<corpus>/<path in it>`` (``document_name``)."""
    golden_dir = Path(golden_dir)
    if subset in SPANNING_SUBSETS:
        folders: dict[str | None, list[GoldenDocument]] = {}
        docs: list[GoldenDocument] = []
        for corpus, variants, per_group in SPANNING_SUBSETS[subset]:
            if corpus not in folders:
                folders[corpus] = golden_documents(golden_dir if corpus is None else corpus_folder(corpus))
            found = folders[corpus] if per_group is None else sample_documents(folders[corpus], per_group)
            docs += select_documents(found, variants)
        return golden_dir, docs
    corpus, _, variants = subset.partition(":")
    if corpus in CORPUS_SUBSETS:
        return golden_dir, select_documents(golden_documents(corpus_folder(corpus)), variants or "all")
    return golden_dir, select_documents(golden_documents(golden_dir), subset)


def corpus_folder(corpus: str) -> Path:
    """A committed corpus beside the golden set (``expectations/<corpus>``), found by name."""
    import expectations

    return Path(expectations.__file__).resolve().parent / corpus


def sample_documents(docs: list[GoldenDocument], per_group: int) -> list[GoldenDocument]:
    """A fixed sample of ``per_group`` documents of each manifest group: a group's documents in
    name order, each group starting where the one before it ended (digital first, then the groups
    by name), so that the groups read different invoices (and layouts) rather than the same few."""
    groups: dict[str, list[GoldenDocument]] = {}
    for doc in sorted(docs, key=lambda d: str(d.path)):
        groups.setdefault(doc.group, []).append(doc)
    out = []
    for j, group in enumerate(sorted(groups, key=lambda g: (g != "digital", g))):
        members = groups[group]
        out += [members[(j * per_group + i) % len(members)] for i in range(min(per_group, len(members)))]
    return sorted(out, key=lambda d: str(d.path))


def document_name(path: Path, golden_dir: Path) -> str:
    """A row's document: its path in ``golden_dir``, else ``<corpus>/<path in it>`` for a committed
    corpus (``ksef-official/pdf/001.pdf``), else the full path."""
    try:
        return path.relative_to(golden_dir).as_posix()
    except ValueError:
        pass
    for corpus in CORPUS_SUBSETS:
        try:
            return f"{corpus}/{path.relative_to(corpus_folder(corpus)).as_posix()}"
        except ValueError:
            continue
    return str(path)


def document_kind(path: Path, group: str, golden_dir: Path) -> str:
    """What ``documents_per_kind`` counts: the manifest group (digital, scan300, scan_degraded...)
    of a golden-set document, ``<corpus>:<group>`` of a committed corpus's (ksef-official:digital)."""
    if not _inside(path, golden_dir):
        for corpus in CORPUS_SUBSETS:
            if _inside(path, corpus_folder(corpus)):
                return f"{corpus}:{group}"
    return group


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def documents_per_kind(rows: list[dict]) -> dict[str, int]:
    """How many rows of each kind (``document_kind``), in the order the rows first show them."""
    counts: dict[str, int] = {}
    for row in rows:
        kind = row.get("kind") or row.get("group") or "all"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def select_documents(docs: list[GoldenDocument], subset: str) -> list[GoldenDocument]:
    if subset in SUBSETS:
        groups = SUBSETS[subset]
    else:
        groups = {subset}
        if not any(d.group == subset for d in docs):
            raise ValueError(f"unknown golden subset {subset!r}; choose one of {', '.join(SUBSETS)} or a "
                             f"manifest variant ({', '.join(sorted({d.group for d in docs}))})")
    return [d for d in docs if groups is None or d.group in groups]


def golden_row(doc: GoldenDocument, result: dict | None, seconds: float, error: str | None, *,
               golden_dir: Path, engine_name: str, engine_version: str) -> dict:
    """The row the golden suite validates; scoring is ``ocr_engines.evaluation.score_document``."""
    score = score_document(doc, result, seconds, error)
    values = {} if result is None else {k: v["value"] for k, v in result.get("fields", {}).items()}
    row = {"document": document_name(doc.path, golden_dir), "group": doc.group,
           "kind": document_kind(doc.path, doc.group, golden_dir), "engine": engine_name, "engine_version": engine_version,
           "error": error, "pages": (result or {}).get("pages", 0), "seconds": round(seconds, 3),
           # a failed read found nothing: zero confidence, not a missing value the floor would skip
           "confidence": float(result.get("confidence", 0.0)) if result is not None else 0.0}
    for field in FIELD_NAMES + (LINE_ITEMS,):
        ok = score.fields.get(field)  # None: neither in the truth nor found
        row[f"match_{field}"] = None if ok is None else int(ok)
    for field in CRITICAL_FIELDS:
        row[field] = values.get(field)
    for field in ("supplier_tax_id", "receiver_tax_id"):
        row[f"{field}_valid"] = is_valid_nip(digits_only(values[field])) if field in values else None
    iban = values.get("supplier_iban")
    row["supplier_iban_valid"] = is_valid_iban("".join(iban.split())) if iban else None
    net, tax, total = (to_grosze(values.get(n)) for n in ("net_amount", "total_tax_amount", "total_amount"))
    row.update(net_grosze=net, tax_grosze=tax, total_grosze=total,
               amounts_diff_grosze=None if None in (net, tax, total) else net + tax - total)
    return row


def to_grosze(amount: str | None) -> int | None:
    """'1703.55' → 170355. Money is compared in integer grosze, never as floats."""
    if amount is None:
        return None
    try:
        return int((Decimal(str(amount).strip()) * 100).to_integral_value(ROUND_HALF_UP))
    except (InvalidOperation, ValueError):
        return None


def _engine_and_version(engine_name: str, options: dict):
    from ocr_engines import get_engine

    engine = get_engine(engine_name, **options)
    return engine, str(engine.version)


def _cache_folder(cache_dir: Path | None, engine_name: str, version: str, options: dict) -> Path | None:
    """``cache_dir/<engine>/<version>-<fingerprint>``: a change to the engine's code, calibration,
    traineddata, backend or options reads into a new folder (the old one is left for a run that
    still has the old engine)."""
    if cache_dir is None:
        return None
    fingerprint = engine_fingerprint(engine_name, options)[:16]
    folder = Path(cache_dir) / _slug(engine_name) / _slug(f"{version}-{fingerprint}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sha256(path: Path) -> str:
    return file_digest(path)


def _cache_get(folder: Path | None, doc: GoldenDocument):
    if folder is None:
        return None
    path = folder / f"{_sha256(doc.path)}.json"
    try:
        entry = json.loads(path.read_text())
        return entry["result"], entry["seconds"], entry["error"]
    except (OSError, ValueError, KeyError):
        return None


def _cache_put(folder: Path | None, doc: GoldenDocument, read: tuple) -> None:
    result, seconds, error = read
    if folder is None or error is not None:
        return  # failures (timeouts, a missing binary) are retried by the next gate, not remembered
    path = folder / f"{_sha256(doc.path)}.json"
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"result": result, "seconds": seconds, "error": error}))
    tmp.replace(path)  # atomic: two gates sharing the cache never read half a file


def _read_one(engine, path: Path) -> tuple[dict | None, float, str | None]:
    from ocr_engines.errors import OcrError

    start = time.perf_counter()
    try:
        return engine.extract(path).to_dict(), time.perf_counter() - start, None
    except OcrError as exc:
        return None, time.perf_counter() - start, f"{exc.code}: {exc.message}"
    except Exception as exc:  # a bug costs one document's score, not the gate
        return None, time.perf_counter() - start, f"internal_error: {type(exc).__name__}: {exc}"


def _pool_read(path: str):
    from ocr_engines.pool import worker_engine

    return _read_one(worker_engine(), Path(path))


def _read_documents(engine, engine_name: str, options: dict, docs: list[GoldenDocument], workers: int):
    if not docs:
        return
    if workers <= 1 or len(docs) == 1:
        engine.warm_up()
        for doc in docs:
            yield doc, _read_one(engine, doc.path)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ocr_engines.pool import start_worker

    # spawn: an Airflow worker has threads that fork would copy mid-state
    with ProcessPoolExecutor(min(workers, len(docs)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=start_worker, initargs=(engine_name, options)) as pool:
        futures = [(doc, pool.submit(_pool_read, str(doc.path))) for doc in docs]
        for doc, future in futures:
            yield doc, future.result()


# ---------------------------------------------------------------- shadow rows


def shadow_rows(db: Engine | str, start: datetime, end: datetime, limit: int = 500) -> list[dict]:
    """The newest ``limit`` shadow-compared events with start <= at < end, one row each: per-field
    agreement (1 match, 0 mismatch/missing/extra, None ignored or absent) and the document's
    agreement. Events whose control (Google) read failed carry no agreement and are left out."""
    from ..events import ocr_events

    db = _db(db)
    if not inspect(db).has_table(ocr_events.name):
        return []
    e = ocr_events.c
    query = (select(e.at, e.engine, e.stage, e.shadow_agreement, e.field_agreement)
             .where(e.at >= start, e.at < end, e.shadow.is_(True), e.shadow_agreement.is_not(None))
             .order_by(e.at.desc(), e.id.desc()).limit(limit))
    with db.connect() as conn:
        events = conn.execute(query).all()
    rows = []
    for at, engine, stage, agreement, fields in events:
        row = {"at": as_utc(at).isoformat(), "engine": engine, "stage": stage, "shadow_agreement": agreement}
        fields = fields or {}
        for name in FIELD_NAMES:
            status = fields.get(name)
            row[f"agree_{name}"] = None if status in (None, IGNORED) else int(status == MATCH)
        rows.append(row)
    return rows


# ---------------------------------------------------------------- the gate


def run_golden_gate(db: Engine | str, golden_dir: Path, *, engine_name: str = "tesseract",
                    subset: str = "digital", run_id: str | None = None, stage: int | None = None,
                    data_docs_dir: Path, cache_dir: Path | None = None, shadow_window: tuple | None = None,
                    workers: int = 1, rows: list[dict] | None = None, shadow_limit: int = 500,
                    min_shadow_rows: int = 20, gx_dir: Path | None = None) -> dict:
    """Validate the engine's golden rows (``rows`` if given, else ``golden_results``) and, when
    ``shadow_window`` = (start, end) is given, a shadow sample; store one ``gx_validations`` row per
    suite; build Data Docs into ``data_docs_dir``. ``success`` is False when any validated suite
    failed: that blocks the stage. A shadow sample smaller than ``min_shadow_rows`` is reported as
    not validated (success None), not as a failure."""
    db = _db(db)
    timings = {}
    t0 = time.perf_counter()
    if rows is None:
        rows = golden_results(golden_dir, engine_name, subset, workers=workers, cache_dir=cache_dir)
    timings["golden_rows_s"] = round(time.perf_counter() - t0, 3)
    batches = [(GOLDEN_SUITE, "golden_documents", rows, None)]
    if shadow_window is not None:
        sample = shadow_rows(db, shadow_window[0], shadow_window[1], shadow_limit)
        skip = None
        if not sample:
            skip = NO_SHADOW_SAMPLE
        elif len(sample) < min_shadow_rows:
            skip = f"{NO_SHADOW_SAMPLE}: {len(sample)} shadow-compared events, fewer than {min_shadow_rows}"
        batches.append((SHADOW_SUITE, "shadow_events", sample, skip))

    t1 = time.perf_counter()
    data_docs_dir = Path(data_docs_dir).resolve()
    validator = _Validator(data_docs_dir, gx_dir or default_gx_dir())
    run_name = _slug("-".join(str(p) for p in (run_id or "manual", f"stage{stage}" if stage is not None else "")
                              if p))
    outcomes = []
    for suite, asset, suite_rows, skip in batches:
        if skip:
            outcomes.append({"suite": suite, "success": None, "skipped": skip, "evaluated": 0, "successful": 0,
                             "failed": [], "documents": len(suite_rows), "data_docs": None})
        else:
            outcomes.append(validator.validate(suite, asset, suite_rows, run_name))
    index = validator.index_path()
    timings["validate_s"] = round(time.perf_counter() - t1, 3)

    init_schema(db)
    per_kind = documents_per_kind(rows)
    now = datetime.now(timezone.utc)
    ids = []
    with db.begin() as conn:
        for o in outcomes:
            summary = {"failed": o["failed"], "observed": o.get("observed", {}), "engine": engine_name,
                       "subset": subset}
            if o["suite"] == GOLDEN_SUITE:
                summary["documents_per_kind"] = per_kind
            if o.get("skipped"):
                summary["skipped"] = o["skipped"]
            ids.append(conn.execute(insert(gx_validations).values(
                evaluated_at=now, run_id=run_id, stage=stage, suite=o["suite"], success=o["success"],
                evaluated_expectations=o["evaluated"], successful_expectations=o["successful"],
                unsuccessful_expectations=o["evaluated"] - o["successful"], documents=o["documents"],
                results=jsonable(summary), data_docs_path=o["data_docs"] or str(index),
            )).inserted_primary_key[0])
    validated = [o for o in outcomes if o["success"] is not None]
    for o in outcomes:
        log.info("GX %s: %s, %s/%s expectations, %s rows; failed: %s", o["suite"],
                 o.get("skipped") or ("PASS" if o["success"] else "FAIL"), o["successful"], o["evaluated"],
                 o["documents"], [f.get("column") or f["expectation"] for f in o["failed"]])
    return {"success": all(o["success"] for o in validated), "suites": outcomes, "documents": len(rows),
            "documents_per_kind": per_kind, "engine": engine_name, "subset": subset, "data_docs": str(index), "ids": ids, "timings": timings}


def gx_history(db: Engine | str, limit: int = 20, run_id: str | None = None) -> list[dict]:
    """Stored suite runs, newest first."""
    db = _db(db)
    init_schema(db)
    return recent_rows(db, gx_validations, "evaluated_at", limit, run_id, ("evaluated_at",))


def init_schema(db: Engine) -> None:
    """The GX table, if absent, under the schema lock (``flags.create_schema``): the health schema
    creates it too, possibly in another process at the same moment."""
    from ..flags import create_schema

    create_schema(db, gx_validations)


def suite_path(name: str, gx_dir: Path | None = None) -> Path:
    return (gx_dir or default_gx_dir()) / "expectations" / f"{name}.json"


def declared_expectations(name: str, gx_dir: Path | None = None) -> list[dict]:
    """The expectations a suite's JSON declares (what GX must load and evaluate, all of them)."""
    path = suite_path(name, gx_dir)
    if not path.is_file():
        raise FileNotFoundError(f"GX suite {name!r} not found at {path}: point OCR_MIGRATE_GX_DIR at the "
                                f"repository's expectations/gx, or install the package with its gx/ data")
    return json.loads(path.read_text())["expectations"]


class _Validator:
    """One ephemeral GX context per gate: suites read from the repo's file-context store, results
    and Data Docs written under ``data_docs_dir`` (validation JSON in ``.validations/``, so the site
    index lists every gate validated into the same folder)."""

    def __init__(self, data_docs_dir: Path, gx_dir: Path):
        self.gx_dir = Path(gx_dir).resolve()
        self.site = data_docs_dir
        self.ctx = _gx_context(self.gx_dir, data_docs_dir)

    def validate(self, suite_name: str, asset_name: str, rows: list[dict], run_name: str) -> dict:
        gx, pd = _gx(), _pandas()
        from great_expectations.core.run_identifier import RunIdentifier

        declared = declared_expectations(suite_name, self.gx_dir)
        suite = self.ctx.suites.get(suite_name)
        loaded = [e.expectation_type for e in suite.expectations]
        if len(loaded) != len(declared):
            missing = sorted({d["type"] for d in declared} - set(loaded))
            raise SuiteIntegrityError(f"suite {suite_name}: the JSON declares {len(declared)} expectations, GX "
                                      f"loaded {len(loaded)}; dropped (class not registered?): {missing}")
        frame = pd.DataFrame(rows)
        for column in sorted({d["kwargs"]["column"] for d in declared if "column" in d["kwargs"]}):
            if column not in frame.columns:
                frame[column] = None
        source = self.ctx.data_sources.add_pandas(f"{suite_name}_source")
        asset = source.add_dataframe_asset(asset_name)
        batch = asset.add_batch_definition_whole_dataframe("rows")
        definition = self.ctx.validation_definitions.add(
            gx.ValidationDefinition(name=f"{suite_name}_validation", data=batch, suite=suite))
        result_format = {"result_format": "SUMMARY", "partial_unexpected_count": 10}
        if "document" in frame.columns:
            result_format["unexpected_index_column_names"] = ["document"]
        checkpoint = self.ctx.checkpoints.add(gx.Checkpoint(
            name=f"{suite_name}_gate", validation_definitions=[definition], result_format=result_format,
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE])]))
        run = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name))
        (identifier, result), = run.run_results.items()
        stats = result.statistics
        if stats["evaluated_expectations"] != len(declared):
            raise SuiteIntegrityError(f"suite {suite_name}: {stats['evaluated_expectations']} expectations "
                                      f"evaluated, the JSON declares {len(declared)}")
        failed, observed = [], {}
        for er in result.results:
            summary = _expectation_summary(er)
            if "observed" in summary:
                key = summary.get("column") or ("row_count" if "row_count" in summary["expectation"]
                                                 else summary["expectation"])
                observed[key] = summary["observed"]
            if not er.success:
                failed.append(summary)
        urls = self.ctx.get_docs_sites_urls(resource_identifier=identifier, site_name=DOCS_SITE)
        page = _url_path(urls[0]["site_url"]) if urls and urls[0].get("site_url") else None
        return {"suite": suite_name, "success": bool(result.success), "evaluated": stats["evaluated_expectations"],
                "successful": stats["successful_expectations"], "failed": failed, "observed": observed,
                "documents": len(frame), "data_docs": str(page) if page else None}

    def index_path(self) -> Path:
        return self.site / "index.html"


def _expectation_summary(er) -> dict:
    config = er.expectation_config
    kwargs = config.kwargs
    out = {"expectation": config.type}
    for key in ("column", "min_value", "max_value", "mostly", "value_set"):
        if kwargs.get(key) is not None:
            out[key] = kwargs[key]
    result = er.result or {}
    if "observed_value" in result:
        out["observed"] = result["observed_value"]
    for key in ("element_count", "unexpected_count", "unexpected_percent", "missing_count"):
        if key in result:
            out[key] = result[key]
    if result.get("partial_unexpected_list"):
        out["unexpected"] = result["partial_unexpected_list"][:10]
    if result.get("partial_unexpected_index_list"):
        out["unexpected_documents"] = [i.get("document", i) if isinstance(i, dict) else i
                                       for i in result["partial_unexpected_index_list"][:10]]
    info = er.exception_info or {}
    if info.get("raised_exception"):
        out["exception"] = info.get("exception_message")
    else:  # GX 1.x keys exception info by metric
        for value in info.values():
            if isinstance(value, dict) and value.get("raised_exception"):
                out["exception"] = value.get("exception_message")
                break
    return jsonable(out)


def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    for name in ("great_expectations", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return gx


def _pandas():
    import pandas

    return pandas


def _gx_context(gx_dir: Path, data_docs_dir: Path):
    gx = _gx()
    from great_expectations.data_context.types.base import DataContextConfig, ProgressBarsConfig

    data_docs_dir.mkdir(parents=True, exist_ok=True)

    def files(base: Path) -> dict:
        return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(base),
                "suppress_store_backend_id": True}

    memory = {"class_name": "InMemoryStoreBackend"}
    config = DataContextConfig(
        config_version=4,
        expectations_store_name="expectations_store",
        validation_results_store_name="validation_results_store",
        checkpoint_store_name="checkpoint_store",
        stores={
            # read-only use of the repo's file-context suites: the same store class and layout
            "expectations_store": {"class_name": "ExpectationsStore", "store_backend": files(gx_dir / "expectations")},
            "validation_results_store": {"class_name": "ValidationResultsStore",
                                         "store_backend": files(data_docs_dir / ".validations")},
            "checkpoint_store": {"class_name": "CheckpointStore", "store_backend": memory},
            "validation_definition_store": {"class_name": "ValidationDefinitionStore", "store_backend": memory},
        },
        data_docs_sites={DOCS_SITE: {
            "class_name": "SiteBuilder", "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(data_docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}},
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False,
    )
    return gx.get_context(project_config=config, mode="ephemeral")


# ---------------------------------------------------------------- helpers


def _db(db: Engine | str) -> Engine:
    if isinstance(db, str):
        from ..flags import make_db

        return make_db(db)
    return db


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


def _url_path(url: str) -> Path:
    return Path(unquote(urlparse(url).path))
