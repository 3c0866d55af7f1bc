"""The KSeF structured path, measured (issue 14).

1. The ksef engine on the ksef-official XML (expectations/ksef-official/xml, truth beside it): documents whose every field and line
   item matches the truth (target: all 60), and its time per document against the OCR engine's
   time per page of the same invoices' digital PDFs (an anchor measured in this run).
2. The KSeF reference on the visualisations (``ocr_engines/ksef_link``): on each digital PDF
   and each scan whose page prints one, how often the engine returns the KSeF number and the
   verification link exactly as printed (target: the number on >= 90 % of the scans), clean and
   degraded separately; invoices that print none must get none.
3. The cost of the QR decoding: milliseconds per scanned page, and as a share of that page's
   OCR time (Tesseract on the same page image, in the same run).

Usage: python bench/bench_ksef.py [--ksef DIR] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["OMP_THREAD_LIMIT"] = "1"

from ocr_engines import get_engine  # noqa: E402
from ocr_engines.evaluation import golden_documents, score_document  # noqa: E402
from ocr_engines.pool import start_worker, worker_engine  # noqa: E402

NUMBER_TARGET = 0.90


def extract(path: str) -> dict:
    return worker_engine().extract(Path(path)).to_dict()


def xml_figures(directory: Path) -> tuple[int, int, float]:
    docs = golden_documents(directory)
    engine = get_engine("ksef")
    exact, times = 0, []
    for doc in docs:
        start = time.perf_counter()
        result = engine.extract(doc.path)
        times.append(time.perf_counter() - start)
        score = score_document(doc, result.to_dict(), 0.0)
        exact += all(score.fields.values()) and score.items_matched == score.items_total == score.items_truth
    return exact, len(docs), statistics.median(times)


def reference_figures(corpus: Path, workers: int) -> dict:
    manifest = json.loads((corpus / "manifest.json").read_text())
    jobs = []
    for entry in manifest:
        meta = json.loads((corpus / "xml" / f"{entry['id']}.meta.json").read_text())
        for variant, rel in (("digital", entry["pdf"]),
                             ("degraded" if entry["degraded"] else "clean", entry["scan"])):
            jobs.append((variant, entry["id"], meta, str(corpus / rel)))
    # The reference comes from the first read: the second look does not change it.
    with ProcessPoolExecutor(workers, initializer=start_worker,
                             initargs=("tesseract", {"second_look": False})) as pool:
        results = list(pool.map(extract, [job[3] for job in jobs]))
    out: dict[str, dict] = {}
    for (variant, stem, meta, _), result in zip(jobs, results):
        row = out.setdefault(variant, {"printed": 0, "number": 0, "link": 0, "none_right": 0, "none": 0,
                                       "misses": [], "ms": []})
        got = result.get("ksef") or {}
        row["ms"].append(result["timings_ms"].get("ksef_reference", 0))
        if not meta:
            row["none"] += 1
            row["none_right"] += not got
            continue
        row["printed"] += 1
        row["number"] += got.get("number") == meta["nrKSeF"]
        row["link"] += got.get("verification_url") == meta["qrCode"]
        if got.get("number") != meta["nrKSeF"]:
            row["misses"].append(f"{stem}: {got.get('number')}")
    return out


def decode_cost(corpus: Path, pages: int) -> tuple[float, float]:
    """Median ms to decode one scanned page's QR codes, and median Tesseract ms on that page."""
    import pypdfium2 as pdfium

    from ocr_engines import ksef_link

    manifest = json.loads((corpus / "manifest.json").read_text())
    decode, ocr = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for entry in manifest[:pages]:
            pdf = pdfium.PdfDocument(str(corpus / entry["scan"]))
            page = pdf[len(pdf) - 1]  # the code is on the last page
            image = page.render(scale=300 / 72, grayscale=True).to_pil()
            path = Path(tmp) / "page.png"
            image.save(path)
            start = time.perf_counter()
            ksef_link.decode_qr(image)
            decode.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            subprocess.run(["tesseract", str(path), "stdout", "-l", "pol+eng", "--oem", "1", "--psm", "3", "tsv"],
                           check=True, capture_output=True)
            ocr.append((time.perf_counter() - start) * 1000)
            pdf.close()
    return statistics.median(decode), statistics.median(ocr)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ksef", type=Path, default=ROOT.parent / "shared" / "corpora" / "ksef-official")
    parser.add_argument("--xml", type=Path, default=ROOT / "expectations" / "ksef-official" / "xml",
                        help="the FA(3) XML with truth beside it (ksef-official's, committed)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cost-pages", type=int, default=8)
    args = parser.parse_args()
    failed = False

    exact, total, xml_s = xml_figures(args.xml)
    print(f"ksef engine: {exact}/{total} XML e-invoices exact (every field and line item)   "
          f"{'PASS' if exact == total else 'FAIL'}")

    figures = reference_figures(args.ksef, args.workers)
    for variant in ("digital", "clean", "degraded"):
        row = figures[variant]
        rate = row["number"] / row["printed"] if row["printed"] else 0.0
        target = variant == "digital" or rate >= NUMBER_TARGET
        failed |= not target
        print(f"KSeF reference {variant:8s}: number {row['number']}/{row['printed']} ({rate:.1%}), "
              f"link {row['link']}/{row['printed']}, none where none printed {row['none_right']}/{row['none']}, "
              f"median {statistics.median(row['ms']):.0f} ms per document   "
              f"{'PASS' if target and row['none_right'] == row['none'] else 'FAIL'}")
        failed |= row["none_right"] != row["none"]
        for miss in row["misses"]:
            print(f"    missed {miss}")
    scans = [figures[v] for v in ("clean", "degraded")]
    number = sum(r["number"] for r in scans) / sum(r["printed"] for r in scans)
    print(f"KSeF number on the scans that print one: {number:.1%} (target >= {NUMBER_TARGET:.0%})")

    decode_ms, ocr_ms = decode_cost(args.ksef, args.cost_pages)
    ocr_per_page_s = ocr_ms / 1000
    print(f"QR decode per scanned page (300 DPI): {decode_ms:.1f} ms = {decode_ms / ocr_ms:.2%} of Tesseract's "
          f"{ocr_ms:.0f} ms on the same page")
    print(f"ksef engine per XML document: {xml_s * 1000:.1f} ms = {xml_s / ocr_per_page_s:.4f} x one page of OCR")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
