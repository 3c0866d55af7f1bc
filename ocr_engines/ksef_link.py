"""The KSeF reference printed on a visualisation: the verification link and the KSeF number.

An invoice issued in KSeF and printed (the official visualiser, most invoicing software) carries
a verification QR code ("KOD I") whose link has the form

    https://qr.ksef.mf.gov.pl/invoice/{seller NIP}/{DD-MM-YYYY issue date}/{hash}

and, printed as text beside it or in the header, the KSeF number ``NIP-YYYYMMDD-XXXXXXXXXXXX-XX``
(the seller's NIP, the day KSeF accepted the invoice, twelve and two hexadecimal digits). The
link is read from the QR code (zxing-cpp) or from a text layer that prints it; the number from
the page text, tolerant of the OCR's usual misreads (O for 0, l for 1, spaces around dashes).

A link is valid when it has that form (the hash a SHA-256 in Base64URL: 43 characters), its NIP
passes the checksum and its date is a real date.
Its values are then exact, and win over what OCR read: :func:`cross_check` puts them into the
fields and says so in a warning (and the engine's document confidence counts every field the
link had to correct as an OCR miss).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rapidfuzz.distance import Hamming

from .validation import is_valid_nip

LINK_CONFIDENCE = 0.99  # a field taken from a valid link: exact, as a checksum-valid read is
HASH_LENGTH = 43  # the link's last part: the invoice's SHA-256, Base64URL without padding
QR_RENDER_DPI = 200  # a text-layer page rendered to find its code: modules of 3+ pixels
_HOST = r"https?://qr(?:-test|-demo)?\.ksef\.mf\.gov\.pl/"  # production, test and demo environments
_LINK = re.compile(_HOST + r"invoice/(?P<nip>\d{10})/(?P<day>\d{2})-(?P<month>\d{2})-(?P<year>\d{4})/"
                   r"(?P<hash>[A-Za-z0-9_-]+)")
_LINK_TAIL = re.compile(_HOST + r"\S*$")  # a line ending in a link that may go on on the next line
# The number as OCR may print it: digits with their look-alikes, any dash, optional spaces.
_D = r"[0-9OoIlSBZ]"
_H = r"[0-9A-Fa-fOoIl]"
_DASH = r"\s?[-‐‑–—]\s?"


def _group(chars: str, n: int) -> str:
    """n characters of a class, a single space allowed between two (OCR splits '1' from its
    neighbours: '2026081 1')."""
    return rf"((?:{chars} ?){{{n - 1}}}{chars})"


_NUMBER = re.compile(rf"(?<![0-9A-Za-z]){_group(_D, 10)}{_DASH}{_group(_D, 8)}{_DASH}{_group(_H, 12)}{_DASH}"
                     rf"{_group(_H, 2)}(?![0-9A-Za-z])")
_AS_DIGIT = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "S": "5", "B": "8", "Z": "2"})
_AS_HEX = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1"})
# A line break inside the printed link: pdfium marks a soft hyphen as U+FFFE or U+00AD.
_SOFT_HYPHENS = str.maketrans({"\ufffe": "-", "\u00ad": "-", "\u2010": "-", "\u2011": "-"})


@dataclass(frozen=True)
class VerificationLink:
    url: str
    seller_nip: str
    issue_date: date


@dataclass
class KsefReference:
    """What the result's ``ksef`` block says: the number and the link, each when found."""

    number: str | None = None
    verification_url: str | None = None
    source: str = ""  # where the link came from: "qr" or "text"

    def to_dict(self) -> dict:
        out = {"number": self.number, "verification_url": self.verification_url}
        if self.source:
            out["link_source"] = self.source
        return out


def parse_link(text: str) -> VerificationLink | None:
    """The first valid verification link in ``text`` (lines of page text: a link wrapped onto
    the next line is joined), or None."""
    for m in _LINK.finditer(_unwrapped(text.translate(_SOFT_HYPHENS))):
        try:
            issued = date(int(m["year"]), int(m["month"]), int(m["day"]))
        except ValueError:
            continue
        if is_valid_nip(m["nip"]) and len(m["hash"]) == HASH_LENGTH:
            return VerificationLink(m.group(0), m["nip"], issued)
    return None


_MENTION = re.compile(r"(?i)k\s?s\s?e\s?f|qr\.")


def mentions_ksef(text: str) -> bool:
    """Whether page text speaks of KSeF (its name, the QR link's host, a KSeF number): where a
    verification code is worth looking for on an image that costs a decode of its own."""
    return bool(_MENTION.search(text)) or find_number(text) is not None


def _unwrapped(text: str) -> str:
    """Lines with a wrapped link joined: a line that ends in an unfinished link (its hash missing
    or shorter than a SHA-256 in Base64URL, 43 characters) goes on with the next line's first word."""
    out: list[str] = []
    for line in text.split("\n"):
        if out and (tail := _LINK_TAIL.search(out[-1].rstrip())):
            full = _LINK.fullmatch(tail.group(0))
            if full is None or len(full["hash"]) < HASH_LENGTH:
                head, _, rest = line.strip().partition(" ")
                out[-1] = out[-1].rstrip() + head
                line = rest
                if not line:
                    continue
        out.append(line)
    return "\n".join(out)


def find_number(text: str, seller_nip: str | None = None) -> str | None:
    """The KSeF number printed in ``text``, normalised, or None.

    The NIP part must pass its checksum, or equal the link's seller NIP after look-alike
    correction (then the link's digits are used); the date part must be a real date.
    """
    for m in _NUMBER.finditer(text):
        nip, day, hex12, hex2 = (part.replace(" ", "") for part in m.groups())
        nip, day = nip.translate(_AS_DIGIT), day.translate(_AS_DIGIT)
        hex12, hex2 = hex12.translate(_AS_HEX).upper(), hex2.translate(_AS_HEX).upper()
        if not (nip.isdigit() and day.isdigit()):
            continue
        if seller_nip and nip != seller_nip:
            if Hamming.distance(nip, seller_nip) != 1:
                continue
            nip = seller_nip  # one digit misread: the link's seller NIP
        if not is_valid_nip(nip):
            continue
        try:
            date(int(day[:4]), int(day[4:6]), int(day[6:]))
        except ValueError:
            continue
        return f"{nip}-{day}-{hex12}-{hex2}"
    return None


def decode_qr(image) -> list[str]:
    """The text of every QR code on one page image (PIL, any mode)."""
    import zxingcpp

    # Upright codes only, dark on light: a page is upright once Tesseract could read it, and
    # these two searches would multiply the time by six (145 ms a page instead of 18 at 200 DPI).
    found = zxingcpp.read_barcodes(image if image.mode == "L" else image.convert("L"),
                                   formats=zxingcpp.BarcodeFormat.QRCode, try_rotate=False, try_invert=False)
    return [code.text for code in found if code.valid]


def decode_qr_file(image_path: Path, frame: int = 0) -> list[str]:
    """``decode_qr`` of one frame of an image file."""
    from PIL import Image

    with Image.open(image_path) as img:
        if frame:
            img.seek(frame)
        return decode_qr(img)


def reference(text: str, qr_texts: list[str], exact_text: str = "") -> tuple[KsefReference | None, VerificationLink | None]:
    """The KSeF reference from the page text, the QR codes decoded on the pages, and the text of
    pages read from a text layer (``exact_text``: a link printed there is taken as it stands; an
    OCR'd link is not, since one misread character of its hash would make it another link)."""
    link, source = None, ""
    for qr in qr_texts:
        if link := parse_link(qr):
            source = "qr"
            break
    if link is None and (link := parse_link(exact_text)):
        source = "text"
    number = find_number(text, link.seller_nip if link else None)
    if link is None and number is None:
        return None, None
    return KsefReference(number, link.url if link else None, source), link


def cross_check(fields: dict, link: VerificationLink, warnings: list[str], make_field) -> list[str]:
    """Put the link's seller NIP and issue date into ``fields`` where OCR read them otherwise
    or not at all; returns the names corrected (a warning for each says what OCR had read)."""
    corrected = []
    for name, value in (("supplier_tax_id", link.seller_nip), ("invoice_date", link.issue_date.isoformat())):
        found = fields.get(name)
        if found is not None and found.value == value:
            continue
        read = f"OCR read {found.value}" if found is not None else "OCR did not find it"
        warnings.append(f"{name}: {value} from the KSeF verification link ({read})")
        fields[name] = make_field(value)
        corrected.append(name)
    return corrected
