"""Field validators for billing input: ISO 4217 currencies (Babel's CLDR list), IBANs and EU VAT ids
(python-stdnum: checksums and formats offline, no VIES call)."""

from babel.numbers import list_currencies
from django.core.exceptions import ValidationError
from stdnum import iban as stdnum_iban
from stdnum.eu import vat as stdnum_vat
from stdnum.exceptions import ValidationError as StdnumError

_CURRENCIES = frozenset(list_currencies())


def normalize_currency(value: str) -> str:
    return (value or "").strip().upper()


def validate_currency(value: str) -> None:
    code = normalize_currency(value)
    if code != value or code not in _CURRENCIES:
        raise ValidationError(
            "%(value)s is not an ISO 4217 currency code (three capital letters, e.g. EUR).",
            code="currency",
            params={"value": value},
        )


def normalize_iban(value: str) -> str:
    return stdnum_iban.compact(value or "")


def validate_iban(value: str) -> None:
    try:
        stdnum_iban.validate(value)
    except StdnumError as exc:
        raise ValidationError(f"Not a valid IBAN: {exc}.", code="iban") from None


def normalize_vat_number(value: str) -> str:
    return stdnum_vat.compact(value or "") if value else ""


def validate_vat_number(value: str) -> None:
    if not value:
        return
    try:
        stdnum_vat.validate(value)
    except StdnumError as exc:
        raise ValidationError(f"Not a valid EU VAT number: {exc}.", code="vat_number") from None
