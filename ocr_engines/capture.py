"""Capture normalisation: a page image as it was uploaded (a phone photo, a sideways scan, a fax,
paper with a rubber stamp) turned into what Tesseract reads best: an upright, flat page of black
print at a known text height. One step per concern, each a function that says what it did:

* ``find_page`` / ``flatten_page`` / ``flatten_lighting``: a photo's page outline (the largest
  bright quadrilateral with its corners inside the frame, OpenCV), perspective-corrected to a flat
  page, its shading divided out by the paper level (``preprocess.paper_level``).
* ``suppress_coloured_ink``: rubber stamps (red, blue, violet) and ballpoint signatures laid over
  the print become paper; print under them stays black, and coloured *type* (a link, a heading)
  stays as printed (``ink_marks``). Text inside a stamp vanishes with it, so it never becomes a party.
* ``text_geometry`` and the resampling in ``normalise``: the effective resolution is measured from
  the print itself (the most common letter size), never from the file's DPI tag; squashed pixels
  (a 200x100 dpi fax) are stretched back; letters too small for Tesseract are enlarged to the
  target x-height (``OCR_MIGRATE_TARGET_XHEIGHT_PX``).
* ``despeckle``: salt noise and specks of a fax.
* orientation (``needs_orientation_check``, ``read_quality``, ``upright``): after the first read, a
  page whose words stand on end or read as nonsense is checked with Tesseract's orientation
  detection (osd.traineddata, the backend's ``detect_orientation``) and read again turned upright
  (``TesseractEngine._orient``). An upright page pays nothing for this: the check looks at the
  words the first pass made anyway.

``normalise`` runs the pre-read steps and returns the page and a ``PageCapture`` that the engine
puts into the result (``capture``, ``warnings``, ``timings_ms``). Measured figures are in
bench/bench_capture.py and the README ("Capture normalisation").
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np

# ------------------------------------------------------------------ what the engine reports

SCAN, PHOTO, FAX = "scan", "photo", "fax"



@dataclass
class PageCapture:
    """What normalisation found and did on one page."""

    kind: str = SCAN
    rotated: int = 0  # degrees the page was turned (counter-clockwise) to stand upright
    perspective: bool = False  # a photo's page outline found and flattened
    ink_suppressed: float = 0.0  # share of the page's pixels that were coloured ink
    xheight_px: float | None = None  # lower-case letter height as read, before resampling
    resampled_from_dpi: int | None = None  # the effective resolution, when the page was resampled
    stretched: float = 1.0  # vertical stretch applied to squashed pixels (a 200x100 dpi fax: 2.0)
    despeckled: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "rotated": self.rotated, "perspective": self.perspective}
        if self.ink_suppressed:
            out["ink_suppressed"] = round(self.ink_suppressed, 4)
        if self.xheight_px is not None:
            out["xheight_px"] = round(self.xheight_px, 1)
        if self.resampled_from_dpi:
            out["resampled_from_dpi"] = self.resampled_from_dpi
        if self.stretched != 1.0:
            out["stretched"] = round(self.stretched, 2)
        if self.despeckled:
            out["despeckled"] = True
        return out


def document_capture(pages: list[PageCapture]) -> dict:
    """The result's ``capture`` block: the document's kind (photo over fax over scan) and per page."""
    kinds = {p.kind for p in pages}
    kind = next((k for k in (PHOTO, FAX) if k in kinds), SCAN)
    return {"kind": kind, "pages": [p.to_dict() for p in pages]}


# A document's confidence is the calibrated share of right fields (calibration.py), fitted on
# scans; on a fax, Tesseract's word confidences are as high on a misread name as on a right one.
# 16 tune faxes: every one with all header fields right scored 0.98-0.99, most with a wrong
# field 0.84-0.93, so the service's floor (0.8) sends a fax to Google below 0.8 / 0.85 = 0.94.
# Photos and stamped scans read as well as scans once normalised (bench_capture): no factor.
CONFIDENCE_FACTOR = {FAX: 0.85}


def confidence_factor(pages: list[PageCapture]) -> float:
    """What a document's confidence is multiplied by for its capture (the least trusted page's)."""
    return min((CONFIDENCE_FACTOR.get(p.kind, 1.0) for p in pages), default=1.0)


# ------------------------------------------------------------------ settings (measured)

# Tesseract's LSTM models read best with lower-case letters of about 20 px and lose characters
# below about 10 px. A page is enlarged when its letters are under MIN_XHEIGHT_SHARE of the target:
# clean 200 dpi scans of 8-9 pt print (letters measured at 13-18 px on both shared corpora) read
# as well as they will, and enlarging them would cost CPU for nothing.
DEFAULT_TARGET_XHEIGHT_PX = 20.0
MIN_XHEIGHT_SHARE = 0.5
# A fax is always brought to the target: its jagged bilevel letters read better enlarged (12 tune
# faxes: fields 0.90 -> 0.92 against enlarging only below half the target; a target of 26 or 32
# px read 0.88).
FAX_MIN_XHEIGHT_SHARE = 1.0
MAX_SCALE = 3.0
# A photo is reduced when its letters are larger than this share of the target (a 4000 px photo
# of an A4 page has letters of ~25-35 px): the same read for fewer pixels.
MAX_XHEIGHT_SHARE = 1.6
# Saturation (HSV, 0-255) above which a pixel is coloured; below MIN_INK_SHARE of the page (JPEG
# colour noise) a page is not looked at further. A coloured mark at least MARK_SIZE_MM high and
# wide is ink laid over the page (stamps, signatures: 10-70 mm), not a line of coloured type (up
# to ~22 pt capitals; the KSeF visualisation's blue two-line link stays apart line by line). Ink
# at least INK_BRIGHT of the paper in its brightest channel becomes paper.
INK_SATURATION = 60
INK_SATURATION_FAINT = 30  # a mark's faint ink, counted only where it joins strong ink
MIN_STRONG_SHARE = 0.05  # of a joined shape's pixels
INK_MIN_VALUE = 100  # brightest channel of coloured ink
MIN_INK_SHARE = 0.0003
MARK_SIZE_MM = 7.0
INK_BRIGHT = 0.55


# ------------------------------------------------------------------ coloured ink

def suppress_coloured_ink(rgb: np.ndarray, dpi: int) -> tuple[np.ndarray, float]:
    """A colour page as grey with its ink marks (stamps, signatures) turned to paper; returns
    (grey, share of the page's pixels that were such ink). A page without them is its plain
    luminance.

    Coloured *print* stays: a blue link, a red heading or a coloured total is a line of type, a
    few millimetres high, while a stamp (its frame, its large letters) and a signature reach over
    several lines both ways (``ink_marks``). Under a mark, print stays black: ink multiplied over
    black is dark in every channel, while the ink alone is bright in at least one."""
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # Measured on every 4th pixel first: most pages have no coloured ink, and for them this is all.
    if float(_coloured(np.ascontiguousarray(rgb[::4, ::4]), INK_SATURATION).mean()) < MIN_INK_SHARE:
        return grey, 0.0
    marks = ink_marks(rgb, dpi)
    if not marks.any():
        return grey, 0.0
    paper = float(np.percentile(grey[::4, ::4], 90))
    brightest = rgb.max(axis=2)
    out = grey.copy()
    out[marks] = np.where(brightest[marks] >= INK_BRIGHT * paper, np.uint8(min(255, paper)),
                          np.maximum(grey[marks], brightest[marks]))
    return out, float(marks.mean())


def _lines_of_type(profile: np.ndarray, per_mm: float) -> bool:
    """Whether a coloured shape's ink, summed along rows (or columns), falls into two or more
    bands no higher than a line of type, apart by clear gaps: a paragraph or a link over several
    lines, whichever way the page is turned. A stamp's frame or ring crosses every row and column
    of its box (its uneven ink leaves gaps under 0.7 mm), and so does a signature's stroke."""
    filled = profile > 0
    bands, start, end, gap = [], None, 0, 0
    for i, ink in enumerate(filled):
        if ink:
            if start is None:
                start = i
            elif gap >= TYPE_GAP_MM * per_mm:
                bands.append(end - start)
                start = i
            end, gap = i + 1, 0
        elif start is not None:
            gap += 1
    if start is not None:
        bands.append(end - start)
    return len(bands) >= 2 and max(bands) <= TYPE_LINE_MM * per_mm


TYPE_GAP_MM = 0.75  # between lines of coloured type: ksef-thirdparty's blue link, 0.9 mm
TYPE_LINE_MM = 6.0


def _coloured(rgb: np.ndarray, saturation: int) -> np.ndarray:
    """Pixels of coloured ink: saturated and bright in their brightest channel (a dark pixel's
    hue is noise: print is dark in every channel)."""
    import cv2

    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    return (hsv[..., 1] > saturation) & (hsv[..., 2] >= INK_MIN_VALUE)


def ink_marks(rgb: np.ndarray, dpi: int) -> np.ndarray:
    """The coloured pixels that belong to marks larger than a line of type both ways. Faint ink
    (a stamp's uneven edge, a ballpoint's thin stroke) is joined by a small dilation; a joined
    shape is a mark when it holds strongly coloured ink and measures at least MARK_SIZE_MM high
    *and* wide: a line of coloured type is long but no higher than its letters, whichever way the
    page is turned, and it is not lines of type (``_lines_of_type``). Coloured ink inside a mark's box
    belongs to it (a stamp's letters)."""
    import cv2

    per_mm = dpi / 25.4
    faint = _coloured(rgb, INK_SATURATION_FAINT)
    strong = _coloured(rgb, INK_SATURATION)
    size = max(3, int(round(0.6 * per_mm)) | 1)
    joined = cv2.dilate(faint.astype(np.uint8), np.ones((size, size), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    smaller = np.minimum(stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_WIDTH])
    strong_count = np.bincount(labels[strong], minlength=count)
    keep = (smaller >= MARK_SIZE_MM * per_mm) & (strong_count >= MIN_STRONG_SHARE * stats[:, cv2.CC_STAT_AREA])
    keep[0] = False
    for i in np.flatnonzero(keep):
        x, y, w, h = stats[i, :4]
        ink = strong[y:y + h, x:x + w] & (labels[y:y + h, x:x + w] == i)
        keep[i] = not (_lines_of_type(ink.sum(axis=1), per_mm) or _lines_of_type(ink.sum(axis=0), per_mm))
    if not keep.any():
        return np.zeros(faint.shape, bool)
    # A stamp's own letters stand apart from its frame: coloured ink inside a mark's box is the mark's.
    inside = np.zeros(faint.shape, bool)
    margin = int(round(per_mm))
    for x, y, w, h, _ in stats[keep]:
        inside[max(0, y - margin):y + h + margin, max(0, x - margin):x + w + margin] = True
    return inside & joined.astype(bool)


# ------------------------------------------------------------------ photos

@dataclass
class PageOutline:
    corners: np.ndarray  # 4 x 2, float32: top-left, top-right, bottom-right, bottom-left
    share: float  # of the frame's area


def find_page(grey: np.ndarray) -> PageOutline | None:
    """The page in a photo: the largest convex quadrilateral on an edge map of a reduced image,
    brighter inside than around, covering 20-92 % of the frame with its corners inside it; None when there is none (a scan
    whose page fills the frame, or a photo without a visible outline: read as it is)."""
    import cv2

    h, w = grey.shape
    scale = 800 / max(h, w)
    small = cv2.resize(grey, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(small, (5, 5), 0)
    # Paper is the bright part of the frame: Otsu separates it from a desk; the edge map finds an
    # outline where the background is light too. Try both, keep the largest plausible quad.
    _, bright = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    edges = cv2.dilate(cv2.Canny(blurred, 30, 90), np.ones((3, 3), np.uint8))
    best: PageOutline | None = None
    area = float(small.shape[0] * small.shape[1])
    for binary in (bright, edges):
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in sorted(contours, key=cv2.contourArea, reverse=True)[:3]:
            hull = cv2.convexHull(contour)
            quad = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)
            if len(quad) != 4:
                continue
            share = cv2.contourArea(quad) / area
            if not MIN_PAGE_SHARE <= share <= MAX_PAGE_SHARE or (best and share <= best.share):
                continue
            corners = _order_corners(quad.reshape(4, 2).astype(np.float32) / scale)
            if _inside_frame(corners, w, h) and _brighter_inside(small, corners * scale):
                best = PageOutline(corners, share)
    return best


# A photo's page covers part of the frame, all four corners inside it. A scan whose page was fed
# askew shows the paper's edge and a dark wedge in the corners too, but its page touches the frame
# and covers nearly all of it (ksef-official's degraded scans: 0.96-0.97): never a photo.
MIN_PAGE_SHARE, MAX_PAGE_SHARE = 0.2, 0.92
CORNER_MARGIN = 0.01  # of the frame's side


def _inside_frame(corners: np.ndarray, width: int, height: int) -> bool:
    mx, my = CORNER_MARGIN * width, CORNER_MARGIN * height
    return bool(np.all((corners[:, 0] >= mx) & (corners[:, 0] <= width - 1 - mx)
                       & (corners[:, 1] >= my) & (corners[:, 1] <= height - 1 - my)))


def _order_corners(pts: np.ndarray) -> np.ndarray:
    s, d = pts.sum(axis=1), np.diff(pts, axis=1).ravel()
    return np.array([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]], np.float32)


def _brighter_inside(small: np.ndarray, corners: np.ndarray) -> bool:
    import cv2

    mask = np.zeros(small.shape, np.uint8)
    cv2.fillConvexPoly(mask, corners.astype(np.int32), 1)
    inside, outside = small[mask > 0], small[mask == 0]
    return outside.size > 0 and float(np.median(inside)) > float(np.median(outside)) + 15


def flatten_page(image: np.ndarray, outline: PageOutline) -> np.ndarray:
    """The page inside ``outline`` (of a grey or colour image) as a flat rectangle, its sides the
    quad's longer sides' lengths."""
    import cv2

    tl, tr, br, bl = outline.corners
    width = int(round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
    height = int(round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
    target = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    matrix = cv2.getPerspectiveTransform(outline.corners, target)
    return cv2.warpPerspective(image, matrix, (width, height), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)


def flatten_lighting(grey: np.ndarray, dpi: int) -> np.ndarray:
    """Uneven lighting and shadows divided out: the page over its paper level, paper at white."""
    import cv2

    from .preprocess import paper_level

    bg = paper_level(grey, dpi)
    level = cv2.resize(bg, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(grey.astype(np.float32) / level * 255.0, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ text size and specks

@dataclass
class TextGeometry:
    height_mode: float  # the most common letter height: lower-case letters without ascenders
    width_mode: float  # the most common letter width
    aspect: float  # median height/width of letter-sized marks at the height mode
    letters: int  # how many marks it rests on

    @property
    def xheight_px(self) -> float:
        """The lower-case letter size whichever way the page is turned: on a page on its side the
        letters' heights are their widths, and lower-case letters are about as wide as high."""
        return max(self.height_mode, self.width_mode)


# Height over width of the marks at the most common letter height, as ``text_geometry`` measures
# them: 1.4-1.5 on the clean and degraded scans of ksef-official and ksef-thirdparty; a 200x100
# dpi fax halves it.
UPRIGHT_LETTER_ASPECT = 1.4
SQUASHED_BELOW = 0.7


def text_geometry(grey: np.ndarray) -> TextGeometry | None:
    """Letter size and shape from the page's connected ink marks; None without enough of them."""
    import cv2

    otsu, _ = cv2.threshold(grey[::2, ::2], 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    # On a page with little print Otsu splits the paper's own shading: ink is well below the paper.
    paper = float(np.percentile(grey[::4, ::4], 90))
    _, ink = cv2.threshold(grey, min(otsu, 0.75 * paper), 255, cv2.THRESH_BINARY_INV)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    w, h, area = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]
    letters = ((h >= MIN_MARK_PX) & (h <= 120) & (w >= MIN_MARK_PX) & (w <= 3 * h) & (h <= 3 * w)
               & (area >= 0.15 * w * h) & (area <= 0.9 * w * h))
    if int(letters.sum()) < MIN_LETTERS:  # a page with little print: nothing to measure
        return None
    mode_h, mode_w = _mode(h[letters]), _mode(w[letters])
    near = letters & (np.abs(h - mode_h) <= max(1, mode_h * 0.15))
    aspect = float(np.median(h[near] / w[near])) if near.any() else UPRIGHT_LETTER_ASPECT
    return TextGeometry(float(mode_h), float(mode_w), aspect, int(letters.sum()))


MIN_LETTERS_TO_ENLARGE = 400  # a page with a few lines only (a footer): its letter size is not measured well
MIN_MARK_PX = 4  # smaller marks are specks (a 100 dpi fax's letters are still 5-6 px high)
MIN_LETTERS = 150


def _mode(values: np.ndarray) -> int:
    """The most common value, from a histogram smoothed over +-1 px."""
    hist = np.bincount(values, minlength=MIN_MARK_PX + 3).astype(np.float32)
    smooth = np.convolve(hist, np.ones(3, np.float32), mode="same")
    return int(np.argmax(smooth[MIN_MARK_PX:])) + MIN_MARK_PX


def despeckle(grey: np.ndarray) -> np.ndarray:
    """Salt-and-pepper noise and isolated specks out: a 3x3 median, on a fax page once it is
    resampled to the target letter size (on the fax's own pixels it erases one-pixel strokes:
    bench, tune faxes 0.15 of fields; after resampling 0.92, without it 0.85)."""
    import cv2

    return cv2.medianBlur(grey, 3)


def is_bilevel(grey: np.ndarray) -> bool:
    """A bilevel page (fax, 1-bit scan): its ink is pure black, with no grey edges (a scan's
    print has anti-aliased grey edges, however little of the page is print)."""
    sample = grey[::2, ::2]
    ink = sample[sample < 240]
    return ink.size >= 200 and float((ink < 16).mean()) > 0.95


# ------------------------------------------------------------------ what was uploaded

DIGITAL, XML, UNREADABLE = "digital", "xml", "unreadable"
UPLOAD_KINDS = (DIGITAL, SCAN, PHOTO, FAX, XML, UNREADABLE)
KIND_SIDE_PX = 1000  # the page is looked at this small: find_page works at 800 px
KIND_DPI = 72  # a PDF page without a text layer, rendered this small for the look


def _first_page(path):
    """A PDF's first page as a small greyscale image, or None when it has a text layer (digital).
    The caller holds ``documents.pdfium_lock``."""
    from .documents import Limits, has_text_layer, open_pdf, pdf_page_words

    pdf = open_pdf(path, Limits())
    try:
        page = pdf[0]
        if has_text_layer(pdf_page_words(page)):
            return None
        bitmap = page.render(scale=KIND_DPI / 72, grayscale=True)
        try:
            return bitmap.to_pil().copy()
        finally:
            bitmap.close()
    finally:
        pdf.close()


def upload_kind(path) -> str:
    """What the customer sent, told before any engine reads it, so that it is the same whichever
    engine serves the document (a kind's figures compare the canary with the baseline): ``xml``
    (a KSeF e-invoice), ``digital`` (a PDF whose first page has a text layer), ``fax`` (a bilevel
    page), ``photo`` (a page outline inside the frame), ``scan`` (any other page image), or
    ``unreadable`` (no engine will read it). A page turned on its side is a scan or a photo here:
    its orientation is found while it is read (the result's ``capture`` block says so)."""
    from PIL import Image

    from .documents import PDF, Limits, pdfium_lock, sniff_type
    from .errors import OcrError
    from .ksef import looks_like_xml

    try:
        if looks_like_xml(path):
            return XML
        if sniff_type(path) == PDF:
            with pdfium_lock:  # pdfium is not thread-safe: the service calls this from its threads
                image = _first_page(path)
            if image is None:
                return DIGITAL
        else:
            with Image.open(path) as im:
                if im.width * im.height > Limits().max_pixels:
                    return UNREADABLE
                im.draft("L", (KIND_SIDE_PX, KIND_SIDE_PX))  # a JPEG decodes at 1/2-1/8 size
                image = im.convert("L") if im.mode != "1" else im.copy()
    except (OcrError, OSError, ValueError, Image.DecompressionBombError):
        return UNREADABLE
    except Exception:  # noqa: BLE001 (a hostile file: pdfium errors, a page tree's recursion...)
        # The kind is a label, never a refusal: the engine that reads the upload gives the typed
        # error (tests/faults/hostile.py: byte-flipped PDFs, cyclic page trees).
        return UNREADABLE
    if image.mode == "1":
        return FAX
    scale = KIND_SIDE_PX / max(image.size)
    if scale < 1:  # nearest neighbour: a bilevel page stays bilevel
        image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))), Image.NEAREST)
    grey = np.asarray(image)
    if is_bilevel(grey):
        return FAX
    return PHOTO if find_page(grey) is not None else SCAN


# ------------------------------------------------------------------ the pre-read pipeline

NORMALISED_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV")

def normalise(image, dpi: int, target_xheight: float = DEFAULT_TARGET_XHEIGHT_PX, max_pixels: int = 80_000_000):
    """(page image, its DPI, PageCapture): the upload's page as Tesseract should read it. A page
    nothing needs doing to comes back as the same object (the caller can then read the file as it
    was uploaded); otherwise a new greyscale PIL image, never enlarged past ``max_pixels`` (the
    upload limit: a large page of tiny print must not become a memory bomb).

    ``image``: a PIL image. The DPI returned is the page's effective resolution after the steps."""
    import cv2
    from PIL import Image

    report = PageCapture()
    if image.mode not in NORMALISED_MODES:  # 16-bit or float pixels: read as uploaded (Tesseract scales them)
        return image, dpi, report
    changed = False
    rgb = np.asarray(image.convert("RGB")) if image.mode not in ("1", "L", "LA") else None
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb is not None else np.asarray(image.convert("L"))
    bilevel = image.mode == "1" or is_bilevel(grey)

    outline = None if bilevel else find_page(grey)
    if outline is not None:
        # the page (in colour, so that its stamps are still told from its print), then its lighting
        rgb = flatten_page(rgb, outline) if rgb is not None else None
        grey = flatten_page(grey, outline) if rgb is None else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        # the page's own resolution: its long side is an A4 page's (11.69 in) more often than not
        dpi = max(72, int(round(max(grey.shape) / 11.69)))
        report.kind, report.perspective, changed = PHOTO, True, True
        report.notes.append("photo: page outline found, perspective corrected, lighting flattened")
    if rgb is not None:
        grey, share = suppress_coloured_ink(rgb, dpi)
        if share:
            report.ink_suppressed = share
            report.notes.append(f"coloured ink suppressed ({share:.1%} of the page: stamps, signatures)")
            changed = True
    if report.perspective:
        grey = flatten_lighting(grey, dpi)

    scale_x, scale_y, dpi = _scale_for_text(grey, image, dpi, bilevel, target_xheight, report)
    if bilevel or report.stretched != 1.0:
        report.kind = FAX
    grow = scale_x * scale_y * grey.shape[0] * grey.shape[1] / max_pixels
    if grow > 1:
        scale_x, scale_y = scale_x / grow ** 0.5, scale_y / grow ** 0.5
        dpi = int(round(dpi / grow ** 0.5))
    if scale_x != 1.0 or scale_y != 1.0:
        size = (max(1, int(round(grey.shape[1] * scale_x))), max(1, int(round(grey.shape[0] * scale_y))))
        enlarge = scale_x * scale_y > 1
        # A bilevel page is enlarged linearly: 12 tune faxes read 0.93 of fields (line items 0.71)
        # against 0.92 (0.54) cubic, 0.91 Lanczos, 0.92 after a 0.3 px blur.
        interpolation = (cv2.INTER_LINEAR if bilevel else cv2.INTER_CUBIC) if enlarge else cv2.INTER_AREA
        grey = cv2.resize(grey, size, interpolation=interpolation)
        changed = True
    if bilevel:  # after resampling: at the target letter size a 3x3 median takes specks, not strokes
        grey = despeckle(grey)
        report.despeckled, changed = True, True
        report.notes.append("fax: specks removed")
    if not changed:
        return image, dpi, report
    return Image.fromarray(grey), dpi, report


def _scale_for_text(grey: np.ndarray, image, dpi: int, bilevel: bool, target_xheight: float,
                    report: PageCapture) -> tuple[float, float, int]:
    """(horizontal scale, vertical scale, DPI after them) that bring the page's letters to the
    size Tesseract reads best, from the letters themselves (``text_geometry``), noted in ``report``."""
    geometry = text_geometry(grey)
    scale_x = scale_y = 1.0
    if geometry is None:
        return scale_x, scale_y, dpi
    report.xheight_px = geometry.xheight_px
    xheight = geometry.xheight_px
    tagged = image.info.get("dpi") if hasattr(image, "info") else None
    tag_ratio = float(tagged[0]) / float(tagged[1]) if tagged and len(tagged) == 2 and tagged[1] else 1.0
    # Squashed pixels (a 200x100 dpi fax): the height is stretched back to square pixels, by
    # the DPI tag when it says so, else, on a bilevel page only, by the letters' shape (to the
    # nearest half): on a page turned on its side letters measure as squat too, and orientation
    # is settled after the read.
    stretch = 1.0
    if 1.5 <= tag_ratio <= 3.0:
        stretch = tag_ratio
    elif bilevel and geometry.aspect < SQUASHED_BELOW * UPRIGHT_LETTER_ASPECT:
        stretch = float(np.clip(round(UPRIGHT_LETTER_ASPECT / geometry.aspect * 2) / 2, 1.5, 3.0))
    if stretch != 1.0:
        scale_y = stretch
        xheight = max(geometry.height_mode * stretch, geometry.width_mode)
        report.stretched = stretch
        report.notes.append(f"non-square pixels: height stretched {stretch:g}x")
    smallest = FAX_MIN_XHEIGHT_SHARE if bilevel else MIN_XHEIGHT_SHARE
    too_small = xheight < smallest * target_xheight and geometry.letters >= MIN_LETTERS_TO_ENLARGE
    too_large = report.perspective and xheight > MAX_XHEIGHT_SHARE * target_xheight
    if too_small or too_large:
        factor = float(np.clip(target_xheight / xheight, 0.4, MAX_SCALE))
        scale_x *= factor
        scale_y *= factor
        report.resampled_from_dpi = dpi
        report.notes.append(f"resampled from ~{dpi} dpi (letters {geometry.xheight_px:.0f} px) "
                            f"to {target_xheight:.0f} px letters")
        dpi = int(round(dpi * factor))
    return scale_x, scale_y, dpi


# ------------------------------------------------------------------ orientation (after the first read)

ORIENTATIONS = (0, 90, 180, 270)
# A page is checked when most of its words stand on end (a page turned 90/270: Tesseract reads
# the vertical lines, with good confidence, in boxes taller than wide), or when its words read as
# nonsense (turned 180: few known words, low confidence).
MIN_WORDS = 8
ON_END_SHARE = 0.5
MIN_READABLE_SHARE = 0.35
# Tesseract's orientation confidence: upright and turned pages of the corpora score 5-15; below
# this the detection is a guess, and the page is read as it is.
MIN_OSD_CONFIDENCE = 2.0


def readable_share(words) -> float:
    """The share of words of three letters or more that are confident and known words (either
    language's lexicon): high on a page read the right way up."""
    from .lexicon import is_known_word

    long_words = [w for w in words if sum(c.isalpha() for c in w.text) >= 3]
    if not long_words:
        return 0.0
    good = sum(w.conf >= 0.6 and is_known_word(w.text.strip(".,:;()[]\"'„”").lower()) for w in long_words)
    return good / len(long_words)


def on_end_share(words) -> float:
    """The share of words of three characters or more whose box is taller than wide."""
    long_words = [w for w in words if len(w.text) >= 3]
    if not long_words:
        return 0.0
    return sum((w.y1 - w.y0) > 1.2 * (w.x1 - w.x0) for w in long_words) / len(long_words)


def needs_orientation_check(words) -> bool:
    """True when the first read of a page suggests it is not upright (see ``ON_END_SHARE``)."""
    if len(words) < MIN_WORDS:
        return len(words) > 0 and on_end_share(words) >= ON_END_SHARE
    return on_end_share(words) >= ON_END_SHARE or readable_share(words) < MIN_READABLE_SHARE


def read_quality(words) -> float:
    """How well a page read: confident known words, upright (used to keep the better of two reads)."""
    if not words:
        return 0.0
    return readable_share(words) * (1 - on_end_share(words)) * min(1.0, len(words) / 50) \
        + 0.001 * statistics.fmean(w.conf for w in words)


def upright(image, degrees: int):
    """The page turned ``degrees`` counter-clockwise (lossless for right angles)."""
    from PIL import Image

    turns = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
    return image.transpose(turns[degrees]) if degrees in turns else image
