"""The Great Expectations golden gate: is the open-source engine's output still good enough?

Before every stage the migration reads the golden invoices with the open-source engine, turns each
document into one row (per-field match against the truth, confidence, checksum validity, amounts
in integer grosze) and validates the rows with the suites in ``expectations/gx/expectations/``
(GX 1.x JSON, the source of truth). When a shadow window is given, shadow-compared production
events are validated with a second suite. Each suite run is stored in ``gx_validations``; the
Data Docs site is built into the folder the caller names (the Airflow plugin serves it).

Great Expectations itself is wrapped in ``gx_suites``; GX, pandas and the OCR engine are imported
inside the functions: ``import great_expectations`` alone takes seconds, and this module is
imported by DAG files.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Engine

from ocr_engines.compare import IGNORED, MATCH
from ocr_engines.evaluation import (LINE_ITEMS, GoldenDocument, ReadCache, engine_version, golden_documents,
                                    read_documents, score_document, slug as _slug)
from ocr_engines.normalize import digits_only
from ocr_engines.result import FIELD_NAMES
from ocr_engines.validation import CRITICAL_FIELDS, is_valid_iban, is_valid_nip

from ..db import as_engine, gx_validations
from ..fanout import pick
from .golden_subsets import CORPUS_SUBSETS, SPANNING_SUBSETS, SUBSETS
from .gx_suites import Validator, default_gx_dir
from .schema import as_utc, jsonable, recent_rows

log = logging.getLogger(__name__)

GOLDEN_SUITE = "ocr_golden_fields"
SHADOW_SUITE = "ocr_shadow_agreement"
NO_SHADOW_SAMPLE = "no shadow sample"

# ---------------------------------------------------------------- golden rows


def golden_results(golden_dir: Path, engine_name: str = "tesseract", subset: str = "digital", workers: int = 1,
                   cache_dir: Path | None = None, options: dict | None = None,
                   paths: list[str] | None = None) -> list[dict]:
    """One row per golden document of ``subset`` (see ``subset_documents``): the engine's read
    scored against the truth. Read through ``ocr_engines.evaluation.read_documents``, the reading
    loop of the evaluation and the fan-out, and cached in ``cache_dir`` by engine name and version,
    the engine's fingerprint (``evaluation.ReadCache``: its code, calibration, traineddata, backend
    and options) and the document's sha256, so the gates of one migration run OCR each document
    once, and a change to what makes a read reads again. ``paths``: only these
    documents of the subset (one shard of the gate, as ``rollout.fanout.split`` made it from
    ``subset_documents``)."""
    golden_dir, docs = subset_documents(Path(golden_dir), subset)
    if paths is not None:
        docs = pick(docs, paths)
    if options is None:
        from ..settings import get_settings

        options = get_settings().engine_options(engine_name)
    version = engine_version(engine_name, options) if docs else ""
    cache = ReadCache(cache_dir, engine_name, options, version) if docs and cache_dir is not None else None
    reads = {str(doc.path): read for doc, read in read_documents(docs, engine_name, workers, options, cache=cache)}
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


# ---------------------------------------------------------------- shadow rows


def shadow_rows(db: Engine | str, start: datetime, end: datetime, limit: int = 500) -> list[dict]:
    """The newest ``limit`` shadow-compared events with start <= at < end, one row each: per-field
    agreement (1 match, 0 mismatch/missing/extra, None ignored or absent) and the document's
    agreement. Events whose control (Google) read failed carry no agreement and are left out."""
    from ..db import ocr_events

    db = as_engine(db)
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
    db = as_engine(db)
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
    validator = Validator(data_docs_dir, gx_dir or default_gx_dir())
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
    db = as_engine(db)
    return recent_rows(db, gx_validations, "evaluated_at", limit, run_id, ("evaluated_at",))

