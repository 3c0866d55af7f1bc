"""Capture normalisation (ocr_engines/capture.py): what each capture condition reads, against the
same invoices read as they should be, and what normalisation costs a clean upright scan.

1. shared/corpora/ksef-thirdparty's rotated scans (manifest ``variant: rotated``): the tuning ones
   (001-024) and the held-out ones (025-045), read with normalisation on and off, and the same
   scans turned back by their manifest ``rotation`` (the page's /Rotate set, no re-encoding).
   Target: the rotated read within 0.02 of the turned-back read.
2. The generator's captures (expectations/corpus/capture.py) on held-out parameter ranges: per
   condition (photo, fax, stamped, rotated) against the same invoices' digital PDFs. Targets:
   photos within 0.05 of the digital read, faxes 0.07, stamped 0.03, rotated 0.02; line-item F1
   over all captures within 0.10. Generated into data/captures-<split> when absent.
3. CPU time (this process and its children: the tesseract program) that normalisation adds to a
   clean upright scan, on and off alternated (A B B A) over the same documents in one run.
   Target: at most 1.10x.
4. (--unchanged) Nothing read upright gets worse: shared/corpora/ksef-official's scans and the
   committed golden set's, normalisation on vs off, and which documents' fields differ.

Usage: python bench/bench_capture.py [--ksef-thirdparty DIR] [--count 8] [--split heldout]
       [--workers 2] [--skip-generated] [--skip-thirdparty] [--unchanged]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["OMP_THREAD_LIMIT"] = "1"

from ocr_engines.evaluation import (GoldenDocument, contract_truth, golden_documents, line_item_f1,  # noqa: E402
                                    run_documents)
from ocr_engines.result import HEADER_FIELDS  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from bench_accuracy import header_accuracy, risk_coverage  # noqa: E402

THIRDPARTY = ROOT.parent / "shared" / "corpora" / "ksef-thirdparty"
CAPTURED: list = []  # the scores of every captured document read with normalisation on (risk-coverage)
TUNE_LAST = 24  # ksef-thirdparty: 001-024 tuning, 025-045 held out


FLOOR = 0.8  # the service's confidence floor (rollout/settings.py): below it Google re-reads


def header_share(scores) -> float | None:
    header = [ok for s in scores for name, ok in s.fields.items() if name in HEADER_FIELDS]
    return round(sum(header) / len(header), 4) if header else None


def figures(scores) -> dict:
    """Header fields and line-item F1; and what the confidence floor does: the share of documents
    it keeps (the rest go to Google during the rollout) and the field accuracy of those kept."""
    f1 = line_item_f1(scores)
    kept = [s for s in scores if (s.confidence or 0) >= FLOOR]
    return {"documents": len(scores), "fields": header_share(scores),
            "line_item_f1": round(f1, 4) if f1 is not None else None,
            "kept_at_floor": round(len(kept) / len(scores), 3) if scores else None,
            "kept_fields": header_share(kept), "errors": sum(1 for s in scores if s.error)}


def evaluate(docs: list[GoldenDocument], workers: int, capture: bool = True) -> dict[str, list]:
    """Scores per document group."""
    out: dict[str, list] = {}
    for score in run_documents(docs, "tesseract", workers, {"capture": capture}):
        out.setdefault(score.group, []).append(score)
    return out


# ---------------------------------------------------------------- 1. ksef-thirdparty rotated

def turned_back(src: Path, rotation: int, out: Path) -> Path:
    """The scan with each page's /Rotate undoing the manifest's clockwise turn (pixels untouched)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(src))
    try:
        for page in pdf:
            page.set_rotation((page.get_rotation() + 360 - rotation) % 360)
        with open(out, "wb") as fh:
            pdf.save(fh)
    finally:
        pdf.close()
    return out


def rotated_documents(corpus: Path, tmp: Path) -> tuple[list[GoldenDocument], list[GoldenDocument]]:
    """(the rotated scans, the same turned back), each group named by split."""
    rotated, upright = [], []
    for entry in json.loads((corpus / "manifest.json").read_text()):
        if entry.get("variant") != "rotated":
            continue
        split = "tune" if int(entry["id"]) <= TUNE_LAST else "heldout"
        truth = contract_truth(json.loads((corpus / entry["truth"]).read_text()))
        rotated.append(GoldenDocument(corpus / entry["scan"], truth, f"rotated {split}", entry["renderer"], entry["id"]))
        back = turned_back(corpus / entry["scan"], int(entry["rotation"]), tmp / f"{entry['id']}-upright.pdf")
        upright.append(GoldenDocument(back, truth, f"turned back {split}", entry["renderer"], entry["id"]))
    return rotated, upright


def bench_rotated(corpus: Path, workers: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-capture-") as tmp:
        rotated, upright = rotated_documents(corpus, Path(tmp))
        on = evaluate(rotated + upright, workers)
        off = evaluate(rotated, workers, capture=False)
    for split in ("tune", "heldout"):
        CAPTURED.extend(on[f"rotated {split}"])
        rows.append({"set": f"ksef-thirdparty rotated {split}", "capture on": figures(on[f"rotated {split}"]),
                     "capture off (before)": figures(off[f"rotated {split}"]),
                     "turned back by hand": figures(on[f"turned back {split}"])})
    return rows


# ---------------------------------------------------------------- 2. the generator's captures

def generated_documents(split: str, count: int, workers: int) -> list[GoldenDocument]:
    from expectations.corpus.capture import generate_capture_corpus

    out = ROOT / "data" / f"captures-{split}"
    manifest = out / "manifest.json"
    if not manifest.is_file() or json.loads(manifest.read_text()).get("count") != count:
        generate_capture_corpus(out, count, split=split, workers=workers)
    return golden_documents(out)


def turned_back_images(docs: list[GoldenDocument], corpus: Path, out: Path) -> list[GoldenDocument]:
    """The generator's rotated captures turned back by the manifest's per-page turn (lossless)."""
    from PIL import Image

    entries = {e["file"]: e for e in json.loads((corpus / "manifest.json").read_text())["documents"]}
    back = []
    undo = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
    for doc in docs:
        turns = entries[doc.path.name]["capture"]["turn_cw_deg"]
        with Image.open(doc.path) as im:
            dpi = im.info.get("dpi", (200, 200))
            pages = []
            for i, turn in enumerate(turns):
                im.seek(i)
                pages.append(im.copy().transpose(undo[turn]))  # PIL turns counter-clockwise
        path = out / f"{doc.path.stem}-upright{doc.path.suffix}"
        pages[0].save(path, dpi=dpi, **({"save_all": True, "append_images": pages[1:]} if len(pages) > 1 else {}))
        back.append(GoldenDocument(path, doc.truth, "capture_rotated turned back", doc.family, doc.name))
    return back


def bench_generated(split: str, count: int, workers: int) -> list[dict]:
    docs = generated_documents(split, count, workers)
    with tempfile.TemporaryDirectory(prefix="bench-capture-") as tmp:
        rotated = [d for d in docs if d.group == "capture_rotated"]
        groups = evaluate(docs + turned_back_images(rotated, docs[0].path.parent, Path(tmp)), workers)
    digital = figures(groups.get("digital", []))
    rows = []
    captures = []
    upright = groups.pop("capture_rotated turned back", [])
    for group in sorted(groups):
        if group == "digital":
            continue
        captures.extend(groups[group])
        CAPTURED.extend(groups[group])
        got = figures(groups[group])
        row = {"set": f"generator {split} {group}", "capture on": got, "digital": digital,
               "fields_vs_digital": round(got["fields"] - digital["fields"], 4)
               if got["fields"] is not None and digital["fields"] is not None else None}
        if group == "capture_rotated" and upright:
            row["turned back by hand"] = figures(upright)
            row["fields_vs_turned_back"] = round(got["fields"] - row["turned back by hand"]["fields"], 4)
        rows.append(row)
    every = figures(captures)
    rows.append({"set": f"generator {split} all captures", "capture on": every, "digital": digital,
                 "line_item_f1_vs_digital": round(every["line_item_f1"] - digital["line_item_f1"], 4)
                 if every["line_item_f1"] is not None and digital["line_item_f1"] is not None else None})
    return rows


# ---------------------------------------------------------------- 3. CPU on clean upright scans

def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_cost(corpus: Path, limit: int) -> dict:
    """A B B A over the same clean upright scans, in this process (the CLI's children counted)."""
    from ocr_engines.tesseract import TesseractEngine

    entries = [e for e in json.loads((corpus / "manifest.json").read_text()) if e.get("variant") == "clean"][:limit]
    paths = [corpus / e["scan"] for e in entries]
    engines = {True: TesseractEngine(capture=True), False: TesseractEngine(capture=False)}
    spent = {True: 0.0, False: 0.0}
    pages = 0
    for path in paths:  # warm up both (models, lexicon)
        engines[True].extract(path)
        break
    for order in ((True, False), (False, True)):
        for capture in order:
            for path in paths:
                start = cpu_seconds()
                result = engines[capture].extract(path)
                spent[capture] += cpu_seconds() - start
                pages += result.pages if capture else 0
    return {"documents": len(paths), "pages": pages // 2 if pages else 0,
            "cpu_ratio_on_vs_off": round(spent[True] / spent[False], 3),
            "added_ms_per_page": round((spent[True] - spent[False]) * 1000 / max(pages, 1), 1)}


# ---------------------------------------------------------------- 4. nothing worse upright

def bench_unchanged(corpora: list[Path], workers: int) -> list[dict]:
    """Scans read upright as before: normalisation on vs off on every scan of ``corpora`` (the
    official KSeF visualiser's and our committed golden set), with the documents whose header
    fields differ between the two reads."""
    rows = []
    for corpus in corpora:
        docs = [d for d in golden_documents(corpus) if d.group != "digital"]
        on = {s.path: s for s in run_documents(docs, "tesseract", workers, {"capture": True})}
        off = {s.path: s for s in run_documents(docs, "tesseract", workers, {"capture": False})}
        changed = sorted(Path(p).name for p in on if {k: v for k, v in on[p].fields.items() if k in HEADER_FIELDS}
                         != {k: v for k, v in off[p].fields.items() if k in HEADER_FIELDS})
        rows.append({"set": f"{corpus.name} scans", "capture on": figures(list(on.values())),
                     "capture off": figures(list(off.values())), "documents whose fields differ": changed})
    return rows


def line(row: dict) -> str:
    parts = [row["set"]]
    for key, value in row.items():
        if key == "set":
            continue
        if isinstance(value, dict):
            parts.append(f"{key}: fields {value['fields']} items F1 {value['line_item_f1']} ({value['documents']} docs; "
                         f"floor keeps {value['kept_at_floor']} at {value['kept_fields']})")
        else:
            parts.append(f"{key} {value}")
    return " | ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ksef-thirdparty", type=Path, default=THIRDPARTY)
    parser.add_argument("--count", type=int, default=8, help="generated invoices (each in every condition)")
    parser.add_argument("--split", default="heldout", choices=("tune", "heldout"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cost-documents", type=int, default=6)
    parser.add_argument("--skip-generated", action="store_true")
    parser.add_argument("--skip-thirdparty", action="store_true")
    parser.add_argument("--unchanged", action="store_true",
                        help="also: ksef-official and the golden set's scans with normalisation on vs off")
    args = parser.parse_args()
    started = time.time()
    report: dict = {}
    if args.ksef_thirdparty.is_dir() and not args.skip_thirdparty:
        report["rotated"] = bench_rotated(args.ksef_thirdparty, args.workers)
        for row in report["rotated"]:
            print(line(row), flush=True)
        report["cost"] = bench_cost(args.ksef_thirdparty, args.cost_documents)
        cost = report["cost"]
        print(f"clean upright scans ({cost['documents']} documents, {cost['pages']} pages): capture on/off CPU "
              f"{cost['cpu_ratio_on_vs_off']}x, {cost['added_ms_per_page']} ms a page", flush=True)
    if args.unchanged:
        corpora = [c for c in (ROOT.parent / "shared" / "corpora" / "ksef-official", ROOT / "expectations" / "golden")
                   if c.is_dir()]
        report["unchanged"] = bench_unchanged(corpora, args.workers)
        for row in report["unchanged"]:
            print(line(row), flush=True)
    if not args.skip_generated:
        report["generated"] = bench_generated(args.split, args.count, args.workers)
        for row in report["generated"]:
            print(line(row), flush=True)
    if CAPTURED:
        pairs = [(s.confidence or 0.0, header_accuracy(s)) for s in CAPTURED]
        print(f"risk-coverage over the {len(pairs)} captured documents (rotated, photo, fax, stamped): sending the "
              "least confident to Document AI")
        report["risk_coverage"] = risk_coverage(pairs)
        for keep, accuracy, lowest in report["risk_coverage"]:
            print(f"  keep {keep:4.0%} (confidence >= {lowest:.3f}): header field accuracy {accuracy:.2%}")
        kept = [a for c, a in pairs if c >= FLOOR]
        print(f"  the service's floor {FLOOR}: keeps {len(kept) / len(pairs):.0%} at "
              f"{sum(kept) / max(len(kept), 1):.2%}")
    print(f"({time.time() - started:.0f} s)")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
