"""Capture normalisation (ocr_engines/capture.py) through the real engine and real Tesseract: pages
turned on their side or upside down, a phone photo, a rubber stamp over the seller, an image with
no page outline, a blank page. The fixtures are made here from a committed clean scan, by other
means than the corpus generator's capture conditions (so the tests do not share its artefacts)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr_engines import capture as cap
from ocr_engines.tesseract import TesseractEngine

SCAN = "inv-0001-scan300.png"
HEADER = ("invoice_id", "invoice_date", "supplier_name", "supplier_tax_id", "receiver_name", "receiver_tax_id",
          "total_amount", "supplier_iban")
STAMP_COMPANY = "Hurtownia Kwiatowa Sp. z o.o."
STAMP_NIP = "5260250274"  # a valid NIP, neither party's


@pytest.fixture(scope="module")
def engine():
    return TesseractEngine()


@pytest.fixture(scope="module")
def page(golden_dir) -> Image.Image:
    with Image.open(golden_dir / SCAN) as im:
        return im.convert("L")


@pytest.fixture(scope="module")
def upright(engine, golden_dir):
    result = engine.extract(golden_dir / SCAN)
    assert result.capture["kind"] == "scan" and result.capture["pages"][0]["rotated"] == 0
    assert all(result.value(name) for name in HEADER)
    return result


def _save(image: Image.Image, path, dpi: int = 300):
    image.save(path, dpi=(dpi, dpi))
    return path


@pytest.mark.parametrize("turn", [Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_90])
def test_a_page_turned_upside_down_or_on_its_side_reads_like_the_upright_page(engine, page, upright, tmp_path, turn):
    result = engine.extract(_save(page.transpose(turn), tmp_path / "turned.png"))
    assert {n: result.value(n) for n in HEADER} == {n: upright.value(n) for n in HEADER}
    assert result.line_items == upright.line_items
    turned = result.capture["pages"][0]["rotated"]
    assert (turn, turned) in ((Image.Transpose.ROTATE_180, 180), (Image.Transpose.ROTATE_90, 270))
    assert any(f"turned {turned}°" in w for w in result.warnings)


def test_without_normalisation_the_turned_page_reads_badly(page, upright, tmp_path):
    """The check above could fail: the same page read with capture off loses the fields."""
    result = TesseractEngine(capture=False).extract(_save(page.transpose(Image.Transpose.ROTATE_180),
                                                          tmp_path / "turned.png"))
    assert sum(result.value(n) == upright.value(n) for n in HEADER) <= len(HEADER) // 2
    assert result.capture is None


def _photo(page: Image.Image, tilt: float = 0.06) -> tuple[Image.Image, np.ndarray]:
    """The page on a dark, textured desk, seen at an angle, with a lighting gradient (a JPEG)."""
    import cv2

    rng = np.random.default_rng(7)
    src = np.asarray(page.convert("RGB"))
    h, w = src.shape[:2]
    frame_w, frame_h = int(w * 1.35), int(h * 1.3)
    desk = (rng.normal(0, 12, (frame_h // 8, frame_w // 8, 3)) + (95, 75, 60)).clip(0, 255).astype(np.uint8)
    desk = cv2.resize(desk, (frame_w, frame_h), interpolation=cv2.INTER_CUBIC)
    x0, y0 = (frame_w - w) / 2, (frame_h - h) / 2
    corners = np.float32([[x0 + tilt * w, y0], [x0 + w - tilt * w * 0.5, y0 + tilt * h * 0.3],
                          [x0 + w, y0 + h], [x0 - tilt * w * 0.3, y0 + h - tilt * h * 0.2]])
    matrix = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), corners)
    warped = cv2.warpPerspective(src, matrix, (frame_w, frame_h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, (frame_w, frame_h)) > 127
    photo = desk.copy()
    photo[mask] = warped[mask]
    light = np.linspace(1.0, 0.72, frame_w, dtype=np.float32)[None, :, None]
    photo = (photo.astype(np.float32) * light).clip(0, 255).astype(np.uint8)
    return Image.fromarray(photo), corners


def test_a_photo_is_flattened_and_read(engine, page, upright, tmp_path):
    photo, corners = _photo(page)
    path = tmp_path / "photo.jpg"
    photo.save(path, quality=85)  # no DPI tag: a phone's JPEG
    outline = cap.find_page(np.asarray(photo.convert("L")))
    assert outline is not None and np.abs(outline.corners - corners).max() < 0.02 * photo.width
    result = engine.extract(path)
    assert result.capture["kind"] == "photo" and result.capture["pages"][0]["perspective"]
    assert sum(result.value(n) == upright.value(n) for n in HEADER) >= len(HEADER) - 1


def _stamped(page: Image.Image) -> Image.Image:
    """A red company stamp over the seller's block and a blue signature across the payment lines."""
    rgb = page.convert("RGB")
    ink = Image.new("RGB", rgb.size, (255, 255, 255))
    draw = ImageDraw.Draw(ink)
    font = ImageFont.truetype("DejaVuSans-Bold.ttf", 46)
    small = ImageFont.truetype("DejaVuSans.ttf", 34)
    box = (150, 470, 1050, 800)
    draw.rounded_rectangle(box, radius=30, outline=(200, 30, 40), width=7)
    draw.text((190, 495), "ZAPŁACONO", font=font, fill=(205, 35, 45))
    draw.text((190, 575), STAMP_COMPANY, font=small, fill=(205, 35, 45))
    draw.text((190, 630), "ul. Polna 12, 00-950 Warszawa", font=small, fill=(205, 35, 45))
    draw.text((190, 685), f"NIP {STAMP_NIP}", font=small, fill=(205, 35, 45))
    xs = np.linspace(1500, 2300, 60)
    ys = 1170 + 40 * np.sin(xs / 45)
    draw.line(list(zip(xs.tolist(), ys.tolist())), fill=(25, 45, 160), width=5)
    ink = ink.rotate(4, fillcolor=(255, 255, 255))
    return Image.fromarray((np.asarray(rgb, np.float32) * np.asarray(ink, np.float32) / 255).astype(np.uint8))


def test_a_stamp_over_the_supplier_block_does_not_become_the_supplier(engine, page, upright, tmp_path):
    result = engine.extract(_save(_stamped(page), tmp_path / "stamped.png"))
    assert result.capture["pages"][0].get("ink_suppressed", 0) > 0
    for name in ("supplier_name", "supplier_tax_id", "receiver_name", "receiver_tax_id"):
        assert result.value(name) == upright.value(name), name
    assert STAMP_NIP not in result.text and "Kwiatowa" not in result.text


def test_an_image_with_no_page_outline_is_read_as_it_is(engine, page, upright, tmp_path):
    path = _save(page, tmp_path / "plain.png")
    image, dpi, report = cap.normalise(page, 300)
    assert image is page and dpi == 300 and not report.perspective and report.kind == "scan"
    result = engine.extract(path)
    assert {n: result.value(n) for n in HEADER} == {n: upright.value(n) for n in HEADER}
    assert not any(w.startswith("page 1: ") for w in result.warnings)


def test_a_blank_page_does_not_crash_orientation_detection(engine, tmp_path):
    blank = Image.new("L", (2480, 3508), 245)
    result = engine.extract(_save(blank, tmp_path / "blank.png"))
    assert result.fields == {} and result.capture["pages"][0]["rotated"] == 0
    specks = np.asarray(blank).copy()
    specks[np.random.default_rng(1).random(specks.shape) < 0.001] = 0  # a few specks: a check may run
    assert TesseractEngine().extract(_save(Image.fromarray(specks), tmp_path / "specks.png")).pages == 1


def test_a_fax_page_is_stretched_resampled_and_read_with_a_fax_s_confidence(engine, page, upright, tmp_path):
    # 200 x 100 dpi, bilevel, no DPI tag: the squash is measured from the letters
    fax = page.resize((page.width * 2 // 3, page.height // 3)).point(lambda v: 0 if v < 150 else 255).convert("1")
    image, dpi, report = cap.normalise(fax, 200)
    assert report.kind == "fax" and report.stretched >= 1.5 and report.despeckled
    assert image.height > fax.height * 1.4
    fax.save(tmp_path / "fax.tif", compression="group4")
    result = engine.extract(tmp_path / "fax.tif")
    assert result.capture["kind"] == "fax"
    assert sum(result.value(n) == upright.value(n) for n in HEADER) >= len(HEADER) - 2
    assert result.confidence <= cap.CONFIDENCE_FACTOR["fax"] + 1e-9


def test_orientation_checks_only_pages_that_need_one():
    from ocr_engines.layout import Word

    upright_words = [Word("Faktura", 10 + 90 * i, 10, 80 + 90 * i, 30, 0.95) for i in range(20)]
    assert not cap.needs_orientation_check(upright_words)
    on_end = [Word("Faktura", 10, 10 + 90 * i, 30, 80 + 90 * i, 0.95) for i in range(20)]
    assert cap.needs_orientation_check(on_end)
    nonsense = [Word("ɐɹnʇʞɐℲ", 10 + 90 * i, 10, 80 + 90 * i, 30, 0.3) for i in range(20)]
    assert cap.needs_orientation_check(nonsense)


def test_an_invoice_manifest_reports_rotated_scans_as_their_own_group(golden_dir, tmp_path):
    import json
    import shutil

    from ocr_engines.evaluation import golden_documents

    for sub in ("pdf", "scans", "truth"):
        (tmp_path / sub).mkdir()
    entries = []
    for i, variant in enumerate(("clean", "rotated", "degraded"), 1):
        shutil.copy(golden_dir / "inv-0001.pdf", tmp_path / "pdf" / f"00{i}.pdf")
        shutil.copy(golden_dir / "inv-0001.pdf", tmp_path / "scans" / f"00{i}.pdf")
        (tmp_path / "truth" / f"00{i}.json").write_text(json.dumps({"invoice_id": "X"}))
        entries.append({"id": f"00{i}", "pdf": f"pdf/00{i}.pdf", "scan": f"scans/00{i}.pdf",
                        "truth": f"truth/00{i}.json", "variant": variant, "degraded": variant == "degraded",
                        "rotation": 90 if variant == "rotated" else 0})
    (tmp_path / "manifest.json").write_text(json.dumps(entries))
    groups = sorted(d.group for d in golden_documents(tmp_path) if d.group != "digital")
    assert groups == ["scan_clean", "scan_degraded", "scan_rotated"]


def test_enlarging_small_print_never_passes_the_pixel_limit(page):
    """A large page of tiny print (a fax, bilevel) would be enlarged several times over: capped at
    the upload's pixel limit."""
    fax = page.resize((page.width // 3, page.height // 3)).point(lambda v: 0 if v < 150 else 255).convert("1")
    limit = fax.width * fax.height * 2
    image, dpi, report = cap.normalise(fax, 100, max_pixels=limit)
    assert report.resampled_from_dpi and image.width * image.height <= limit * 1.01
    unbounded, _, _ = cap.normalise(fax, 100)
    assert unbounded.width * unbounded.height > limit
