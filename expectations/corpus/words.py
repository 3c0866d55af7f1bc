"""Amounts in words ("Słownie: ..."), as Polish invoices print them under the total.

Only whole units are spelled out; the fraction is printed as "55/100", the common practice of
Polish invoicing programs.
"""

from __future__ import annotations

from decimal import Decimal

from .formatting import money

_PL_UNITS = ("", "jeden", "dwa", "trzy", "cztery", "pięć", "sześć", "siedem", "osiem",
             "dziewięć")
_PL_TEENS = ("dziesięć", "jedenaście", "dwanaście", "trzynaście", "czternaście", "piętnaście",
             "szesnaście", "siedemnaście", "osiemnaście", "dziewiętnaście")
_PL_TENS = ("", "", "dwadzieścia", "trzydzieści", "czterdzieści", "pięćdziesiąt",
            "sześćdziesiąt", "siedemdziesiąt", "osiemdziesiąt", "dziewięćdziesiąt")
_PL_HUNDREDS = ("", "sto", "dwieście", "trzysta", "czterysta", "pięćset", "sześćset",
                "siedemset", "osiemset", "dziewięćset")
# Singular, paucal (2-4 except 12-14) and plural forms of each power of a thousand.
_PL_GROUPS = (("", "", ""), ("tysiąc", "tysiące", "tysięcy"),
              ("milion", "miliony", "milionów"))
_PL_CURRENCY = {"PLN": ("złoty", "złote", "złotych"), "EUR": ("euro", "euro", "euro")}

_EN_UNITS = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
             "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
             "eighteen", "nineteen")
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_EN_GROUPS = ("", "thousand", "million")


def amount_in_words(value: Decimal, currency: str, language: str) -> str:
    """E.g. "jeden tysiąc siedemset trzy złote 55/100" or "one thousand ... three PLN 55/100"."""
    value = money(value)
    whole = int(value)
    hundredths = int((value - whole) * 100)
    if language == "en":
        return f"{_english_number(whole)} {currency} {hundredths:02d}/100"
    unit = _polish_form(whole, _PL_CURRENCY[currency])
    return f"{_polish_number(whole)} {unit} {hundredths:02d}/100"


def _polish_form(number: int, forms: tuple[str, str, str]) -> str:
    """Pick the grammatical number Polish requires after `number`."""
    if number == 1:
        return forms[0]
    if number % 10 in (2, 3, 4) and number % 100 not in (12, 13, 14):
        return forms[1]
    return forms[2]


def _polish_triple(number: int) -> list[str]:
    hundreds, rest = divmod(number, 100)
    words = [_PL_HUNDREDS[hundreds]]
    if 10 <= rest < 20:
        words.append(_PL_TEENS[rest - 10])
    else:
        words += [_PL_TENS[rest // 10], _PL_UNITS[rest % 10]]
    return [word for word in words if word]


def _polish_number(number: int) -> str:
    if number == 0:
        return "zero"
    words: list[str] = []
    for power in range(len(_PL_GROUPS) - 1, -1, -1):
        triple = number // 1000 ** power % 1000
        if triple:
            words += _polish_triple(triple)
            words.append(_polish_form(triple, _PL_GROUPS[power]))
    return " ".join(word for word in words if word)


def _english_triple(number: int) -> list[str]:
    hundreds, rest = divmod(number, 100)
    words = [_EN_UNITS[hundreds], "hundred"] if hundreds else []
    if rest < 20:
        words.append(_EN_UNITS[rest])
    else:
        words.append(_EN_TENS[rest // 10] + (f"-{_EN_UNITS[rest % 10]}" if rest % 10 else ""))
    return [word for word in words if word]


def _english_number(number: int) -> str:
    if number == 0:
        return "zero"
    words: list[str] = []
    for power in range(len(_EN_GROUPS) - 1, -1, -1):
        triple = number // 1000 ** power % 1000
        if triple:
            words += _english_triple(triple)
            words.append(_EN_GROUPS[power])
    return " ".join(word for word in words if word)
