"""Word lists the invoice model draws from: names, addresses, goods and services, notes.

Polish entries deliberately carry diacritics (ą ć ę ł ń ó ś ź ż) so that OCR of Polish glyphs is
exercised on every field type.
"""

from __future__ import annotations

from dataclasses import dataclass

# (first name, feminine?) so that surnames can take the matching -ski/-ska form.
PL_FIRST_NAMES = (("Łukasz", False), ("Małgorzata", True), ("Paweł", False), ("Agnieszka", True),
                  ("Grzegorz", False), ("Zofia", True), ("Michał", False), ("Katarzyna", True),
                  ("Jędrzej", False), ("Bożena", True), ("Wojciech", False), ("Elżbieta", True),
                  ("Krzysztof", False), ("Dorota", True), ("Przemysław", False), ("Żaneta", True),
                  ("Tomasz", False), ("Urszula", True), ("Andrzej", False), ("Jolanta", True))
PL_SURNAMES = ("Żółkiewski", "Kowalski", "Wiśniewski", "Wójcik", "Kamiński", "Lewandowski",
               "Zieliński", "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski",
               "Mazur", "Kwiatkowski", "Krawczyk", "Piotrowski", "Grabowski", "Pawłowski",
               "Michalski", "Król", "Wróbel", "Jabłoński", "Olszewski", "Stępień", "Malinowski",
               "Ciesielski", "Gołębiowski", "Sikora", "Błaszczyk", "Łuczak", "Ślusarczyk")

PL_TRADES = ("Przedsiębiorstwo Handlowe", "Przedsiębiorstwo Handlowo-Usługowe",
             "Zakład Produkcyjny", "Hurtownia Materiałów Budowlanych", "Biuro Rachunkowe",
             "Pracownia Projektowa", "Drukarnia", "Agencja Reklamowa", "Centrum Szkoleniowe",
             "Firma Transportowa", "Zakład Usług Informatycznych", "Hurtownia Elektryczna",
             "Piekarnia", "Studio Graficzne")
PL_BRANDS = ("Łukasz", "Bałtyk", "Mazowsze", "Wisła", "Sudety", "Pomorze", "Śląsk", "Podhale",
             "Warmia", "Kujawy", "Żuławy", "Orzeł", "Jantar", "Zorza", "Dąb", "Świt", "Polmet",
             "Budrex", "Techmal", "Elkom", "Drewbud", "Gazpol", "Łódzkie Sukno", "Źródło")
# Legal forms with relative weights: limited companies dominate Polish B2B invoicing.
PL_LEGAL_FORMS = (("Sp. z o.o.", 6), ("S.A.", 2), ("Sp. j.", 2), ("Sp.k.", 1),
                  ("Sp. z o.o. Sp.k.", 1))
PL_SOLE_TRADES = ("Usługi Remontowe", "Transport Drogowy", "Gabinet Weterynaryjny",
                  "Usługi Księgowe", "Instalatorstwo Sanitarne", "Ślusarstwo",
                  "Usługi Ogólnobudowlane", "Pracownia Krawiecka", "Fotografia Ślubna",
                  "Doradztwo Podatkowe")

EN_BRANDS = ("Northwind", "Baltic", "Bluewater", "Silverline", "Greenfield", "Redstone",
             "Brightpath", "Harbour", "Kingsbridge", "Oakridge", "Westbrook", "Summit",
             "Crescent", "Evergreen", "Amber Coast", "Vistula")
EN_TRADES = ("Trading", "Logistics", "Software", "Consulting", "Engineering", "Components",
             "Digital", "Supplies", "Analytics", "Freight", "Systems", "Media")
# English-named sellers are registered in Poland; some keep a foreign legal form.
EN_SELLER_FORMS = ("Sp. z o.o.", "S.A.", "Ltd", "GmbH", "B.V.")

# (legal form, address lines) of foreign buyers; all are VAT-registered in Poland (Polish NIP).
FOREIGN_ADDRESSES = (
    ("Ltd", ("14 King Street", "Manchester M2 4LQ", "United Kingdom")),
    ("Ltd", ("221 Tower Bridge Road", "London SE1 2UP", "United Kingdom")),
    ("Ltd", ("3 Harcourt Street", "Dublin D02 XE80", "Ireland")),
    ("GmbH", ("Friedrichstraße 68", "10117 Berlin", "Germany")),
    ("GmbH", ("Königsallee 92", "40212 Düsseldorf", "Germany")),
    ("GmbH", ("Mariahilfer Straße 47", "1060 Wien", "Austria")),
    ("B.V.", ("Keizersgracht 452", "1016 GD Amsterdam", "Netherlands")),
    ("B.V.", ("Coolsingel 104", "3011 AG Rotterdam", "Netherlands")),
)

PL_STREETS = ("ul. Marszałkowska", "ul. Piotrkowska", "al. Jerozolimskie", "ul. Długa",
              "ul. Świętokrzyska", "ul. Grunwaldzka", "ul. Kościuszki", "ul. Żeromskiego",
              "ul. Mickiewicza", "ul. Łąkowa", "ul. Słoneczna", "ul. Przemysłowa",
              "ul. Wrocławska", "ul. Gdańska", "al. Niepodległości", "ul. Jagiellońska",
              "ul. Żwirki i Wigury", "pl. Wolności", "ul. 3 Maja", "ul. Źródlana",
              "os. Tysiąclecia", "ul. Bohaterów Monte Cassino")
# City, postal-code prefixes (first two digits) used there.
PL_CITIES = (("Warszawa", ("00", "01", "02", "03", "04")), ("Łódź", ("90", "91", "92", "93")),
             ("Kraków", ("30", "31")), ("Gdańsk", ("80",)), ("Wrocław", ("50", "51", "53")),
             ("Poznań", ("60", "61")), ("Szczecin", ("70", "71")), ("Lublin", ("20",)),
             ("Katowice", ("40",)), ("Białystok", ("15",)), ("Bydgoszcz", ("85",)),
             ("Rzeszów", ("35",)), ("Olsztyn", ("10",)), ("Zielona Góra", ("65",)),
             ("Bielsko-Biała", ("43",)), ("Toruń", ("87",)), ("Kielce", ("25",)),
             ("Gorzów Wielkopolski", ("66",)))

# Real Polish bank sort-code prefixes (bank + branch, without the sort-code check digit).
PL_BANK_BRANCHES = ("1020103", "1090101", "1140200", "1050109", "1240100", "1160220",
                    "1750001", "2490000", "1870101", "1540104")


@dataclass(frozen=True)
class CatalogItem:
    """One kind of goods or service with both language versions and a plausible price range."""

    pl: str
    en: str
    pl_unit: str
    en_unit: str
    min_price: float
    max_price: float
    fractional: bool  # sold by weight, area or time, so quantities may have decimals
    vat_rate: int


CATALOG = (
    CatalogItem("Usługa programistyczna - moduł raportów",
                "Software development - reporting module", "godz.", "hrs", 120, 260, True, 23),
    CatalogItem("Konsultacje wdrożeniowe ERP", "ERP implementation consulting",
                "godz.", "hrs", 150, 400, True, 23),
    CatalogItem("Licencja oprogramowania - 12 miesięcy", "Software licence - 12 months",
                "szt.", "pcs", 300, 4800, False, 23),
    CatalogItem("Papier ksero A4 80 g/m2, ryza 500 ark.", "Copy paper A4 80 gsm, 500 sheets",
                "szt.", "pcs", 14, 32, False, 23),
    CatalogItem("Toner do drukarki laserowej HP 85A", "Laser printer toner HP 85A",
                "szt.", "pcs", 89, 349, False, 23),
    CatalogItem("Montaż instalacji elektrycznej", "Electrical installation works",
                "usł.", "svc", 800, 9500, False, 23),
    CatalogItem("Przegląd techniczny klimatyzacji", "Air conditioning maintenance",
                "usł.", "svc", 250, 900, False, 23),
    CatalogItem("Transport krajowy Łódź - Gdańsk", "Domestic freight Lodz - Gdansk",
                "usł.", "svc", 900, 3200, False, 23),
    CatalogItem("Transport międzynarodowy Poznań - Berlin", "International freight Poznan - Berlin",
                "usł.", "svc", 1800, 5200, False, 0),
    CatalogItem("Śruby M8x40 ocynkowane", "Galvanised bolts M8x40",
                "kg", "kg", 18, 42, True, 23),
    CatalogItem("Farba lateksowa biała 10 l", "White latex paint 10 l",
                "szt.", "pcs", 95, 260, False, 23),
    CatalogItem("Płyta gipsowo-kartonowa 12,5 mm", "Plasterboard 12.5 mm",
                "m2", "m2", 12, 29, True, 23),
    CatalogItem("Układanie kostki brukowej", "Block paving installation",
                "m2", "m2", 45, 120, True, 8),
    CatalogItem("Wymiana dachówki ceramicznej", "Ceramic roof tile replacement",
                "m2", "m2", 60, 180, True, 8),
    CatalogItem("Mąka pszenna typ 650", "Wheat flour type 650",
                "kg", "kg", 2.2, 5.5, True, 5),
    CatalogItem("Jabłka deserowe, klasa I", "Dessert apples, class I",
                "kg", "kg", 2.8, 7.5, True, 5),
    CatalogItem("Chleb żytni razowy 500 g", "Wholemeal rye bread 500 g",
                "szt.", "pcs", 4.5, 11, False, 5),
    CatalogItem("Książka - Rachunkowość finansowa, wyd. 3", "Book - Financial Accounting, 3rd ed.",
                "szt.", "pcs", 59, 149, False, 5),
    CatalogItem("Usługa noclegowa - pokój 2-osobowy", "Accommodation - double room",
                "usł.", "svc", 180, 560, False, 8),
    CatalogItem("Usługa cateringowa - przerwa kawowa", "Catering - coffee break",
                "usł.", "svc", 350, 2400, False, 8),
    CatalogItem("Wynajem rusztowania - 14 dni", "Scaffolding rental - 14 days",
                "usł.", "svc", 600, 2800, False, 23),
    CatalogItem("Szkolenie BHP dla pracowników", "Health and safety training",
                "usł.", "svc", 400, 1600, False, 23),
    CatalogItem("Kawa ziarnista 1 kg", "Coffee beans 1 kg",
                "szt.", "pcs", 49, 129, False, 23),
    CatalogItem("Projekt graficzny - identyfikacja wizualna", "Graphic design - brand identity",
                "usł.", "svc", 1500, 8500, False, 23),
    CatalogItem("Obsługa księgowa - pełna księgowość", "Bookkeeping services - full accounting",
                "usł.", "svc", 400, 2500, False, 23),
    CatalogItem("Naprawa pompy hydraulicznej nr 4", "Hydraulic pump repair no. 4",
                "usł.", "svc", 700, 3900, False, 23),
    CatalogItem("Serwis serwerowni - dyżur weekendowy", "Server room support - weekend on-call",
                "godz.", "hrs", 90, 220, True, 23),
    CatalogItem("Tłumaczenie dokumentacji technicznej", "Technical documentation translation",
                "godz.", "hrs", 60, 180, True, 23),
)

# Sentences for the notes ("Uwagi") block; {order}, {contract} and {date} are filled in.
PL_NOTES = (
    "Zamówienie nr {order} z dnia {date}.",
    "Towar pozostaje własnością sprzedawcy do chwili zapłaty pełnej należności.",
    "Reklamacje należy zgłaszać w terminie 7 dni od daty dostawy.",
    "W przypadku opóźnienia w płatności naliczane będą odsetki ustawowe za opóźnienie "
    "w transakcjach handlowych.",
    "Gwarancja na wykonane prace wynosi 24 miesiące od dnia odbioru.",
    "Prosimy o umieszczenie numeru faktury w tytule przelewu.",
    "Dostawa zrealizowana zgodnie z umową ramową nr {contract}.",
    "Faktura obejmuje wszystkie pozycje z protokołu odbioru z dnia {date}.",
    "Koszty transportu zostały wliczone w cenę towaru.",
    "Odbiór towaru potwierdzono podpisem na dokumencie WZ do zamówienia {order}.",
    "Zwrot opakowań zwrotnych w ciągu 30 dni; po tym terminie zostaną zafakturowane.",
    "Wszelkie spory rozstrzyga sąd właściwy dla siedziby sprzedawcy.",
)
EN_NOTES = (
    "Purchase order {order} dated {date}.",
    "Goods remain the property of the seller until paid in full.",
    "Complaints must be reported within 7 days of delivery.",
    "Late payments bear statutory interest for delays in commercial transactions.",
    "The warranty for the work performed is 24 months from acceptance.",
    "Please quote the invoice number as the payment reference.",
    "Delivery made under framework agreement {contract}.",
    "This invoice covers all items of the acceptance protocol dated {date}.",
    "Transport costs are included in the price of the goods.",
    "Receipt of goods confirmed on the delivery note for order {order}.",
    "Returnable packaging must be returned within 30 days or it will be invoiced.",
    "Any disputes shall be settled by the court competent for the seller's registered office.",
)
