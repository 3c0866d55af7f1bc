"""A flowing A4 page model: layouts place text top-down, the sheet breaks pages and renders PDF.

Drawing operations are recorded rather than drawn immediately, so the page count is known
before rendering ("Strona 1/2" needs it). The sheet also records which truth fields were
printed, which is how the truth file ends up containing only what is on the page.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Protocol

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

PAGE_WIDTH, PAGE_HEIGHT = A4


class _Op(Protocol):
    def draw(self, canvas: Canvas, page_height: float) -> None: ...


@dataclass(frozen=True)
class TextOp:
    """One line of text; `y` is the baseline measured from the top of the page."""

    x: float
    y: float
    text: str
    font: str
    size: float
    align: str = "left"
    gray: float = 0.0

    def draw(self, canvas: Canvas, page_height: float = PAGE_HEIGHT) -> None:
        canvas.setFillGray(self.gray)
        canvas.setFont(self.font, self.size)
        draw = {"left": canvas.drawString, "right": canvas.drawRightString,
                "center": canvas.drawCentredString}[self.align]
        draw(self.x, page_height - self.y, self.text)


@dataclass(frozen=True)
class LineOp:
    x1: float
    y1: float
    x2: float
    y2: float
    width: float = 0.5
    gray: float = 0.0
    dash: tuple[float, ...] = ()

    def draw(self, canvas: Canvas, page_height: float = PAGE_HEIGHT) -> None:
        canvas.setStrokeGray(self.gray)
        canvas.setLineWidth(self.width)
        canvas.setDash(list(self.dash))
        canvas.line(self.x1, page_height - self.y1, self.x2, page_height - self.y2)
        canvas.setDash([])


@dataclass(frozen=True)
class RectOp:
    """A rectangle whose top-left corner is (x, y) from the top of the page."""

    x: float
    y: float
    width: float
    height: float
    stroke_gray: float | None = 0.0
    fill_gray: float | None = None
    line_width: float = 0.5
    radius: float = 0.0

    def draw(self, canvas: Canvas, page_height: float = PAGE_HEIGHT) -> None:
        canvas.setLineWidth(self.line_width)
        if self.stroke_gray is not None:
            canvas.setStrokeGray(self.stroke_gray)
        if self.fill_gray is not None:
            canvas.setFillGray(self.fill_gray)
        canvas.roundRect(self.x, page_height - self.y - self.height, self.width, self.height,
                         self.radius, stroke=int(self.stroke_gray is not None),
                         fill=int(self.fill_gray is not None))


@dataclass(frozen=True)
class PageFooter:
    """Page numbering on every page of multi-page documents, e.g. "Strona {page}/{pages}"."""

    template: str
    font: str
    size: float

    def op(self, page: int, pages: int, page_width: float = PAGE_WIDTH,
           page_height: float = PAGE_HEIGHT) -> TextOp:
        text = self.template.format(page=page, pages=pages)
        return TextOp(page_width / 2, page_height - 28, text, self.font, self.size,
                      align="center", gray=0.2)


@dataclass(frozen=True)
class PdfInfo:
    title: str
    author: str
    subject: str


@dataclass
class Sheet:
    """Recorded pages plus a top-down cursor `y` within the printable area.

    A4 portrait unless told otherwise (landscape A4, a till roll's narrow strip)."""

    margin_x: float = 42.0
    margin_top: float = 40.0
    margin_bottom: float = 52.0
    printed: dict[str, str] = field(default_factory=dict)
    line_items: list[dict[str, str]] = field(default_factory=list)
    page_width: float = PAGE_WIDTH
    page_height: float = PAGE_HEIGHT

    def __post_init__(self) -> None:
        self._pages: list[list[_Op]] = [[]]
        self.y = self.margin_top

    @property
    def left(self) -> float:
        return self.margin_x

    @property
    def right(self) -> float:
        return self.page_width - self.margin_x

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def bottom(self) -> float:
        return self.page_height - self.margin_bottom

    @property
    def page_count(self) -> int:
        return len(self._pages)

    @property
    def pages(self) -> tuple[tuple[_Op, ...], ...]:
        """The recorded operations, page by page (for inspection, e.g. overlap checks)."""
        return tuple(tuple(ops) for ops in self._pages)

    def fits(self, height: float) -> bool:
        return self.y + height <= self.bottom

    def ensure(self, height: float) -> None:
        """Start a new page unless a block of `height` fits below the cursor."""
        if not self.fits(height):
            self.new_page()

    def new_page(self) -> None:
        self._pages.append([])
        self.y = self.margin_top

    def advance(self, height: float) -> None:
        self.y += height

    def text(self, x: float, y: float, text: str, font: str, size: float, *,
             align: str = "left", gray: float = 0.0, truth_field: str | None = None) -> None:
        """Draw one line of text; `truth_field` marks it as the printed form of that field."""
        self._pages[-1].append(TextOp(x, y, text, font, size, align, gray))
        if truth_field:
            self.mark(truth_field, text)

    def mark(self, truth_field: str, text: str) -> None:
        """Record that `truth_field` is printed (as `text`, the first time it appears)."""
        self.printed.setdefault(truth_field, text)

    def line(self, x1: float, y1: float, x2: float, y2: float, *, width: float = 0.5,
             gray: float = 0.0, dash: tuple[float, ...] = ()) -> None:
        self._pages[-1].append(LineOp(x1, y1, x2, y2, width, gray, dash))

    def rect(self, x: float, y: float, width: float, height: float, *,
             stroke_gray: float | None = 0.0, fill_gray: float | None = None,
             line_width: float = 0.5, radius: float = 0.0) -> None:
        self._pages[-1].append(RectOp(x, y, width, height, stroke_gray, fill_gray, line_width,
                                      radius))

    def render_pdf(self, info: PdfInfo, footer: PageFooter) -> bytes:
        """Render all pages; byte-identical for identical input (reportlab invariant mode)."""
        buffer = io.BytesIO()
        canvas = Canvas(buffer, pagesize=(self.page_width, self.page_height), invariant=1,
                        pageCompression=1)
        canvas.setTitle(info.title)
        canvas.setAuthor(info.author)
        canvas.setSubject(info.subject)
        canvas.setCreator("expectations.corpus")
        pages = len(self._pages)
        for number, ops in enumerate(self._pages, start=1):
            for op in ops:
                op.draw(canvas, self.page_height)
            if pages > 1:
                footer.op(number, pages, self.page_width, self.page_height).draw(
                    canvas, self.page_height)
            canvas.showPage()
        canvas.save()
        return buffer.getvalue()
