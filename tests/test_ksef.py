"""The KSeF structured path: FA(3) e-invoices read exactly, without OCR, and hostile XML refused
with typed errors in bounded time."""

import json
import subprocess
import time
from pathlib import Path

import pytest

from ocr_engines import get_engine
from ocr_engines.errors import OcrError
from ocr_engines.evaluation import golden_documents, run_documents, summarise
from ocr_engines.ksef import FA1, FA2, FA3

XML_DIR = Path(__file__).resolve().parent.parent / "expectations" / "ksef-official" / "xml"


def test_every_ksef_official_e_invoice_matches_its_truth_exactly():
    """All 60 FA(3) files of shared/corpora/ksef-official, truth beside them in the contract's names."""
    docs = golden_documents(XML_DIR)
    assert len(docs) == 60
    scores = list(run_documents(docs, "ksef", 1))
    summary = summarise(scores, 1.0)["groups"]["all"]
    assert summary["field_exact_match"] == 1.0 and summary["line_item_f1"] == 1.0, [
        (s.path, s.mismatches) for s in scores if s.mismatches]
    assert all(s.confidence == 1.0 for s in scores)


def _fa3(body: str, ns: str = FA3) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><Faktura xmlns="{ns}">'
            "<Podmiot1><DaneIdentyfikacyjne><NIP>5260001246</NIP><Nazwa>A Sp. z o.o.</Nazwa></DaneIdentyfikacyjne>"
            f"</Podmiot1><Fa>{body}</Fa></Faktura>").encode()


GOOD = ("<KodWaluty>EUR</KodWaluty><P_1>2026-03-01</P_1><P_2>FV/1</P_2><OkresFa><P_6_Od>2026-02-01</P_6_Od>"
        "<P_6_Do>2026-02-28</P_6_Do></OkresFa><P_13_1>100.00</P_13_1><P_14_1>23.00</P_14_1><P_14_1W>98.21</P_14_1W>"
        "<P_13_6_1>50.00</P_13_6_1><P_15>173.00</P_15>"
        "<FaWiersz><P_7>Usługa</P_7><P_8B>2</P_8B><P_9A>50.00</P_9A><P_11>100.00</P_11><P_12>23</P_12></FaWiersz>"
        "<FaWiersz><P_7>Eksport</P_7><P_8B>1.500</P_8B><P_9A>33.33</P_9A><P_11>50.00</P_11><P_12>0 WDT</P_12></FaWiersz>"
        "<FaWiersz><P_7>Zwolnione</P_7><P_8B>1</P_8B><P_9A>0.00</P_9A><P_11>0.00</P_11><P_12>zw</P_12></FaWiersz>")


def test_totals_periods_foreign_vat_and_rates(tmp_path):
    """The net sums every P_13_* (0 % included), the VAT P_14_1..5 and not the PLN copies (P_14_*W);
    a period's end is the sale date; '0 WDT' is 0 and 'zw' stays."""
    path = tmp_path / "fa3.xml"
    path.write_bytes(_fa3(GOOD))
    result = get_engine("ksef").extract(path)
    values = {k: v.value for k, v in result.fields.items()}
    assert (values["net_amount"], values["total_tax_amount"], values["total_amount"]) == ("150.00", "23.00", "173.00")
    assert values["delivery_date"] == "2026-02-28" and values["currency"] == "EUR"
    assert [i["vat_rate"] for i in result.line_items] == ["23", "0", "zw"] and result.line_items[1]["quantity"] == "1.5"
    fa2 = tmp_path / "fa2.xml"
    fa2.write_bytes(_fa3(GOOD, FA2))
    assert get_engine("ksef").extract(fa2).fields["invoice_id"].value == "FV/1"  # FA(2), where it matches


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                             for i in range(1, 10))
                  + b']><Faktura xmlns="' + FA3.encode() + b'"><Fa><P_2>&lol9;</P_2></Fa></Faktura>')
EXTERNAL = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<Faktura xmlns="' + FA3.encode() + b'"><Fa><P_2>&e;</P_2></Fa></Faktura>')


@pytest.mark.parametrize("name,content,code", [
    ("billion-laughs", BILLION_LAUGHS, "corrupt_document"),
    ("external-entity", EXTERNAL, "corrupt_document"),
    ("not-well-formed", _fa3(GOOD)[:-30], "corrupt_document"),
    ("empty", b"   ", "empty_document"),
    ("fa1", _fa3(GOOD, FA1), "unsupported_schema"),
    ("other-namespace", _fa3(GOOD, "urn:example:invoice"), "unsupported_schema"),
    ("no-namespace", b"<Faktura><Fa/></Faktura>", "unsupported_schema"),
    ("no-number", _fa3(GOOD.replace("<P_2>FV/1</P_2>", "")), "invalid_e_invoice"),
    ("bad-date", _fa3(GOOD.replace("2026-03-01", "2026-02-30")), "invalid_e_invoice"),
    ("bad-amount", _fa3(GOOD.replace("<P_15>173.00", "<P_15>1e9")), "invalid_e_invoice"),
    ("bad-rate", _fa3(GOOD.replace("<P_12>23</P_12>", "<P_12>DROP TABLE</P_12>")), "invalid_e_invoice"),
    ("deep", _fa3("<a>" * 5000 + "</a>" * 5000), "corrupt_document"),
])
def test_hostile_xml_gets_a_typed_error_in_bounded_time(tmp_path, name, content, code):
    """Bounded against anchors of this run (no absolute times): memory, by what the parse
    allocates (an expanded billion laughs would take gigabytes), and time, against reading a
    genuine e-invoice of the ksef-official set."""
    import tracemalloc

    engine = get_engine("ksef")
    genuine = []
    for _ in range(5):
        start = time.perf_counter()
        engine.extract(XML_DIR / "001.xml")
        genuine.append(time.perf_counter() - start)
    path = tmp_path / f"{name}.xml"
    path.write_bytes(content)
    start = time.perf_counter()  # timed as the anchor was, without tracemalloc's own cost
    with pytest.raises(OcrError) as info:
        engine.extract(path)
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    try:
        with pytest.raises(OcrError):
            engine.extract(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == code, info.value.message
    assert peak < 50 * len(content) + 2**20, peak
    assert elapsed < 200 * sorted(genuine)[2], (elapsed, genuine)


def test_the_cli_reads_an_e_invoice_without_ocr(cli, tmp_path):
    proc = subprocess.run([*cli, "extract", str(XML_DIR / "001.xml"), "-o", "json"], capture_output=True, text=True,
                          timeout=120, env={"OCR_MIGRATE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["engine"] == "ksef" and data["fields"]["total_amount"]["value"] == "9650.16"
