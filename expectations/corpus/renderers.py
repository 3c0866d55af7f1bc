"""The wording each third-party KSeF renderer of ``shared/corpora/ksef-thirdparty`` prints, for
leave-one-renderer-out evaluation (issue 28): while a renderer's invoices are read, the wording
only it prints is taken out of the extractor's lexicon (``labels.withhold``), as
``families.leave_out_plan`` does for the generator's families.

Written down from each renderer's output (the corpus README describes the same layouts): the
labels, headings and column titles as printed, one text per label, a label that wraps joined.
"""

from __future__ import annotations

from .families import generator_labels

RENDERER_WORDING: dict[str, tuple[str, ...]] = {
    # KSeF XML Download (reportlab): plain business-document look
    "ksef-xml-download": (
        "Faktura podstawowa", "Nr", "Numer KSeF", "Schemat", "SPRZEDAWCA", "NABYWCA", "NIP", "Email", "Tel",
        "Szczegóły", "Data wystawienia", "Miejsce wystawienia", "Data dostawy/wykonania", "Waluta",
        "Pozycje faktury", "Lp", "Nazwa towaru lub usługi", "Jedn.", "Ilość", "Cena netto", "Stawka VAT",
        "Wartość netto", "Podsumowanie VAT", "Netto", "VAT", "Brutto", "RAZEM", "Kwota należności ogółem",
        "Płatność", "Forma", "Nr rachunku", "Bank", "Zamowienia",
    ),
    # KSeF Monitor (Jinja2 + xhtml2pdf): boxed, compact
    "ksef-monitor": (
        "Krajowy System e-Faktur (KSeF)", "Faktura VAT", "Kod waluty", "Numer faktury", "Data wystawienia",
        "Miejsce wystawienia", "Data dokonania dostawy / wykonania usługi", "SPRZEDAWCA", "NABYWCA", "NIP",
        "Kod kraju", "Email", "Tel", "Lp.", "Nazwa (rodzaj) towaru lub usługi", "J.m.", "Ilość",
        "Cena jedn. netto", "Wart. netto", "Stawka VAT", "Podliczenie VAT", "Wartość netto", "Kwota VAT",
        "Kwota należności ogółem", "Płatność", "Forma płatności", "Termin płatności", "Rachunek bankowy",
        "Bank", "Adnotacje",
    ),
    # ksef2's InvoicePDFExporter: the FA(3) schema's own stylesheet, whose labels are the
    # schema's statutory descriptions
    "ksef2-xsl": (
        "Kod waluty (ISO 4217)",
        "Kolejny numer faktury, nadany w ramach jednej lub więcej serii, który w sposób jednoznaczny "
        "identyfikuje fakturę",
        "Data wystawienia, z zastrzeżeniem art. 106na ust. 1 ustawy", "Miejsce wystawienia faktury",
        "Data dokonania lub zakończenia dostawy towarów lub wykonania usługi lub data otrzymania zapłaty, "
        "o której mowa w art. 106b ust. 1 pkt 4 ustawy, o ile taka data jest określona i różni się od daty "
        "wystawienia faktury. Pole wypełnia się w przypadku, gdy dla wszystkich pozycji faktury data jest wspólna",
        "SPRZEDAWCA", "NABYWCA", "NIP", "Imię i nazwisko lub nazwa", "Adres podatnika", "Adres nabywcy",
        "Kod kraju", "Adres", "Dane kontaktowe podatnika", "Adres e-mail", "Numer telefonu",
        "Numer wiersza faktury", "Nazwa (rodzaj) towaru lub usługi", "Jednostka miary", "Ilość",
        "Cena jednostkowa", "Wartość sprzedaży", "Stawka podatku", "Podsumowanie wg stawek", "Stawka VAT",
        "Suma wartości sprzedaży netto", "Kwota podatku od sumy wartości sprzedaży netto",
        "Kwota należności ogółem", "Warunki płatności", "Termin płatności", "Forma płatności",
        "Rachunek bankowy", "Pełny numer rachunku", "Kod SWIFT", "Nazwa",
    ),
}


def leave_out_plan() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """For each renderer: (the wording to withhold while reading it: what neither other renderer
    nor this repository's generator prints; the wording the extractor may keep: the others'), as
    ``evaluation.run_documents(withheld=, known=)`` takes them."""
    generator = generator_labels()
    plan = {}
    for name, own in RENDERER_WORDING.items():
        others = set().union(*(set(w) for other, w in RENDERER_WORDING.items() if other != name))
        withheld = set(own) - others - generator
        plan[name] = (tuple(sorted(withheld)), tuple(sorted(others | generator)))
    return plan
