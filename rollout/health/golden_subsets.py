"""Which golden documents a quality gate reads: the names a plan's ``golden_subset`` may take.

Kept apart from ``golden_gate`` (which loads the OCR engines) so that DAG files and the migration
plan can check a choice at parse time without importing them.
"""

from __future__ import annotations

SUBSETS = {"digital": {"digital"}, "scan": {"scan300", "scan_clean", "scan_degraded", "scan_rotated"}, "all": None}
# Committed corpora beside the golden set that a gate may read instead: invoices this team did not
# lay out (expectations/ksef-official: the official KSeF visualiser's output; expectations/
# ksef-thirdparty: three other open-source KSeF renderers, two invoices each).
CORPUS_SUBSETS = ("ksef-official", "ksef-thirdparty")
# Subsets spanning folders: parts of (folder: None for the golden set, else a committed corpus by
# name; its variant subset; documents per manifest group, None: all of them). A group's sample is
# fixed: its documents in name order, each group starting where the one before it ended (digital
# invoices 1-4, clean scans 5-8, degraded scans 9-12 of the golden set: the layouts go round robin,
# so each kind sees 4 layouts and the three together all 7).
SPANNING_SUBSETS = {
    # 24 documents: 4 digital, 4 clean scans (scan300), 4 degraded scans of the golden set, and
    # ksef-official's 6 invoices as PDF and as scan (3 clean, 3 degraded, 2 pages each). First read
    # (golden_results, workers=2, no cache, Tesseract 5.3.0 CLI, 2 shared cores): 34.5 s wall,
    # 58.6 s of reads (the ksef-official scans are 43 s of it; digital PDFs ~0.1 s each); 41.6 s in
    # a second run at load average 3.6. Later gates of the run read the cache (0.02 s). The golden
    # suite passes on it as on "digital" (receiver_name 0.92, line_items 0.83, confidence mean 0.99).
    # Plus ksef-thirdparty's 6 digital PDFs (issue 28: wrapped cells, statutory labels; ~0.1 s
    # each): 30 documents. Its scans (the FA(3) stylesheet's run to 3-4 landscape pages) are
    # "ksef-thirdparty:scan"'s to read.
    "mixed": ((None, "digital", 4), (None, "scan", 4), ("ksef-official", "all", None),
              ("ksef-thirdparty", "digital", None)),
}
DEFAULT_GOLDEN_SUBSET = "mixed"


def is_golden_subset(subset: str) -> bool:
    """Whether ``subset`` names one of the choices ``golden_gate.subset_documents`` takes
    (manifest variants of a given folder aside)."""
    corpus, sep, variants = subset.partition(":")
    if sep:
        return corpus in CORPUS_SUBSETS and variants in SUBSETS
    return subset in SUBSETS or subset in CORPUS_SUBSETS or subset in SPANNING_SUBSETS


GOLDEN_SUBSET_CHOICES = (*SPANNING_SUBSETS, *SUBSETS, *CORPUS_SUBSETS,
                         *(f"{c}:{v}" for c in CORPUS_SUBSETS for v in ("digital", "scan")))
