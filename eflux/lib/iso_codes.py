"""ISO 3166-1 alpha-2 countries and ISO 4217 currencies, from pycountry (the ISO tables, kept current by its
maintainers) rather than a list of our own. Case-insensitive in, upper case out."""

import pycountry


def country_code(value: str) -> str:
    """'nl' -> 'NL'; ValueError for anything that is not an assigned alpha-2 code."""
    code = (value or "").strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(
            f"{value.strip()!r} is not an ISO 3166 country code; use two letters, e.g. NL, DE, BE."
        )
    return code


def currency_code(value: str) -> str:
    """'eur' -> 'EUR'; ValueError for anything that is not an ISO 4217 code."""
    code = (value or "").strip().upper()
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError(f"{value.strip()!r} is not an ISO 4217 currency; use three letters, e.g. EUR.")
    return code
