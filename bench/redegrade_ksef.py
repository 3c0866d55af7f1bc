"""Fresh degraded scans of the 60 ksef-official invoices: the corpus's own degrade() (its
make_corpus.py) with a new seed, pages rendered at 200 DPI with pypdfium2. The corpus's own
degraded scans are few and were looked at while tuning; new noise on the same invoices is the
honest check of a change for degraded scans (issue 12's note: items F1 0.764 -> 0.778 at seed
20261206). Evaluate the output with `ocr-migrate evaluate --golden OUT`.

Usage: python bench/redegrade_ksef.py [SEED] [--out DIR]   (default /tmp/redeg)
"""
import io, json, random, sys
from pathlib import Path
import pypdfium2 as pdfium
from PIL import Image
ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT.parent / "shared" / "corpora" / "ksef-official"
OUT = Path(sys.argv[sys.argv.index("--out") + 1]) if "--out" in sys.argv else Path("/tmp/redeg")
sys.path.insert(0, str(SRC))
import make_corpus as mc  # noqa: E402  (the corpus's own generator)

(OUT / "scans").mkdir(parents=True, exist_ok=True); (OUT / "truth").mkdir(exist_ok=True)
rng = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 20261206)
manifest = []
for entry in json.loads((SRC / "manifest.json").read_text()):
    stem = entry["id"]
    pdf = pdfium.PdfDocument(str(SRC / entry["pdf"]))
    pages = [pdf[i].render(scale=200 / 72).to_pil() for i in range(len(pdf))]
    prof = mc.scan_profile(rng)
    final = []
    for pg in pages:
        im2, _ = mc.degrade(pg, rng, prof)
        buf = io.BytesIO(); im2.save(buf, "JPEG", quality=rng.randint(70, 85)); buf.seek(0)
        im3 = Image.open(buf); im3.load(); final.append(im3)
    mc.write_scan(final, OUT / "scans" / f"{stem}.pdf", True, 200)
    (OUT / "truth" / f"{stem}.json").write_text((SRC / entry["truth"]).read_text())
    manifest.append({"id": stem, "scan": f"scans/{stem}.pdf", "truth": f"truth/{stem}.json", "degraded": True})
(OUT / "manifest.json").write_text(json.dumps(manifest))
print("done", len(manifest))
