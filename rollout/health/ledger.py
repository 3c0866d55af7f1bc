"""What the migration saves: pages read per engine, and what Document AI was paid for.

From ``ocr_events``, per UTC day and rollout stage:

- **served pages** per engine: each request's pages counted once, on the read that answered it
  (its last successful read that is not a shadow: a low-confidence Tesseract read that Google
  re-read is served by Google);
- **Google pages**: every page Document AI read successfully, shadow and re-reads included, since
  each is billed (a failed call is not);
- **pages avoided**: pages served by Tesseract or by the ksef engine (KSeF XML, no OCR at all);
- **pages saved**: the pages the requests needed (all served pages: what Google alone would have
  read) minus the Google pages. Shadow reads by Google cost the saving they compare against, so
  a stage that shadows much can save less than it avoids.

Money needs the contracted Document AI price per page (setting ``documentai_price_per_page``;
there is no built-in default): with it each row also says what Google cost and what was saved,
in ``documentai_price_currency``. Without it the ledger counts pages only.

PostgreSQL and SQLite run the same query (a window function picks each request's serving read).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import BigInteger, Integer, and_, cast, func, select
from sqlalchemy.engine import Engine

from ..db import ocr_events
from ..router import GOOGLE, KSEF, OPENSOURCE

OPEN_ENGINES = (OPENSOURCE, KSEF)  # a page served by either is a page Google did not read
_EPOCH_DAY = date(1970, 1, 1)


def _day_index(dialect: str):
    e = ocr_events.c
    if dialect == "postgresql":
        return func.floor(func.extract("epoch", e.at) / 86400).cast(BigInteger)
    return cast(func.strftime("%s", e.at), Integer) / 86400  # SQLite keeps the UTC wall time


def cost_ledger(db: Engine, start: datetime, end: datetime, price_per_page: Decimal | None = None,
                currency: str = "USD") -> dict:
    """The ledger for events with start <= at < end: ``rows`` per (day, stage), ``kinds`` (the same
    figures per upload kind, ``kind`` None for events recorded before kinds were; most documents
    first), ``total``, ``price_per_page`` and ``currency`` (money figures are None without a price)."""
    e = ocr_events.c
    in_window = and_(e.at >= start, e.at < end)
    day = _day_index(db.dialect.name).label("day")
    last = func.row_number().over(partition_by=e.request_id, order_by=(e.at.desc(), e.id.desc())).label("last")
    served_reads = (select(day, e.stage, e.kind, e.engine, func.coalesce(e.pages, 0).label("pages"), last)
                    .where(in_window, e.shadow.is_(False), e.success.is_(True)).subquery())
    s = served_reads.c
    with db.connect() as conn:
        served = conn.execute(select(s.day, s.stage, s.kind, s.engine, func.sum(s.pages), func.count())
                              .where(s.last == 1).group_by(s.day, s.stage, s.kind, s.engine)).all()
        google = conn.execute(select(day, e.stage, e.kind, e.shadow, func.sum(func.coalesce(e.pages, 0)))
                              .where(in_window, e.engine == GOOGLE, e.success.is_(True))
                              .group_by(day, e.stage, e.kind, e.shadow)).all()
    rows: dict[tuple[int, int], Pages] = defaultdict(Pages)
    kinds: dict[str | None, Pages] = defaultdict(Pages)  # the same counts per upload kind
    for d, stage, kind, eng, pages, documents in served:
        for row in (rows[(int(d), stage)], kinds[kind]):
            row.served[eng] += int(pages or 0)
            row.documents += documents
    for d, stage, kind, shadow, pages in google:
        for row in (rows[(int(d), stage)], kinds[kind]):
            row.google += int(pages or 0)
            row.google_shadow += int(pages or 0) if shadow else 0
    total = Pages()
    for row in rows.values():
        total += row
    return {"start": start.isoformat(), "end": end.isoformat(),
            "price_per_page": str(price_per_page) if price_per_page is not None else None, "currency": currency,
            "rows": [{"day": (_EPOCH_DAY + timedelta(days=d)).isoformat(), "stage": stage,
                      **row.figures(price_per_page)} for (d, stage), row in sorted(rows.items())],
            "kinds": [{"kind": kind, **row.figures(price_per_page)}
                      for kind, row in sorted(kinds.items(), key=lambda kv: (-kv[1].documents, kv[0] or "~"))],
            "total": total.figures(price_per_page)}


@dataclass
class Pages:
    """One row's counts: documents served, pages per serving engine, pages Google billed."""

    documents: int = 0
    served: Counter = field(default_factory=Counter)  # engine -> pages it served
    google: int = 0
    google_shadow: int = 0

    def __iadd__(self, other: "Pages") -> "Pages":
        self.documents += other.documents
        self.served.update(other.served)
        self.google += other.google
        self.google_shadow += other.google_shadow
        return self

    def figures(self, price: Decimal | None) -> dict:
        needed = sum(self.served.values())
        avoided_by = {eng: self.served[eng] for eng in OPEN_ENGINES}
        saved = needed - self.google
        return {"documents": self.documents, "served_pages": dict(sorted(self.served.items())),
                "pages_needed": needed, "google_pages": self.google, "google_shadow_pages": self.google_shadow,
                "pages_avoided": sum(avoided_by.values()), "avoided_by": avoided_by, "pages_saved": saved,
                "google_cost": _money(price, self.google), "saved": _money(price, saved)}


def _money(price: Decimal | None, pages: int) -> str | None:
    return None if price is None else str((price * pages).quantize(Decimal("0.01"), ROUND_HALF_UP))
