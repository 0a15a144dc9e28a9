"""OCPP 1.6 idTags (§7.28 IdToken, §7.13 CiString20Type: case-insensitive, at most 20 printable ASCII
characters; errata §3.74). Pure: no Django.

Cards are printed and typed with separators ("04:A2:5B:..", "04-a2-5b"); they are stored without, upper
case, so that the idTag a station sends and the one an operator typed meet in one unique index."""

import re

ID_TAG_MAX = 20

_SEPARATORS = re.compile(r"[\s:\-.]")
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")


def normalize_id_tag(raw, *, strict: bool) -> str:
    """The idTag as cards store it. Strict (registering a card) raises ValueError for a tag no card can
    have: empty, too long, or not printable ASCII. Lenient (what a station sent, a search box) never
    raises: a transaction message with an odd idTag must still be stored, and simply matches no card."""
    tag = _SEPARATORS.sub("", str(raw or "")).upper()
    if not strict:
        return tag[:ID_TAG_MAX]
    if not tag:
        raise ValueError("The idTag is empty.")
    if len(tag) > ID_TAG_MAX:
        raise ValueError(f"The idTag {tag!r} is longer than {ID_TAG_MAX} characters (OCPP CiString20).")
    if not _PRINTABLE.match(tag):
        raise ValueError(f"The idTag {tag!r} contains characters outside printable ASCII.")
    return tag
