"""Does image preprocessing help Tesseract on our scans? Accuracy and time of each variant,
as ratios against no preprocessing measured in the same run.

Variants: none (the engine's choice), upscale (to 300 DPI when lower), otsu (global
binarisation, after upscaling), background (divide by a blurred background estimate, then
upscale). The engine keeps a variant only if this shows a gain.

Usage: python bench/bench_preprocessing.py [--golden DIR] [--variants none,upscale,otsu,background]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["OMP_THREAD_LIMIT"] = "1"

from ocr_engines.evaluation import golden_documents, run_documents, summarise  # noqa: E402


def upscale(im: Image.Image, dpi: int) -> tuple[Image.Image, int]:
    if dpi >= 250:
        return im, dpi
    f = 300 / dpi
    return im.resize((round(im.width * f), round(im.height * f)), Image.LANCZOS), 300


def otsu(a: np.ndarray) -> np.ndarray:
    hist = np.bincount(a.ravel(), minlength=256).astype(float) / a.size
    w = np.cumsum(hist)
    mu = np.cumsum(hist * np.arange(256))
    between = (mu[-1] * w - mu) ** 2 / np.maximum(w * (1 - w), 1e-12)
    return np.where(a > np.argmax(between), 255, 0).astype(np.uint8)


def preprocess(path: Path, variant: str) -> tuple[Image.Image, int]:
    im = ImageOps.grayscale(Image.open(path))
    dpi = round(float(Image.open(path).info.get("dpi", (300, 300))[0]))
    if variant == "none":
        return im, dpi
    if variant == "background":
        a = np.asarray(im).astype(np.float32)
        bg = ndimage.uniform_filter(ndimage.maximum_filter(a, 15), 41)
        im = Image.fromarray(np.clip(a / np.maximum(bg, 1) * 255, 0, 255).astype(np.uint8))
    im, dpi = upscale(im, dpi)
    if variant == "otsu":
        im = Image.fromarray(otsu(np.asarray(im)))
    return im, dpi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--golden", type=Path, default=ROOT / "expectations" / "golden")
    parser.add_argument("--variants", default="none,upscale,otsu,background")
    args = parser.parse_args()
    docs = [d for d in golden_documents(args.golden)
            if d.group in ("scan300", "scan_degraded") and d.path.suffix in (".png", ".jpg")]
    results = {}
    for variant in args.variants.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            prepared = []
            for d in docs:
                im, dpi = preprocess(d.path, variant)
                out = Path(tmp) / f"{d.path.stem}.png"
                im.save(out, dpi=(dpi, dpi))
                out.with_suffix(".json").write_text(json.dumps(d.truth))
                prepared.append(d.group)
            prep_s = time.perf_counter() - start
            new = golden_documents(Path(tmp))
            for doc, group in zip(new, prepared):
                doc.group = group
            start = time.perf_counter()
            scores = list(run_documents(new, "tesseract", workers=2))
            ocr_s = time.perf_counter() - start
        report = summarise(scores, ocr_s)
        results[variant] = {
            "seconds": round(prep_s + ocr_s, 1),
            **{g: {"field_exact_match": v["field_exact_match"], "line_items": v["per_field"].get("line_items")}
               for g, v in report["groups"].items()},
        }
    base = results.get("none")
    for variant, r in results.items():
        time_ratio = f"{r['seconds'] / base['seconds']:.2f}x time" if base else ""
        groups = ", ".join(f"{g}: fields {v['field_exact_match']:.2%} items {v['line_items']:.2%}"
                           for g, v in r.items() if isinstance(v, dict))
        print(f"preprocessing {variant:10s} {time_ratio} vs none | {groups}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
