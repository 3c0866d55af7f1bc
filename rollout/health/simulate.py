"""Traffic simulation: proof that the gates work, and traffic for demos.

A ``Scenario`` describes how the baseline (Google) and the canary (open source) behave: error
rate, processing time (log-normal) and confidence (beta). ``draw`` produces samples for the gate
directly (the benchmark runs thousands of gate sequences that way); ``events`` produces
``OcrEvent`` rows with timestamps for the database, as the OCR service would have written them;
``drive_service`` sends real invoices to a running OCR service instead.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from ..events import OcrEvent, user_bucket
from ..router import GOOGLE, OPENSOURCE
from .gates import Samples

log = logging.getLogger(__name__)
ERROR_CLASSES = ("OcrTimeoutError", "EngineUnavailableError", "QuotaExceeded")


@dataclass(frozen=True)
class Behaviour:
    error_rate: float = 0.02
    duration_median_ms: float = 1200.0
    duration_sigma: float = 0.35
    confidence_mean: float = 0.92
    confidence_concentration: float = 50.0  # beta a + b: larger = tighter around the mean

    def reads(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per document: failed?, duration (ms), confidence (the last two unused where failed)."""
        failed = rng.random(n) < self.error_rate
        durations = np.round(rng.lognormal(math.log(self.duration_median_ms), self.duration_sigma, n))
        a = self.confidence_mean * self.confidence_concentration
        return failed, durations, rng.beta(a, self.confidence_concentration - a, n)

    def draw(self, engine: str, n: int, rng: np.random.Generator) -> Samples:
        return samples_of(engine, *self.reads(n, rng))


def samples_of(engine: str, failed: np.ndarray, durations: np.ndarray, confidences: np.ndarray) -> Samples:
    ok = ~failed
    n_failed = int(failed.sum())
    return Samples(engine, len(failed), n_failed, durations[ok], confidences[ok],
                   {"OcrTimeoutError": n_failed} if n_failed else {})


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    baseline: Behaviour = Behaviour()
    canary: Behaviour = Behaviour()
    canary_missing: bool = False  # no canary events at all (a broken pipeline, not a healthy engine)

    @property
    def bad(self) -> bool:
        return self.name != "aa"

    def draw(self, n_canary: int, percentage: int, rng: np.random.Generator) -> tuple[Samples, Samples]:
        n_base = round(n_canary * (100 - percentage) / percentage) if percentage < 100 else 0
        canary = Samples(OPENSOURCE) if self.canary_missing else self.canary.draw(OPENSOURCE, n_canary, rng)
        return canary, self.baseline.draw(GOOGLE, n_base, rng)

    def events(self, documents: int, percentage: int, start: datetime, span: timedelta, stage: int,
               rng: np.random.Generator, shadow_share: float = 0.0) -> list[OcrEvent]:
        """``documents`` served reads spread uniformly over [start, start + span), split by
        ``percentage``, in time order; a ``shadow_share`` of them also get a shadow comparison."""
        offsets = np.sort(rng.random(documents)) * span.total_seconds()
        to_canary = rng.random(documents) * 100 < percentage
        out = []
        for i, (offset, is_canary) in enumerate(zip(offsets, to_canary)):
            if is_canary and self.canary_missing:
                continue
            engine, behaviour = (OPENSOURCE, self.canary) if is_canary else (GOOGLE, self.baseline)
            failed, duration, confidence = (v[0] for v in behaviour.reads(1, rng))
            at = start + timedelta(seconds=float(offset))
            request_id = uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i).hex
            ok = not failed
            out.append(OcrEvent(
                request_id=request_id, engine=engine, stage=stage, percentage=percentage,
                duration_ms=int(duration), success=ok,
                user_bucket=user_bucket(f"sim-user-{int(rng.integers(0, 10_000))}"),
                error_class=None if ok else str(rng.choice(ERROR_CLASSES)),
                confidence=float(confidence) if ok else None, pages=1, at=at, event_id=request_id))
            if ok and shadow_share and rng.random() < shadow_share:
                other = GOOGLE if engine == OPENSOURCE else OPENSOURCE
                agree = {f: ("match" if rng.random() < 0.98 else str(rng.choice(["mismatch", "missing", "extra"])))
                         for f in ("invoice_id", "invoice_date", "total_amount", "net_amount", "supplier_tax_id")}
                out.append(OcrEvent(
                    request_id=request_id, engine=other, stage=stage, percentage=percentage,
                    duration_ms=int(duration), success=True, confidence=float(confidence),
                    pages=1, shadow=True, at=at, shadow_agreement=sum(v == "match" for v in agree.values()) / 5,
                    field_agreement=agree))
        return out


SCENARIOS = {s.name: s for s in (
    Scenario("aa", "A/A: the canary behaves exactly like the baseline"),
    Scenario("errors", "canary error rate +5 pp (2 % -> 7 %)", canary=Behaviour(error_rate=0.07)),
    Scenario("slow", "canary twice as slow", canary=Behaviour(duration_median_ms=2400.0)),
    Scenario("low_confidence", "canary confidence 0.92 -> 0.85", canary=Behaviour(confidence_mean=0.85)),
    Scenario("missing", "no canary events reach the table", canary_missing=True),
)}


def scenario(name: str, **canary_overrides) -> Scenario:
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    base = SCENARIOS[name]
    return replace(base, canary=replace(base.canary, **canary_overrides)) if canary_overrides else base


def drive_service(url: str, api_key: str, documents: list[Path], requests: int, users: int = 500,
                  concurrency: int = 2, timeout_s: float = 120.0, stop_at: float | None = None,
                  user_offset: int = 0, stop=None, acknowledged: dict | None = None, labels: list[str] | None = None,
                  by_label: dict | None = None) -> dict:
    """Send ``requests`` invoices (cycling through ``documents``) to a running OCR service as
    ``users`` distinct users; returns counts by HTTP status. 429 answers are retried after
    their Retry-After, as a well-behaved client would. ``stop`` (a threading.Event) ends it
    early: requests not yet sent are not sent. ``acknowledged`` receives the request id of every
    200 answer, mapped to the replica that answered it (a balancer's ``X-OCR-Replica`` header;
    None without one). ``labels`` (one per document, e.g. its kind in a traffic mix): ``by_label``
    receives {label: {status: count}}."""
    import httpx
    from concurrent.futures import ThreadPoolExecutor

    bodies = [(p.name, p.read_bytes(), _content_type(p)) for p in documents]
    counts: dict[str, int] = {}

    def one(i: int) -> None:
        if (stop_at and time.monotonic() > stop_at) or (stop is not None and stop.is_set()):
            return
        name, body, ctype = bodies[i % len(bodies)]
        with httpx.Client(timeout=timeout_s) as client:
            for _ in range(20):
                try:
                    r = client.post(f"{url.rstrip('/')}/v1/ocr", content=body, headers={
                        "X-API-Key": api_key, "X-User-Id": f"sim-user-{(user_offset + i) % users}",
                        "Content-Type": ctype})
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                    break
                if r.status_code != 429:
                    key = str(r.status_code)
                    if r.status_code == 200 and acknowledged is not None:
                        acknowledged[r.json()["request_id"]] = r.headers.get("x-ocr-replica")
                    break
                time.sleep(float(r.headers.get("Retry-After", "1")))
            else:
                key = "429"
        counts[key] = counts.get(key, 0) + 1
        if labels is not None and by_label is not None:
            mine = by_label.setdefault(labels[i % len(labels)], {})
            mine[key] = mine.get(key, 0) + 1

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests)))
    return counts


def _content_type(path: Path) -> str:
    return {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
            ".tif": "image/tiff", ".tiff": "image/tiff", ".xml": "application/xml"}.get(
        path.suffix.lower(), "application/octet-stream")


# ------------------------------------------------------------------------------ a realistic mix

# What customers upload, in shares of 100 (the demo's default; every share is a parameter). Digital
# PDFs first, then scans; phone photos, turned pages and faxes are the captures issue 18 normalises;
# KSeF XML is read exactly; a few uploads are unusable (empty, cut off, not a document).
DEFAULT_MIX = {"digital": 45, "scan": 20, "photo": 8, "rotated": 5, "fax": 5, "xml": 12, "unusable": 5}


def parse_mix(text: str) -> dict[str, int]:
    """'digital=45,scan=20,...' → shares; unknown kinds, negative or all-zero shares are refused."""
    mix: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, sep, share = part.partition("=")
        kind = kind.strip()
        if not sep or kind not in DEFAULT_MIX:
            raise ValueError(f"{part!r}: expected KIND=SHARE with KIND one of {', '.join(DEFAULT_MIX)}")
        try:
            mix[kind] = int(share)
        except ValueError:
            raise ValueError(f"{part!r}: the share must be a whole number") from None
        if mix[kind] < 0:
            raise ValueError(f"{part!r}: a share cannot be negative")
    if not any(mix.values()):
        raise ValueError("the mix sends nothing: give at least one kind a share")
    return mix


def mix_documents(mix: dict[str, int], sources: dict[str, list[Path]], size: int = 200,
                  seed: int = 7) -> tuple[list[Path], list[str]]:
    """``size`` documents in the mix's proportions (largest remainder), each kind cycling through its
    sources, shuffled with ``seed``: (documents, their kinds). A kind with a share needs sources."""
    wanted = {k: v for k, v in mix.items() if v > 0}
    missing = [k for k in wanted if not sources.get(k)]
    if missing:
        raise ValueError(f"no documents for {', '.join(missing)}")
    total = sum(wanted.values())
    exact = {k: size * v / total for k, v in wanted.items()}
    counts = {k: int(x) for k, x in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[:size - sum(counts.values())]:
        counts[k] += 1
    pairs = [(sources[k][i % len(sources[k])], k) for k, n in counts.items() for i in range(n)]
    np.random.default_rng(seed).shuffle(pairs)
    return [p for p, _ in pairs], [k for _, k in pairs]
