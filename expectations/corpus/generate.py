"""Generate the golden corpus: invoices in several variants, each with its truth file.

Invoice `i` depends only on (seed, i): its data, typography and scan noise all come from seeds
derived from those two numbers. That is what makes the output byte-identical whatever the
number of worker processes, and lets any single invoice be regenerated on its own.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .layouts import LAYOUT_NAMES, render_invoice
from .model import build_invoice, derive_seed
from .scan import SCAN300, SCAN_DEGRADED, scan

DEFAULT_SEED = 20261130
DIGITAL = "digital"
ALL_VARIANTS = (DIGITAL, SCAN300, SCAN_DEGRADED)
_FILE_SUFFIX = {DIGITAL: "", SCAN300: "-scan300", SCAN_DEGRADED: "-degraded"}


@dataclass(frozen=True)
class Allocation:
    """What kind of invoice number `index` is; a rule, not a draw, so the mix is guaranteed."""

    index: int
    layout: str
    language: str
    currency: str
    two_pages: bool

    @property
    def stem(self) -> str:
        if self.layout not in LAYOUT_NAMES:  # a layout family's invoice
            return f"{self.layout}-{self.index % 10_000:03d}"
        return f"inv-{self.index:04d}"


def allocate(index: int) -> Allocation:
    """Round-robin layouts (any 7 consecutive invoices show all 7), English every 5th (20 %),
    EUR for index ≡ 3, 9, 15 (mod 20) (15 %, some English), two pages for index ≡ 7 (mod 10).

    With 14 invoices every layout appears twice, English at 5 and 10, EUR at 3 and 9 and a
    two-page invoice at 7. Indexes start at 1.
    """
    if index < 1:
        raise ValueError("invoice indexes start at 1")
    return Allocation(
        index=index,
        layout=LAYOUT_NAMES[(index - 1) % len(LAYOUT_NAMES)],
        language="en" if index % 5 == 0 else "pl",
        currency="EUR" if index % 20 in (3, 9, 15) else "PLN",
        two_pages=index % 10 == 7,
    )


def generate_corpus(out_dir: Path, count: int, seed: int = DEFAULT_SEED,
                    variants: Sequence[str] = ALL_VARIANTS, workers: int = 2) -> dict:
    """Write `count` invoices × `variants` with truth files and `manifest.json` into `out_dir`.

    Returns the manifest. Existing files with the same names are overwritten; other files in
    `out_dir` are left alone.
    """
    unknown = set(variants) - set(ALL_VARIANTS)
    if unknown or not variants:
        raise ValueError(f"variants must be a non-empty subset of {ALL_VARIANTS}, "
                         f"got {list(variants)}")
    if count < 1:
        raise ValueError("count must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(out_dir, seed, index, tuple(variants)) for index in range(1, count + 1)]
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            per_invoice = pool.map(_generate_invoice, jobs, chunksize=1)
    else:
        per_invoice = [_generate_invoice(job) for job in jobs]
    manifest = {
        "generator": "expectations.corpus",
        "seed": seed,
        "count": count,
        "variants": list(variants),
        "documents": [entry for entries in per_invoice for entry in entries],
    }
    (out_dir / "manifest.json").write_text(_to_json(manifest), encoding="utf-8")
    return manifest


def _generate_invoice(job: tuple[Path, int, int, tuple[str, ...]]) -> list[dict]:
    """Render one invoice in every requested variant; returns its manifest entries."""
    out_dir, seed, index, variants = job
    allocation = allocate(index)
    invoice = build_invoice(derive_seed(seed, index), allocation.language, allocation.currency,
                            allocation.two_pages)
    rendered = render_invoice(invoice, allocation.layout)
    return _write_variants(out_dir, seed, index, allocation, invoice, rendered, variants)


def _write_variants(out_dir: Path, seed: int, index: int, allocation: Allocation, invoice,
                    rendered, variants: tuple[str, ...]) -> list[dict]:
    truth = _to_json(rendered.truth)
    entries = []
    for variant in variants:
        name = f"{allocation.stem}{_FILE_SUFFIX[variant]}"
        if variant == DIGITAL:
            data, extension, dpi = rendered.pdf, ".pdf", None
        else:
            scanned = scan(rendered.pdf, variant, np.random.default_rng(
                derive_seed(seed, index, variant)), title=name, scanned_on=invoice.issue_date)
            data, extension, dpi = scanned.data, scanned.extension, scanned.dpi
        (out_dir / f"{name}{extension}").write_bytes(data)
        (out_dir / f"{name}.json").write_text(truth, encoding="utf-8")
        entries.append({"file": f"{name}{extension}", "truth": f"{name}.json",
                        "invoice": allocation.stem, "variant": variant,
                        "layout": allocation.layout, "language": allocation.language,
                        "pages": rendered.pages, "dpi": dpi, "currency": invoice.currency})
    return entries


FAMILY_SEED = 20261202


def generate_family_corpus(out_dir: Path, per_family: int, seed: int = FAMILY_SEED,
                           variants: Sequence[str] = ALL_VARIANTS, workers: int = 2,
                           families: Sequence[str] | None = None) -> dict:
    """`per_family` invoices of every layout family (``families``), each in `variants`.

    The manifest's ``layout`` of each document is its family, which is what ``evaluate``
    reports by and what leave-one-family-out evaluation holds out.
    """
    from .families import FAMILY_NAMES

    chosen = tuple(families or FAMILY_NAMES)
    unknown = set(chosen) - set(FAMILY_NAMES)
    if unknown:
        raise ValueError(f"unknown families {sorted(unknown)}; known: {list(FAMILY_NAMES)}")
    if per_family < 1:
        raise ValueError("per_family must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(out_dir, seed, FAMILY_NAMES.index(name) * 10_000 + n, name, tuple(variants))
            for name in chosen for n in range(1, per_family + 1)]
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            per_invoice = pool.map(_generate_family_invoice, jobs, chunksize=1)
    else:
        per_invoice = [_generate_family_invoice(job) for job in jobs]
    manifest = {"generator": "expectations.corpus.families", "seed": seed,
                "count": len(jobs), "variants": list(variants), "families": list(chosen),
                "documents": [entry for entries in per_invoice for entry in entries]}
    (out_dir / "manifest.json").write_text(_to_json(manifest), encoding="utf-8")
    return manifest


def _generate_family_invoice(job: tuple[Path, int, int, str, tuple[str, ...]]) -> list[dict]:
    from .families import FAMILIES, render_family

    out_dir, seed, index, name, variants = job
    family = FAMILIES[name]
    language = family.language
    currency = "EUR" if index % 7 == 3 else "PLN"
    allocation = Allocation(index, name, language, currency, two_pages=False)
    invoice = build_invoice(derive_seed(seed, index), language, currency, False)
    rendered = render_family(invoice, name, derive_seed(seed, index, "family"))
    entries = _write_variants(out_dir, seed, index, allocation, invoice, rendered,
                              variants)
    return [dict(entry, invoice=f"{name}-{index % 10_000:03d}") for entry in entries]


def _to_json(value: object) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def describe_manifest(manifest: dict, out: Path, seconds: float) -> str:
    """One line a person reads after generation: counts by variant, layout, language, currency."""
    invoices = {entry["invoice"]: entry for entry in manifest["documents"]}.values()
    languages = Counter(entry["language"] for entry in invoices)
    currencies = Counter(entry["currency"] for entry in invoices)
    layouts = {entry["layout"] for entry in invoices}
    two_page = sum(entry["pages"] > 1 for entry in invoices)
    return (f"wrote {len(manifest['documents'])} documents ({len(invoices)} invoices x "
            f"{len(manifest['variants'])} variants; {len(layouts)} layouts, "
            f"{languages['en']} English, {currencies['EUR']} EUR, {two_page} two-page) "
            f"to {out} in {seconds:.1f} s")
