"""TrueType font families with Polish glyphs, registered with reportlab on first use.

reportlab's built-in Type 1 fonts cannot draw ą, ę, ł, ż..., so every invoice is typeset with
TTF fonts shipped by Debian packages. A missing file is a setup problem, so the error names the
package to install rather than failing deep inside reportlab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_ROOT = Path("/usr/share/fonts/truetype")


class FontMissingError(RuntimeError):
    """A font file the corpus needs is not installed."""


@dataclass(frozen=True)
class FontFamily:
    """A regular and a bold face of one typeface, and the Debian package that ships them."""

    name: str
    regular_file: str
    bold_file: str
    package: str

    @property
    def regular(self) -> str:
        """reportlab font name of the regular face; registers the family on first access."""
        register(self)
        return self.name

    @property
    def bold(self) -> str:
        """reportlab font name of the bold face; registers the family on first access."""
        register(self)
        return f"{self.name}-Bold"


DEJAVU_SANS = FontFamily("DejaVuSans", "dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf",
                         "fonts-dejavu-core")
DEJAVU_SERIF = FontFamily("DejaVuSerif", "dejavu/DejaVuSerif.ttf", "dejavu/DejaVuSerif-Bold.ttf",
                          "fonts-dejavu-core")
LIBERATION_SANS = FontFamily("LiberationSans", "liberation/LiberationSans-Regular.ttf",
                             "liberation/LiberationSans-Bold.ttf", "fonts-liberation")
LIBERATION_SERIF = FontFamily("LiberationSerif", "liberation/LiberationSerif-Regular.ttf",
                              "liberation/LiberationSerif-Bold.ttf", "fonts-liberation")
LIBERATION_MONO = FontFamily("LiberationMono", "liberation/LiberationMono-Regular.ttf",
                             "liberation/LiberationMono-Bold.ttf", "fonts-liberation")
FREE_SANS = FontFamily("FreeSans", "freefont/FreeSans.ttf", "freefont/FreeSansBold.ttf",
                       "fonts-freefont-ttf")
FREE_SERIF = FontFamily("FreeSerif", "freefont/FreeSerif.ttf", "freefont/FreeSerifBold.ttf",
                        "fonts-freefont-ttf")


def register(family: FontFamily) -> None:
    """Register both faces of `family` with reportlab (idempotent, per process)."""
    registered = set(pdfmetrics.getRegisteredFontNames())
    for font_name, relative in ((family.name, family.regular_file),
                                (f"{family.name}-Bold", family.bold_file)):
        if font_name in registered:
            continue
        path = FONT_ROOT / relative
        if not path.is_file():
            raise FontMissingError(
                f"font file {path} is missing: install the Debian package {family.package} "
                f"(apt-get install {family.package})")
        pdfmetrics.registerFont(TTFont(font_name, str(path)))


def text_width(text: str, font: str, size: float) -> float:
    """Width of `text` in points when set in `font` at `size`."""
    return pdfmetrics.stringWidth(text, font, size)
