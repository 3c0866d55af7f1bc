"""Restoring Polish diacritics that OCR dropped, with a word-frequency lexicon (wordfreq).

Tesseract on low-resolution scans often returns 'Maka' for 'Mąka' or 'Jabtka' for 'Jabłka' (ł
read as t). A word that OCR returned without any diacritic is replaced by the most frequent
Polish word with the same letters once diacritics are removed, when that word is at least
``MIN_RATIO`` times as frequent as the reading itself (so 'farba' is not turned into the equally
common 'farbą', but 'plyta' becomes 'płyta'). Words OCR read with some diacritics are trusted
unless a word with more of them is far more frequent (``MIN_RATIO_PARTLY_READ``).
"""

from __future__ import annotations

import functools
import re

from .normalize import fold

MIN_RATIO = 10.0
_POLISH_DIACRITICS = set("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")
_WORD = re.compile(r"[A-Za-ząćęłńóśźżĄĆĘŁŃÓŚŹŻ]{3,}")


@functools.cache
def _index() -> tuple[dict[str, float], dict[str, tuple[str, float]]]:
    from wordfreq import get_frequency_dict

    freq = get_frequency_dict("pl", wordlist="best")
    best: dict[str, tuple[str, float]] = {}
    # Only words with diacritics can be restoration targets; skipping the rest halves start-up.
    for word, f in freq.items():
        if _POLISH_DIACRITICS.isdisjoint(word):
            continue
        key = fold(word)
        if key not in best or f > best[key][1]:
            best[key] = (word, f)
    return freq, best


def warm_up() -> None:
    """Load the lexicon now (worker start-up) rather than on the first document."""
    _index()


def _match_case(template: str, word: str) -> str:
    if template.isupper():
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


# A reading that kept some of its diacritics ('zółty') is trusted unless the word with more of
# them ('żółty', every one OCR saw kept) is this many times as frequent: OCR drops diacritics,
# it does not invent them.
MIN_RATIO_PARTLY_READ = 100.0


def _adds_diacritics(read: str, word: str) -> bool:
    return len(read) == len(word) and all(r == w or (fold(r) == fold(w) and r not in _POLISH_DIACRITICS)
                                          for r, w in zip(read.lower(), word))


def restore_word(word: str) -> str:
    if not _WORD.fullmatch(word):
        return word
    if any(ch in _POLISH_DIACRITICS for ch in word):
        freq, best = _index()
        found = best.get(fold(word))
        if (found and found[0] != word.lower() and _adds_diacritics(word, found[0])
                and found[1] >= MIN_RATIO_PARTLY_READ * freq.get(word.lower(), 0.0)):
            return _match_case(word, found[0])
        return word
    freq, best = _index()
    own = freq.get(word.lower(), 0.0)
    key = fold(word)
    candidates = [best.get(key)]
    if "t" in key:  # 'ł' misread as 't'
        candidates += [best.get(key[:i] + "l" + key[i + 1:]) for i, ch in enumerate(key) if ch == "t"]
    found = max((c for c in candidates if c), key=lambda c: c[1], default=None)
    if found is None or found[1] < MIN_RATIO * own or found[0] == word.lower():
        return word
    return _match_case(word, found[0])


def is_known_word(word: str) -> bool:
    """Whether the lexicon knows the word (with its diacritics, or with them restored)."""
    freq, best = _index()
    return word.lower() in freq or fold(word) in best



def word_frequency(word: str) -> float:
    """How often the word occurs in Polish text (wordfreq; 0 when the lexicon does not know it)."""
    freq, _ = _index()
    return freq.get(word.lower(), 0.0)


def rejoin_split_words(text: str) -> str:
    """Join two read pieces into one word ('Ślusa rstwo') when neither piece is a Polish word
    and the joined form is one."""
    words = text.split(" ")
    out: list[str] = []
    i = 0
    while i < len(words):
        if i + 1 < len(words):
            a, b = words[i], words[i + 1]
            if (_WORD.fullmatch(a) and b.isalpha() and b.islower() and not is_known_word(a)
                    and not (len(b) > 2 and is_known_word(b)) and is_known_word(a + b)):
                out.append(a + b)
                i += 2
                continue
        out.append(words[i])
        i += 1
    return " ".join(out)


def restore_diacritics(text: str) -> str:
    return _WORD.sub(lambda m: restore_word(m.group(0)), rejoin_split_words(text))


# Glyphs Tesseract confuses on blurred scans, as (read, printed): 'Nocieg' for 'Nocleg', 'kopu'
# for 'kopii', 'oprogramowama' for 'oprogramowania', 'unrwersalna' for 'uniwersalna'.
CONFUSIONS = (("i", "l"), ("l", "i"), ("m", "ni"), ("m", "rn"), ("rn", "m"), ("u", "ii"), ("ii", "u"),
              ("r", "i"), ("u", "i"), ("i", "u"), ("n", "u"), ("u", "n"), ("e", "c"), ("c", "e"),
              ("li", "h"), ("h", "li"), ("cl", "d"), ("d", "cl"), ("f", "t"), ("t", "f"), ("i", "j"),
              ("j", "i"), ("ł", "l"), ("t", "ł"), ("l", "ł"), ("o", "ó"), ("ó", "o"), ("a", "ą"),
              ("e", "ę"), ("s", "ś"), ("z", "ż"), ("n", "ń"), ("c", "ć"))
MAX_CONFUSIONS = 2  # per word
# A word must be this frequent to replace a reading (one in a million words, Zipf 3): rarer
# words are as likely to be some other misreading as the printed word.
MIN_CORRECTION_FREQUENCY = 1e-6
_LOWER_WORD = re.compile(r"[A-ZĄĆĘŁŃÓŚŹŻ]?[a-ząćęłńóśźż]{3,}")


def _confused(word: str, depth: int, confusions=CONFUSIONS) -> set[str]:
    out = set()
    for read, printed in confusions:
        start = 0
        while (k := word.find(read, start)) >= 0:
            out.add(word[:k] + printed + word[k + len(read):])
            start = k + 1
    if depth > 1:
        for candidate in list(out):
            out |= _confused(candidate, depth - 1, confusions)
    return out


_LETTER_RUN = re.compile(r"\b[^\W\d_]+\b")


def _unknown(word: str) -> str | None:
    """The word in lower case when a correction may look at it: a lower-case or capitalised word
    of 3+ letters the lexicon does not know; None for known words, acronyms and mixed case."""
    if not _LOWER_WORD.fullmatch(word):
        return None
    low = word.lower()
    return None if low in _index()[0] else low


def correct_misread_word(word: str) -> str:
    """A word the lexicon does not know, replaced by the most frequent known word that up to
    ``MAX_CONFUSIONS`` of Tesseract's glyph confusions turn it into. Known words, acronyms,
    mixed case ('iPhone') and anything with a digit are left as read."""
    if (low := _unknown(word)) is None:
        return word
    freq, _ = _index()
    f, best = max(((freq.get(c, 0.0), c) for c in _confused(low, MAX_CONFUSIONS)), default=(0.0, ""))
    if f < MIN_CORRECTION_FREQUENCY:
        return word
    return _match_case(word, best)


def correct_misread_words(text: str) -> str:
    return _LETTER_RUN.sub(lambda m: correct_misread_word(m.group(0)), text)


# A party name is mostly proper names, which a lexicon must not "correct" into common words, so
# a name word is changed only when the lexicon does not know it and exactly one of its readings
# one glyph confusion away is a known word (the most frequent at least NAME_MARGIN times the next):
# 'Pickarnia' -> 'Piekarnia', 'Usłuyi' -> 'Usługi', 'Iędrzej' -> 'Jędrzej' on a fax. Faxes add
# the confusions of blurred, bilevel glyphs (g read as y, o as a, a stray ogonek or accent).
# 318 Polish surnames and company names and the 289 names of both shared corpora and the
# generator: none changed. 40 tune faxes, with the other fax fixes of commit 50faa3e: header
# fields 0.911 -> 0.959. Polish item descriptions are corrected the same way, with the fax's
# l read for t or f, h for ł, k for li and o for e ('graliczny', 'Thumaczenie', 'doserowe'): none
# of the 149 descriptions and 291 names of the shared corpora, the golden set and the generator
# changes; 40 tune faxes' line-item F1 0.734 -> 0.800 with the item fixes of commit f1731f3.
NAME_CONFUSIONS = CONFUSIONS + (("ę", "e"), ("ą", "a"), ("y", "g"), ("a", "o"), ("o", "a"), ("o", "e"), ("l", "t"),
                                ("l", "f"), ("h", "ł"), ("k", "li"))
MIN_NAME_CORRECTION_FREQUENCY = 1e-7  # Zipf 2: first names and surnames are rarer than words
NAME_MARGIN = 10.0


def correct_name_word(word: str) -> str:
    if (low := _unknown(word)) is None:
        return word
    freq, best = _index()
    found = best.get(fold(low))
    if found is not None:  # known once its diacritics are as printed ('Przędsiębiorstwo')
        return _match_case(word, found[0]) if found[1] >= MIN_NAME_CORRECTION_FREQUENCY else word
    candidates = sorted(((freq.get(c, 0.0), c) for c in _confused(low, 1, NAME_CONFUSIONS) - {low}), reverse=True)
    if not candidates or candidates[0][0] < MIN_NAME_CORRECTION_FREQUENCY:
        return word
    if len(candidates) > 1 and candidates[1][0] * NAME_MARGIN > candidates[0][0]:
        return word
    return _match_case(word, candidates[0][1])


def correct_name_words(text: str) -> str:
    return _LETTER_RUN.sub(lambda m: correct_name_word(m.group(0)), text)

