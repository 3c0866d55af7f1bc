"""Accuracy per Tesseract version: Debian's 5.3.0 (the `cli` backend, pytesseract) against the
5.5.x the tesserocr wheel bundles (the `tesserocr` backend, in-process), on the same documents
with the same extraction, per field.

Corpora: our own (data/golden-full, generated when absent; --limit N takes its first N
documents), ../shared/corpora/ksef-official and ksef-thirdparty (all of them). For each field: documents right
with each version, documents lost (right with cli, wrong with tesserocr) and won, and the net
change; then the overall figures (field exact match, documents with every field right,
line-item F1).

The rule (issue 17): tesserocr may be the default only if no field's count of right documents
drops by more than one on either corpus and none of the overall figures is lower.

Usage: python bench/bench_tesseract_versions.py [--golden DIR] [--limit N] [--ksef DIR] [--thirdparty DIR]
       [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["OMP_THREAD_LIMIT"] = "1"

from ocr_engines.evaluation import golden_documents, run_documents, summarise  # noqa: E402
from ocr_engines.result import FIELD_NAMES, LINE_ITEMS  # noqa: E402
from ocr_engines.tesseract import TesseractEngine  # noqa: E402

BACKENDS = ("cli", "tesserocr")
OVERALL = ("field_exact_match", "all_fields_correct", "line_item_f1")
MAX_FIELD_LOSS = 1  # documents


def evaluate(docs, backend: str, workers: int) -> tuple[dict, dict, str, float]:
    """Per document (path -> {field: right}), the summary, the engine version, seconds."""
    start = time.perf_counter()
    scores = list(run_documents(docs, "tesseract", workers, {"backend": backend}))
    elapsed = time.perf_counter() - start
    per_doc = {s.path: s.fields for s in scores}  # a failed read has every truth field wrong
    return per_doc, summarise(scores, elapsed), TesseractEngine(backend=backend).version, elapsed


def compare(name: str, docs, workers: int) -> dict:
    runs = {b: evaluate(docs, b, workers) for b in BACKENDS}
    (old, old_sum, old_v, old_s), (new, new_sum, new_v, new_s) = runs["cli"], runs["tesserocr"]
    fields = [n for n in (*FIELD_NAMES, LINE_ITEMS) if any(n in f for f in old.values())]
    rows = []
    for field in fields:
        judged = [p for p in old if field in old[p] or field in new[p]]
        right_old = sum(old[p].get(field, False) for p in judged)
        right_new = sum(new[p].get(field, False) for p in judged)
        lost = sum(old[p].get(field, False) and not new[p].get(field, False) for p in judged)
        won = sum(new[p].get(field, False) and not old[p].get(field, False) for p in judged)
        rows.append({"field": field, "documents": len(judged), "cli": right_old, "tesserocr": right_new,
                     "lost": lost, "won": won, "net": right_new - right_old,
                     "lost_in": sorted(Path(p).name for p in judged
                                       if old[p].get(field, False) and not new[p].get(field, False))})
    overall = {k: (old_sum["overall"][k], new_sum["overall"][k]) for k in OVERALL}
    worst = min(r["net"] for r in rows)
    ok = worst >= -MAX_FIELD_LOSS and all(n >= o for o, n in overall.values() if o is not None)
    return {"corpus": name, "documents": len(docs), "versions": {"cli": old_v, "tesserocr": new_v},
            "seconds": {"cli": round(old_s, 1), "tesserocr": round(new_s, 1)}, "fields": rows,
            "overall": overall, "groups": {g: (old_sum["groups"][g]["field_exact_match"],
                                               new_sum["groups"][g]["field_exact_match"]) for g in old_sum["groups"]},
            "errors": {"cli": old_sum["overall"]["errors"], "tesserocr": new_sum["overall"]["errors"]},
            "tesserocr_no_worse": ok}


def print_table(report: dict) -> None:
    v = report["versions"]
    print(f"\n{report['corpus']}: {report['documents']} documents; cli = {v['cli']}, tesserocr = {v['tesserocr']}; "
          f"read in {report['seconds']['cli']} s vs {report['seconds']['tesserocr']} s (2 workers, shared box)")
    print(f"  {'field':<18} {'docs':>5} {'cli':>5} {'tsr':>5} {'lost':>5} {'won':>5} {'net':>5}")
    for r in report["fields"]:
        print(f"  {r['field']:<18} {r['documents']:>5} {r['cli']:>5} {r['tesserocr']:>5} {r['lost']:>5} "
              f"{r['won']:>5} {r['net']:>+5}" + (f"  lost: {', '.join(r['lost_in'][:6])}" if r["lost_in"] else ""))
    for k, (old, new) in report["overall"].items():
        print(f"  {k:<18} cli {old}  tesserocr {new}")
    for g, (old, new) in report["groups"].items():
        print(f"  field exact match, {g:<14} cli {old}  tesserocr {new}")
    print(f"  errors: cli {report['errors']['cli']}, tesserocr {report['errors']['tesserocr']}; "
          f"tesserocr no worse (no field -{MAX_FIELD_LOSS + 1} or more, no overall figure lower): "
          f"{report['tesserocr_no_worse']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--golden", type=Path, default=ROOT / "data" / "golden-full")
    parser.add_argument("--limit", type=int, default=0, help="the first N documents of --golden (0: all)")
    parser.add_argument("--ksef", type=Path, default=ROOT.parent / "shared" / "corpora" / "ksef-official")
    parser.add_argument("--thirdparty", type=Path, default=ROOT.parent / "shared" / "corpora" / "ksef-thirdparty")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not (args.golden / "manifest.json").is_file():
        from expectations.corpus.generate import generate_corpus

        generate_corpus(args.golden, count=100, workers=args.workers)
    ours = golden_documents(args.golden)
    reports = [compare(f"our corpus ({args.golden.name})", ours[:args.limit] if args.limit else ours, args.workers)]
    for name, folder in (("ksef-official", args.ksef), ("ksef-thirdparty", args.thirdparty)):
        if (folder / "manifest.json").is_file():
            reports.append(compare(name, golden_documents(folder), args.workers))
    for report in reports:
        print_table(report)
    keep = all(r["tesserocr_no_worse"] for r in reports)
    print(f"\ndefault backend by the rule: {'tesserocr' if keep else 'cli'}")
    print(json.dumps(reports))


if __name__ == "__main__":
    main()
