"""Printed labels of Polish and English invoices, folded (lower case, no diacritics).

Kept as data so that a new wording seen on real invoices is a one-line change. Order matters:
longer and more specific labels come first.
"""

# The FA(3) schema's own descriptions of the fields (the `xsd:documentation` of P_2, P_1, P_6,
# Nazwa, NIP, NrRB, P_13_x, P_14_x, P_15 in schemat.xsd, as the ksef2 1.1.0 wheel ships it):
# renderers that print the statutory wording as labels (the schema's own stylesheet) then read,
# whoever drew the page. A description's first clause is enough: a long one wraps, and what
# follows the clause is legal qualification, not the value.
FA3_INVOICE_ID = ("kolejny numer faktury, nadany w ramach jednej lub wiecej serii, ktory w sposob "
                  "jednoznaczny identyfikuje fakture", "kolejny numer faktury")
FA3_INVOICE_DATE = ("data wystawienia, z zastrzezeniem art. 106na ust. 1 ustawy",)
FA3_DELIVERY_DATE = ("data dokonania lub zakonczenia dostawy towarow lub wykonania uslugi",)
FA3_NAME = ("imie i nazwisko lub nazwa",)
FA3_TAX_ID = ("identyfikator podatkowy nip",)
FA3_IBAN = ("pelny numer rachunku",)
FA3_TOTAL = ("kwota naleznosci ogolem",)
# Per-rate rows of the VAT summary (P_13_x net, P_14_x VAT): the stylesheet's column titles.
FA3_RATE_NET = ("suma wartosci sprzedazy netto",)
FA3_RATE_TAX = ("kwota podatku od sumy wartosci sprzedazy netto",)

INVOICE_ID = FA3_INVOICE_ID + (
    "faktura vat nr", "faktura vat numer", "faktura nr", "numer faktury", "nr faktury",
    "faktura korygujaca nr", "faktura proforma nr", "rachunek nr", "invoice no", "invoice number",
    "invoice nr", "invoice #", "invoice id", "faktura vat", "faktura", "invoice", "numer", "nr",
    "number", "no",
)
INVOICE_DATE = FA3_INVOICE_DATE + (
    "data wystawienia", "data faktury", "data wystawienia faktury", "wystawiona dnia",
    "wystawiono dnia", "issue date", "date of issue", "invoice date", "date issued", "issued on",
    "date", "data",
)
DELIVERY_DATE = FA3_DELIVERY_DATE + (
    "data dokonania lub zakonczenia dostawy", "data sprzedazy", "data dostawy",
    "data wykonania uslugi", "data dokonania dostawy",
    "data zakonczenia dostawy", "data dostawy/wykonania uslugi", "delivery date", "date of supply",
    "date of delivery", "sale date", "supply date", "service date",
)
DUE_DATE = (
    "termin platnosci", "termin zaplaty", "zaplacic do", "platne do", "platnosc do", "due date",
    "payment due", "payment deadline", "pay by", "date due",
)
SUPPLIER = (
    "sprzedawca", "podmiot1", "podmiot 1", "wystawca", "dostawca", "seller", "supplier", "vendor",
    "from", "issued by", "service provider", "provider", "sold by", "invoiced by", "remit to", "payee",
)
RECEIVER = (
    "nabywca", "podmiot2", "podmiot 2", "kupujacy", "buyer", "bill to", "billed to", "customer",
    "sold to", "odbiorca", "recipient", "client", "invoice to", "invoiced to", "purchaser",
)
TAX_ID = FA3_TAX_ID + ("nip", "vat id", "vat no", "vat number", "tax id", "vat reg no", "nip ue", "tin")
IBAN = FA3_IBAN + (
    "nr rachunku", "numer rachunku", "rachunek bankowy", "nr konta", "numer konta",
    "konto bankowe", "rachunek", "konto", "iban", "bank account", "account number", "account no",
)
TOTAL = (
    "razem do zaplaty", "kwota naleznosci ogolem", "do zaplaty", "naleznosc ogolem",
    "wartosc brutto razem", "razem brutto", "total due", "amount due", "balance due",
    "total amount", "grand total", "total payable", "total gross", "gross total", "total",
)
NET = (
    "wartosc netto razem", "razem netto", "suma netto", "netto razem", "wartosc netto", "subtotal",
    "net total", "total net", "net amount", "total excl. vat", "total excluding vat",
)
TAX = (
    "kwota vat razem", "razem vat", "suma vat", "vat razem", "kwota vat", "podatek vat",
    "total vat", "vat total", "vat amount", "tax amount", "total tax", "vat", "tax",
)
# The total once more, in words ('Słownie: … złotych 63/100'): a check of the total.
AMOUNT_IN_WORDS = ("slownie", "kwota slownie", "amount in words", "in words")
# Titles of a per-rate VAT summary (its rows give the net and the VAT of the invoice).
VAT_SUMMARY = (
    "podsumowanie stawek podatku", "zestawienie stawek", "rozliczenie podatku", "wg stawek vat",
    "wedlug stawek", "vat summary", "vat breakdown", "tax summary",
)
# One-word labels that also occur inside other phrases: accepted only at the start of a cell and
# directly followed by their value (or nothing), e.g. 'Data: 20-03-2025', 'Tax: 741.56 PLN'.
GENERIC = frozenset({"data", "date", "numer", "nr", "number", "no", "faktura", "invoice", "vat", "tax", "total"})
SUM_ROW = ("razem", "suma", "ogolem", "total", "totals", "w tym")
NAME_SUBLABELS = FA3_NAME + ("nazwa", "name", "firma", "company")
NOT_A_NAME = (
    "nip", "adres", "address", "ul.", "tel", "e-mail", "email", "kraj", "kod kraju", "country", "regon", "krs",
    "bdo", "dane identyfikacyjne", "vat", "tax", "iban", "bank", "nr", "konto", "rachunek",
)
# Column headers of a line-item table, grouped by meaning.
TABLE_HEADER_GROUPS = (
    ("nazwa", "opis", "description", "item", "towar", "usluga", "product", "service"),
    ("ilosc", "qty", "quantity", "ilo", "szt"),
    ("cena", "price", "unit price"),
    ("wartosc", "amount", "value", "netto", "net", "total"),
    ("vat", "stawka", "tax", "rate", "podatek"),
    ("lp", "no", "#", "poz"),
)
TABLE_END = SUM_ROW + ("podsumowanie", "do zaplaty", "stawka podatku", "subtotal", "summary")
CURRENCY_TOKENS = {
    "pln": "PLN", "zl": "PLN", "zl.": "PLN", "zlotych": "PLN", "eur": "EUR", "euro": "EUR",
    "€": "EUR", "usd": "USD", "$": "USD", "gbp": "GBP", "£": "GBP", "chf": "CHF", "czk": "CZK",
}
# Every label that starts a field: a cell beginning with one of these is not a value.


def _any_label() -> tuple[str, ...]:
    return tuple(sorted(set(INVOICE_ID + INVOICE_DATE + DELIVERY_DATE + DUE_DATE + SUPPLIER + RECEIVER
                            + IBAN + TOTAL + NET + TAX) - GENERIC, key=len, reverse=True))


ANY = _any_label()

# --- leaving wording out (evaluation on layouts the extractor has not seen) --------------------

_LEXICON = ("INVOICE_ID", "INVOICE_DATE", "DELIVERY_DATE", "DUE_DATE", "SUPPLIER", "RECEIVER",
            "TAX_ID", "IBAN", "TOTAL", "NET", "TAX", "AMOUNT_IN_WORDS", "VAT_SUMMARY", "SUM_ROW", "NAME_SUBLABELS",
            "TABLE_END")
_ORIGINAL = {name: globals()[name] for name in _LEXICON + ("TABLE_HEADER_GROUPS", "ANY")}


def _folded(text: str) -> str:
    from .normalize import fold

    return " ".join(fold(text.replace("\n", " ")).split()).rstrip(":")


def withhold(phrases, known=()) -> frozenset[str]:
    """Take printed wording out of the lexicon: every label equal to one of `phrases` (after
    folding, with or without a final '.') or the start of one that no `known` label is, and every
    table-header word of theirs that no `known` label (the wording the extractor may know) uses.

    For leave-one-layout-family-out evaluation (``evaluate``/``bench_accuracy``): a family's
    own label variants must be unknown while the extractor reads that family. Affects this
    process only; ``withhold(())`` restores the full lexicon. Returns what was removed."""
    gone = {_folded(p) for p in phrases}
    gone |= {p.rstrip(".") for p in gone}
    kept_phrases = {_folded(p).rstrip(".") for p in known}

    def withheld(label: str) -> bool:
        # the phrase itself, or its first clause (three words or more: a statutory description's
        # 'kolejny numer faktury') when no known wording is that clause
        label = label.rstrip(".")
        return label in gone or (label not in kept_phrases and len(label.split()) >= 3 and any(
            p.startswith((label + " ", label + ",")) for p in gone))

    module = globals()
    removed: set[str] = set()
    for name in _LEXICON:
        kept = tuple(label for label in _ORIGINAL[name] if not withheld(label))
        removed |= set(_ORIGINAL[name]) - set(kept)
        module[name] = kept
    still = {w.strip(".") for p in known for w in _folded(p).split()}
    words = {w.strip(".") for p in gone for w in p.split()} - still
    module["TABLE_HEADER_GROUPS"] = tuple(
        tuple(word for word in group if word not in words)
        for group in _ORIGINAL["TABLE_HEADER_GROUPS"])
    removed |= {w for g in _ORIGINAL["TABLE_HEADER_GROUPS"] for w in g} - {
        w for g in module["TABLE_HEADER_GROUPS"] for w in g}
    module["ANY"] = _any_label()
    return frozenset(removed)

