"""Which golden documents a quality gate reads: the names a plan's ``golden_subset`` may take.

Kept apart from ``golden_gate`` (which loads the OCR engines) so that DAG files and the migration
plan can check a choice at parse time without importing them.
"""

from __future__ import annotations

SUBSETS = {"digital": {"digital"}, "scan": {"scan300", "scan_clean", "scan_degraded", "scan_rotated"}, "all": None}
# Committed corpora beside the golden set that a gate may read instead: invoices this team did not
# lay out (expectations/ksef-official: the official KSeF visualiser's output).
CORPUS_SUBSETS = ("ksef-official",)


def is_golden_subset(subset: str) -> bool:
    """Whether ``subset`` names one of the choices ``golden_gate.subset_documents`` takes
    (manifest variants of a given folder aside)."""
    corpus, sep, variants = subset.partition(":")
    if sep:
        return corpus in CORPUS_SUBSETS and variants in SUBSETS
    return subset in SUBSETS or subset in CORPUS_SUBSETS


GOLDEN_SUBSET_CHOICES = (*SUBSETS, *CORPUS_SUBSETS, *(f"{c}:{v}" for c in CORPUS_SUBSETS for v in ("digital", "scan")))
