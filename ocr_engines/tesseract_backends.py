"""How Tesseract is run: in this process through tesserocr, or as the `tesseract` program.

``tesserocr`` (the in-process backend) keeps one Tesseract API per thread: the pol+eng models are
loaded once per worker process, not once per page, and a rendered page goes into Tesseract's
image buffer as raw pixels (no PNG written and read back). Its wheel bundles its own Tesseract
(5.5.x) and reads the system's traineddata. ``cli`` (pytesseract) starts Debian's `tesseract`
(5.3.0) for every image and reads files: it is the fallback when the binding cannot load.

Both give Tesseract's TSV (one row per page, block, paragraph, line and word), parsed by the same
function into ``layout.Word`` boxes with confidences and (block, paragraph, line) keys: the layout
and extraction code cannot tell them apart. Which one runs is ``OCR_MIGRATE_TESSERACT_BACKEND``
(``auto``: tesserocr when it loads, else cli); the engine version names it: "5.5.4 (tesserocr)".
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from .errors import EngineError, EngineUnavailableError, OcrTimeoutError, UnreadableDocumentError
from .layout import Word

log = logging.getLogger(__name__)

BACKENDS = ("auto", "tesserocr", "cli")
# Where Debian (and most distributions) keep the traineddata; TESSDATA_PREFIX first when set.
TESSDATA_DIRS = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata",
                 "/usr/share/tessdata", "/usr/local/share/tessdata")
TSV_HEADER = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"


def words_from_data(data: dict) -> dict[int, list[Word]]:
    """Words per page index from Tesseract's TSV as pytesseract's ``Output.DICT`` holds it (word
    rows are level 5; numbers are ints, conf truncated as pytesseract does)."""
    pages: dict[int, list[Word]] = {}
    for i, text in enumerate(data["text"]):
        text = text.strip()
        if data["level"][i] != 5 or not text:
            continue
        left, top = data["left"][i], data["top"][i]
        word = Word(
            text, left, top, left + data["width"][i], top + data["height"][i],
            conf=max(float(data["conf"][i]), 0.0) / 100.0,
            line_key=(data["block_num"][i], data["par_num"][i], data["line_num"][i]),
        )
        pages.setdefault(data["page_num"][i] - 1, []).append(word)
    return pages


class CliBackend:
    """Debian's `tesseract` program through pytesseract: one process per image file."""

    name = "cli"
    in_memory = False  # it reads files: pages are rendered to PNG for it

    @functools.cached_property
    def tesseract_version(self) -> str:
        import pytesseract

        try:
            return str(pytesseract.get_tesseract_version()).split()[0]
        except pytesseract.TesseractNotFoundError:
            raise EngineUnavailableError(
                "the tesseract binary is not installed (apt-get install tesseract-ocr tesseract-ocr-pol)"
            ) from None

    def warm_up(self, languages: str, psm: int) -> None:
        """Fails with the typed error when the program is missing."""
        self.tesseract_version  # noqa: B018

    def read_file(self, path: Path, frames: int, dpi: int, languages: str, timeout_s: float,
                  psm: int) -> dict[int, list[Word]]:
        """All frames of an image file in one `tesseract` run (``timeout_s`` a frame)."""
        return self._run(str(path), path.name, dpi, languages, timeout_s * frames, psm)

    def read_image(self, image, dpi: int, languages: str, timeout_s: float, psm: int, name: str) -> list[Word]:
        """One page image (PIL), written to a temporary file for the program (``netpbm_file``)."""
        with netpbm_file(image) as file:
            return self._run(file, name, dpi, languages, timeout_s, psm).get(0, [])

    def detect_orientation(self, image, dpi: int, timeout_s: float, name: str) -> tuple[int, float]:
        """(degrees the page must turn counter-clockwise to stand upright, Tesseract's confidence),
        from its orientation and script detection (osd.traineddata, `--psm 0`)."""
        import pytesseract

        try:
            with netpbm_file(image) as file:
                osd = pytesseract.image_to_osd(file, config=f"--psm 0 --dpi {dpi}", timeout=timeout_s,
                                               output_type=pytesseract.Output.DICT)
        except (pytesseract.TesseractError, RuntimeError) as exc:  # too few characters, no osd data, timeout
            raise _osd_error(name, exc) from None
        return int(osd["orientation"]) % 360, float(osd["orientation_conf"])

    def _run(self, image, name: str, dpi: int, languages: str, timeout_s: float, psm: int) -> dict[int, list[Word]]:
        import pytesseract

        # One OpenMP thread per Tesseract process: ~8x faster on a 2-core box; parallelise by process.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        config = f"--oem 1 --psm {psm} --dpi {dpi}"
        try:
            data = pytesseract.image_to_data(image, lang=languages, config=config, timeout=timeout_s,
                                             output_type=pytesseract.Output.DICT)
        except pytesseract.TesseractError as exc:  # it ran, and could not read this image ('libpng error')
            raise UnreadableDocumentError(f"{name}: tesseract could not read it: "
                                          f"{str(exc.message).strip()[:300]}") from None
        except pytesseract.TesseractNotFoundError:
            self.tesseract_version  # noqa: B018 (raises the typed error with the install hint)
            raise
        except RuntimeError as exc:  # pytesseract signals its timeout this way (TesseractError is one too)
            if "timeout" in str(exc).lower():
                raise OcrTimeoutError(f"{name}: OCR took longer than {timeout_s:g} s") from None
            raise EngineError(f"{name}: tesseract failed ({exc})") from None
        if not data or "text" not in data:  # not even a page: the image data is damaged (a strip past the end)
            raise UnreadableDocumentError(f"{name}: tesseract read nothing from it (damaged image data?)")
        return words_from_data(data)


NETPBM_MODES = ("1", "L", "RGB")


@contextlib.contextmanager
def netpbm_file(image):
    """A PIL image as a file the `tesseract` program reads: uncompressed Netpbm (PBM, PGM or PPM)
    in a temporary directory, removed after. pytesseract would write a PNG, whose compression cost
    1.2 s of CPU for a 300-DPI A4 page on a slow day, most of a Tesseract pass (1.5 s); a PGM takes
    3 ms, and Tesseract reads the same pixels (the DPI is given as --dpi). Other modes (alpha,
    palette, 16-bit) go as pytesseract prepares them."""
    if image.mode not in NETPBM_MODES:
        yield image
        return
    with tempfile.TemporaryDirectory(prefix="ocr-cli-") as tmp:
        file = os.path.join(tmp, "page.pnm")
        image.save(file, format="PPM")
        yield file


def _osd_error(name: str, exc: Exception) -> EngineError:
    return EngineError(f"{name}: orientation detection failed ({type(exc).__name__}: {str(exc)[:200]})")


class TesserocrBackend:
    """Tesseract in this process (tesserocr): one API per thread, its models loaded once; images
    handed over as raw pixels. A hang or a crash in it is the worker's: the pool's deadline kills
    and replaces a worker that does not answer, and a dead worker fails only its document."""

    name = "tesserocr"
    in_memory = True

    def __init__(self):
        import tesserocr  # ImportError (no wheel for this platform, a broken install): the caller falls back

        self._tesserocr = tesserocr
        self.tessdata = tessdata_dir()
        self._local = threading.local()

    @property
    def tesseract_version(self) -> str:
        return self._tesserocr.PyTessBaseAPI.Version().split()[0]

    def api(self, languages: str, psm: int):
        """This thread's API for these languages and page segmentation mode (LSTM only, as the
        CLI's --oem 1), created on first use: loading pol+eng takes about 0.1 s, once."""
        apis = self._local.__dict__.setdefault("apis", {})
        key = (languages, psm)
        if key not in apis:
            from tesserocr import OEM, PyTessBaseAPI

            try:
                # osd.traineddata has no LSTM model: orientation detection runs on the legacy engine
                oem = OEM.TESSERACT_ONLY if languages == "osd" else OEM.LSTM_ONLY
                apis[key] = PyTessBaseAPI(path=self.tessdata + os.sep, lang=languages, oem=oem, psm=psm)
            except RuntimeError as exc:  # a language's traineddata missing
                raise EngineUnavailableError(f"tesserocr could not load {languages} from {self.tessdata}: {exc} "
                                             "(apt-get install tesseract-ocr-pol)") from None
        return apis[key]

    def warm_up(self, languages: str, psm: int) -> None:
        """Loads the models now (fails with the typed error when a language is missing)."""
        self.api(languages, psm)

    def read_file(self, path: Path, frames: int, dpi: int, languages: str, timeout_s: float,
                  psm: int) -> dict[int, list[Word]]:
        """Each frame of an image file, decoded by Pillow (as the en-dash and QR readers do)."""
        from PIL import Image

        pages: dict[int, list[Word]] = {}
        try:
            with Image.open(path) as im:
                for frame in range(frames):
                    im.seek(frame)
                    im.load()
                    pages[frame] = self.read_image(im, dpi, languages, timeout_s, psm, path.name)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated or damaged pixel data
            raise UnreadableDocumentError(f"{path.name}: the image data cannot be decoded ({exc})") from None
        return pages

    def detect_orientation(self, image, dpi: int, timeout_s: float, name: str) -> tuple[int, float]:
        """As ``CliBackend.detect_orientation``, with this thread's orientation-only API (osd
        loaded once)."""
        from tesserocr import PSM

        try:
            api = self.api("osd", PSM.OSD_ONLY)
            pixels, bytes_per_pixel = raw_pixels(image)
            api.SetImageBytes(pixels, image.size[0], image.size[1], bytes_per_pixel, image.size[0] * bytes_per_pixel)
            api.SetVariable("user_defined_dpi", str(dpi))
            found = api.DetectOrientationScript()
        except (RuntimeError, EngineUnavailableError) as exc:
            raise _osd_error(name, exc) from None
        if not found:
            raise EngineError(f"{name}: orientation detection found too little text")
        return int(found["orient_deg"]) % 360, float(found["orient_conf"])

    def read_image(self, image, dpi: int, languages: str, timeout_s: float, psm: int, name: str) -> list[Word]:
        """One page image (PIL), its pixels copied straight into Tesseract's image buffer."""
        from pytesseract.pytesseract import file_to_dict  # the CLI backend's TSV parser, for the same words

        api = self.api(languages, psm)
        pixels, bytes_per_pixel = raw_pixels(image)
        width, height = image.size
        api.SetImageBytes(pixels, width, height, bytes_per_pixel, width * bytes_per_pixel)
        api.SetVariable("user_defined_dpi", str(dpi))  # what the CLI's --dpi sets
        start = time.monotonic()
        # The deadline is checked while words are recognised (layout analysis before it is not
        # interruptible: the pool's deadline covers a hang there).
        if not api.Recognize(timeout=max(1, int(timeout_s * 1000))):
            api.Clear()
            if time.monotonic() - start >= timeout_s:
                raise OcrTimeoutError(f"{name}: OCR took longer than {timeout_s:g} s")
            raise EngineError(f"{name}: tesseract (in-process) could not recognise the page")
        tsv = api.GetTSVText(0)
        return words_from_data(file_to_dict(f"{TSV_HEADER}\n{tsv}", "\t", -1)).get(0, [])


def raw_pixels(image) -> tuple[bytes, int]:
    """A PIL image's pixels as Tesseract's SetImage takes them (8-bit grey or 24-bit colour, rows
    packed), with bytes per pixel. Transparency is laid on white, as pytesseract does."""
    from PIL import Image

    if "A" in image.getbands():
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, (255, 255, 255))
        image.paste(rgba, (0, 0), rgba.getchannel("A"))
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB" if image.mode in ("P", "CMYK", "YCbCr", "LAB", "HSV") else "L")
    return image.tobytes(), 1 if image.mode == "L" else 3


def tessdata_dir() -> str:
    """The traineddata directory the in-process backend loads: TESSDATA_PREFIX, else the system's."""
    for candidate in (os.environ.get("TESSDATA_PREFIX"), *TESSDATA_DIRS):
        if candidate and (Path(candidate) / "eng.traineddata").is_file():
            return str(Path(candidate))
    raise EngineUnavailableError("no tessdata directory with traineddata was found (apt-get install "
                                 "tesseract-ocr-pol tesseract-ocr-eng, or set TESSDATA_PREFIX)")


@functools.cache
def get_backend(choice: str = "auto") -> CliBackend | TesserocrBackend:
    """The backend named ``choice`` (one per process); ``auto``: tesserocr when it loads and finds
    the traineddata, else the CLI (logged). Naming ``tesserocr`` explicitly fails when it cannot load."""
    if choice not in BACKENDS:
        raise ValueError(f"unknown Tesseract backend {choice!r}; one of {', '.join(BACKENDS)}")
    if choice == "cli":
        return CliBackend()
    try:
        return TesserocrBackend()
    except (ImportError, OSError, EngineUnavailableError) as exc:
        if choice == "tesserocr":
            raise EngineUnavailableError(f"the tesserocr backend cannot load: {type(exc).__name__}: {exc}") from None
        log.warning("tesserocr cannot load (%s: %s): Tesseract runs as the CLI", type(exc).__name__, exc)
        return CliBackend()
