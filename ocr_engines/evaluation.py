"""Accuracy of an engine against a golden directory: per-field exact match, whole-document
correctness, character error rate and throughput.

Works on any directory where each document ``X.pdf|png|jpg|jpeg|tif|tiff`` has its truth in
``X.json`` (docs/architecture.md's golden truth schema). A ``manifest.json`` with a ``variant`` and a
``layout`` per file, as the corpus generator writes, adds per-variant and per-layout-family
breakdowns. A corpus whose ``manifest.json`` is a list of invoices, each naming its ``truth``
file, its digital ``pdf`` and its ``scan`` (the layout of ``shared/corpora/ksef-official``), is
read too: each invoice gives a ``digital`` and a ``scan_clean``, ``scan_degraded`` or ``scan_rotated`` document,
and its truth is mapped onto the contract's names (``sale_date`` is ``delivery_date``, a line's
``net_amount`` is its ``amount``).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from rapidfuzz.distance import Levenshtein

from . import labels
from .pool import start_worker, worker_engine
from .errors import OcrError
from .result import FIELD_NAMES, HEADER_FIELDS, LINE_ITEM_KEYS, LINE_ITEMS

DOCUMENT_SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".xml"}  # .xml: KSeF e-invoices


@dataclass
class GoldenDocument:
    path: Path
    truth: dict
    group: str  # the variant: digital, scan300, scan_clean, scan_degraded, ...
    family: str = "all"  # the layout family (who laid the invoice out)
    name: str = ""  # the invoice's id within its corpus (several documents may share it)


@dataclass
class DocumentScore:
    path: str
    group: str
    pages: int
    seconds: float
    fields: dict[str, bool]  # field → exact match, for fields in the truth or the prediction
    edits: int  # character edits over truth field values
    truth_chars: int
    error: str | None = None
    mismatches: dict[str, tuple] = field(default_factory=dict)
    items_matched: int = 0  # predicted line items equal (all five keys) to a truth item, each used once
    items_total: int = 0  # max(truth items, predicted items)
    items_truth: int = 0
    items_predicted: int = 0
    family: str = "all"
    confidence: float | None = None  # the engine's document confidence
    field_confidence: dict[str, float] = field(default_factory=dict)  # the engine's, per field it gave
    timings_ms: dict[str, int] = field(default_factory=dict)  # the engine's laps (load, ocr, second look...)
    ksef: dict | None = None  # the KSeF number and verification link the engine found (ksef_link)

    @property
    def all_correct(self) -> bool:
        return self.error is None and all(self.fields.values())


def golden_documents(directory: Path) -> list[GoldenDocument]:
    """Documents that have a truth file beside them (or named by a corpus manifest), sorted."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: not a directory")
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    if isinstance(manifest, list):
        return _invoice_manifest_documents(directory, manifest)
    entries = {entry["file"]: entry for entry in manifest.get("documents", [])}
    out = []
    for path in sorted(directory.rglob("*")):
        if path.suffix.lower() not in DOCUMENT_SUFFIXES or not path.is_file():
            continue
        truth_path = path.with_suffix(".json")
        if truth_path.is_file():
            rel = path.relative_to(directory).as_posix()
            entry = entries.get(rel, {})
            out.append(GoldenDocument(path, json.loads(truth_path.read_text()), entry.get("variant", "all"),
                                      entry.get("layout", "all"), entry.get("invoice", path.stem)))
    return out


def _invoice_manifest_documents(directory: Path, manifest: list[dict]) -> list[GoldenDocument]:
    """An invoice list: each entry's digital PDF and its scan, one truth for both."""
    family = directory.name
    out = []
    for entry in manifest:
        truth = contract_truth(json.loads((directory / entry["truth"]).read_text()))
        name = str(entry.get("id", Path(entry["truth"]).stem))
        if entry.get("pdf"):
            out.append(GoldenDocument(directory / entry["pdf"], truth, "digital", family, name))
        if entry.get("scan"):
            # a scan turned 90/180/270 (ksef-thirdparty's manifest variant 'rotated') is its own group
            variant = "scan_rotated" if entry.get("variant") == "rotated" else \
                "scan_degraded" if entry.get("degraded") else "scan_clean"
            out.append(GoldenDocument(directory / entry["scan"], truth, variant, family, name))
    missing = [str(d.path) for d in out if not d.path.is_file()]
    if missing:
        raise FileNotFoundError(f"{directory}: the manifest names files that are not there: {missing[:3]}")
    return sorted(out, key=lambda d: str(d.path))


# Names other corpora use for the contract's fields.
_FIELD_ALIASES = {"sale_date": "delivery_date"}
_ITEM_ALIASES = {"net_amount": "amount"}


def contract_truth(truth: dict) -> dict:
    """A truth file in the contract's field names (docs/architecture.md)."""
    out = {_FIELD_ALIASES.get(k, k): v for k, v in truth.items() if k != LINE_ITEMS}
    if LINE_ITEMS in truth:
        out[LINE_ITEMS] = [{_ITEM_ALIASES.get(k, k): v for k, v in item.items()} for item in truth[LINE_ITEMS]]
    return out


def canonical_item(item: dict, keys=LINE_ITEM_KEYS) -> tuple:
    return tuple(str(item.get(k, "")).strip() for k in keys)


def score_document(doc: GoldenDocument, result: dict | None, seconds: float, error: str | None = None) -> DocumentScore:
    truth = doc.truth
    predicted = {} if result is None else {k: v["value"] for k, v in result.get("fields", {}).items()}
    fields, mismatches = {}, {}
    edits = chars = 0
    for name in FIELD_NAMES:
        want, got = truth.get(name), predicted.get(name)
        if want is None and got is None:
            continue
        ok = want is not None and got == str(want)
        fields[name] = ok
        if not ok:
            mismatches[name] = (want, got)
        if want is not None:
            chars += len(str(want))
            edits += Levenshtein.distance(str(want), got or "")
    want_items = [canonical_item(i) for i in truth.get(LINE_ITEMS) or []]
    got_items = [canonical_item(i) for i in (result or {}).get(LINE_ITEMS) or []]
    if want_items or got_items:
        fields[LINE_ITEMS] = want_items == got_items
        if want_items != got_items:
            mismatches[LINE_ITEMS] = (len(want_items), len(got_items))
    pages = result.get("pages", 0) if result else 0
    return DocumentScore(str(doc.path), doc.group, pages, seconds, fields, edits, chars, error, mismatches,
                         items_matched=sum((Counter(want_items) & Counter(got_items)).values()),
                         items_total=max(len(want_items), len(got_items)),
                         items_truth=len(want_items), items_predicted=len(got_items), family=doc.family,
                         confidence=result.get("confidence") if result else None,
                         field_confidence={k: v["confidence"] for k, v in (result or {}).get("fields", {}).items()},
                         timings_ms=dict((result or {}).get("timings_ms", {})),
                         ksef=(result or {}).get("ksef"))


# ---------------------------------------------------------------- what makes a read

# (resolved path, size, mtime_ns) -> sha256: a file is hashed once a process while it is unchanged
# (the traineddata are ~20 MB and every golden gate asks)
_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, remembered in this process by (path, size, mtime_ns)."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        sha = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                sha.update(block)
        digest = _DIGESTS[key] = sha.hexdigest()
    return digest


def engine_fingerprint(engine_name: str, options: dict | None = None) -> str:
    """sha256 (hex) over what makes an engine's read of a document: this package's sources
    (``*.py``, by relative path) and data files (``calibration.json``: the confidence table, the
    one ``calibration.CALIBRATION_FILE`` names), the engine's name and ``options`` (languages,
    limits, backend choice, capture, second look...), and for Tesseract the backend it resolves to
    (cli or tesserocr) with its version, and the ``.traineddata`` it reads: the configured
    languages and ``osd`` (orientation detection) from the tessdata folder
    (``tesseract_backends.tessdata_dir``: TESSDATA_PREFIX, else the system's, where Debian's
    program looks too). A read cached under one fingerprint is what the engine would read again."""
    from . import calibration

    sha = hashlib.sha256()

    def add(label: str, value: str) -> None:
        sha.update(f"{label}\0{value}\n".encode())

    options = dict(options or {})
    add("engine", engine_name)
    add("options", repr(sorted(options.items())))
    package = Path(__file__).resolve().parent
    files = sorted((p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                    and p.suffix != ".pyc"), key=lambda p: p.relative_to(package).as_posix())
    for path in files:  # sources and data files (calibration.json) alike
        add(f"file:{path.relative_to(package).as_posix()}", file_digest(path))
    add("calibration", file_digest(calibration.CALIBRATION_FILE))
    if engine_name == "tesseract":
        _tesseract_inputs(options, add)
    return sha.hexdigest()


def _tesseract_inputs(options: dict, add) -> None:
    from .errors import EngineUnavailableError
    from .tesseract import DEFAULT_BACKEND, DEFAULT_LANGUAGES
    from .tesseract_backends import get_backend, tessdata_dir

    try:
        backend = get_backend(options.get("backend", DEFAULT_BACKEND))
        add("backend", f"{backend.name} {backend.tesseract_version}")
    except EngineUnavailableError as exc:  # the read fails too (and is not cached)
        add("backend", f"unavailable: {exc}")
    try:
        tessdata = Path(tessdata_dir())
    except EngineUnavailableError:
        add("tessdata", "none")
        return
    languages = [lang for lang in str(options.get("languages", DEFAULT_LANGUAGES)).split("+") if lang]
    for lang in sorted({*languages, "osd"}):
        path = tessdata / f"{lang}.traineddata"
        add(f"traineddata:{lang}", file_digest(path) if path.is_file() else "missing")


# ---------------------------------------------------------------- running

Read = tuple  # (the result's dict or None, seconds, the error or None)


def _run_one(path: str) -> Read:
    start = time.perf_counter()
    try:
        result = worker_engine().extract(Path(path)).to_dict()
        return result, time.perf_counter() - start, None
    except OcrError as exc:
        return None, time.perf_counter() - start, f"{exc.code}: {exc.message}"
    except Exception as exc:  # a bug must cost one document's score, not the whole evaluation
        return None, time.perf_counter() - start, f"internal_error: {type(exc).__name__}: {exc}"


def _start_evaluation_worker(engine_name: str, options: dict, withheld: tuple[str, ...],
                             known: tuple[str, ...]) -> None:
    labels.withhold(withheld, known)
    start_worker(engine_name, options)


def engine_version(engine_name: str, options: dict | None = None) -> str:
    from . import get_engine

    return str(get_engine(engine_name, **(options or {})).version)


class ReadCache:
    """Reads kept on disk by what made them: ``<dir>/<engine>/<version>-<fingerprint>/<sha256>.json``
    (``engine_fingerprint``: a change to the engine's code, calibration, traineddata, backend or
    options reads into a new folder; the old one is left for a run that still has the old engine).
    A failed read (a timeout, a missing binary) is not kept: the next run tries again."""

    def __init__(self, cache_dir: Path, engine_name: str, options: dict | None = None, version: str | None = None):
        version = version or engine_version(engine_name, options)
        fingerprint = engine_fingerprint(engine_name, options)[:16]
        self.folder = Path(cache_dir) / slug(engine_name) / slug(f"{version}-{fingerprint}")
        self.folder.mkdir(parents=True, exist_ok=True)

    def get(self, path: Path) -> Read | None:
        try:
            entry = json.loads((self.folder / f"{file_digest(path)}.json").read_text())
            return entry["result"], entry["seconds"], entry["error"]
        except (OSError, ValueError, KeyError):
            return None

    def put(self, path: Path, read: Read) -> None:
        result, seconds, error = read
        if error is not None:
            return
        target = self.folder / f"{file_digest(path)}.json"
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"result": result, "seconds": seconds, "error": error}))
        tmp.replace(target)  # atomic: two runs sharing the cache never read half a file


def slug(text: str) -> str:
    """A name safe in a path: runs of anything but letters, digits, '_', '.' and '-' become '_'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


def read_documents(
    docs: list[GoldenDocument], engine_name: str, workers: int, options: dict | None = None,
    withheld: tuple[str, ...] = (), known: tuple[str, ...] = (), cache: ReadCache | None = None,
) -> Iterator[tuple[GoldenDocument, Read]]:
    """Every document read, as it finishes: from ``cache`` where the same engine read the same
    bytes before, the rest in ``workers`` processes (spawned: an Airflow worker has threads that
    fork would copy mid-state), each with the engine loaded once. The one reading loop of the
    evaluation, the fan-out and the golden gate.

    `withheld` wording is taken out of the extractor's lexicon for the run (leave-one-family-
    out: see ``labels.withhold``; `known` is the wording it may keep)."""
    options = options or {}
    todo = []
    for doc in docs:
        cached = cache.get(doc.path) if cache is not None else None
        if cached is not None:
            yield doc, cached
        else:
            todo.append(doc)
    if not todo:
        return
    initargs = (engine_name, options, tuple(withheld), tuple(known))
    if workers <= 1 or len(todo) == 1:
        _start_evaluation_worker(*initargs)
        try:
            for doc in todo:
                read = _run_one(str(doc.path))
                if cache is not None:
                    cache.put(doc.path, read)
                yield doc, read
        finally:
            labels.withhold(())
        return
    with ProcessPoolExecutor(min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_evaluation_worker, initargs=initargs) as pool:
        futures = {pool.submit(_run_one, str(doc.path)): doc for doc in todo}
        for future in as_completed(futures):
            doc, read = futures[future], future.result()
            if cache is not None:
                cache.put(doc.path, read)
            yield doc, read


def run_documents(
    docs: list[GoldenDocument], engine_name: str, workers: int, options: dict | None = None,
    withheld: tuple[str, ...] = (), known: tuple[str, ...] = (),
) -> Iterator[DocumentScore]:
    """Extract every document (``read_documents``) and yield its score as it finishes."""
    for doc, read in read_documents(docs, engine_name, workers, options, withheld, known):
        yield score_document(doc, *read)


# ---------------------------------------------------------------- reporting


def summarise(scores: list[DocumentScore], elapsed_s: float) -> dict:
    """The evaluation report: overall, per group (variant), and per layout family and its groups."""
    by_family: dict[str, list[DocumentScore]] = defaultdict(list)
    for s in scores:
        by_family[s.family].append(s)
    report = {
        "documents": len(scores),
        "pages": sum(s.pages for s in scores),
        "elapsed_s": round(elapsed_s, 2),
        "pages_per_s": round(sum(s.pages for s in scores) / elapsed_s, 3) if elapsed_s else None,
        "overall": _group_summary(scores),
        "groups": _by_group(scores),
        "families": {f: {"overall": _group_summary(v), "groups": _by_group(v)} for f, v in sorted(by_family.items())},
        "errors": [{"file": s.path, "error": s.error} for s in scores if s.error],
    }
    return report


def _by_group(scores: list[DocumentScore]) -> dict:
    groups: dict[str, list[DocumentScore]] = defaultdict(list)
    for s in scores:
        groups[s.group].append(s)
    return {g: _group_summary(v) for g, v in sorted(groups.items())}


def line_item_f1(scores: list[DocumentScore]) -> float | None:
    """F1 of predicted line items against the truth (an item counts when all five keys match)."""
    truth = sum(s.items_truth for s in scores)
    predicted = sum(s.items_predicted for s in scores)
    matched = sum(s.items_matched for s in scores)
    if not truth and not predicted:
        return None
    return 2 * matched / (truth + predicted)


def _group_summary(scores: list[DocumentScore]) -> dict:
    per_field: dict[str, list[bool]] = defaultdict(list)
    for s in scores:  # a failed document has every truth field marked wrong
        for name, ok in s.fields.items():
            per_field[name].append(ok)
    all_fields = [ok for name, oks in per_field.items() if name != LINE_ITEMS for ok in oks]
    header = [ok for name, oks in per_field.items() if name in HEADER_FIELDS for ok in oks]
    f1 = line_item_f1(scores)
    misses = [got for s in scores for name, (want, got) in s.mismatches.items() if name != LINE_ITEMS]
    chars = sum(s.truth_chars for s in scores)
    items = sum(s.items_total for s in scores)
    return {
        "documents": len(scores),
        "field_exact_match": round(sum(all_fields) / len(all_fields), 4) if all_fields else None,
        "header_exact_match": round(sum(header) / len(header), 4) if header else None,
        "all_fields_correct": round(sum(s.all_correct for s in scores) / len(scores), 4) if scores else None,
        "cer": round(sum(s.edits for s in scores) / chars, 4) if chars else None,
        "line_item_exact_match": round(sum(s.items_matched for s in scores) / items, 4) if items else None,
        "line_item_f1": round(f1, 4) if f1 is not None else None,
        "per_field": {
            name: round(sum(oks) / len(oks), 4)
            for name, oks in sorted(per_field.items(), key=lambda kv: _field_order(kv[0]))
        },
        "absent_fields": sum(got is None for got in misses),  # truth fields the engine did not give
        "wrong_fields": sum(got is not None for got in misses),  # given, but not the truth
        "errors": sum(1 for s in scores if s.error),
    }


def _field_order(name: str) -> int:
    order = FIELD_NAMES + (LINE_ITEMS,)
    return order.index(name) if name in order else len(order)
