"""Form fields the portal's forms share: codes typed in any case and stored upper case, and numbers whose
errors are said in the operator's words instead of Django's ("no more than 3 digits before the decimal point")."""

from django import forms

from eflux.lib.iso_codes import country_code, currency_code


class _CodeField(forms.CharField):
    normalize = staticmethod(str.upper)

    def to_python(self, value):
        return super().to_python(value).strip().upper()

    def validate(self, value):
        super().validate(value)
        if value:
            try:
                self.normalize(value)
            except ValueError as e:
                raise forms.ValidationError(str(e), code="invalid") from e


class CountryField(_CodeField):
    """ISO 3166-1 alpha-2: 'nl' is taken as NL; 'Ne' or 'XX' is refused at the field."""

    normalize = staticmethod(country_code)

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 2)
        kwargs.setdefault("help_text", "Two letters, ISO 3166-1 alpha-2 (e.g. NL).")
        super().__init__(**kwargs)


class CurrencyField(_CodeField):
    """ISO 4217: 'eur' is taken as EUR."""

    normalize = staticmethod(currency_code)

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 3)
        kwargs.setdefault("help_text", "Three letters, ISO 4217 (e.g. EUR).")
        super().__init__(**kwargs)


def decimal_messages(*, whole_digits: int, decimals: int, example: str) -> dict:
    """error_messages for a DecimalField, by Django's validator codes."""
    largest = "9" * whole_digits + ("." + "9" * decimals if decimals else "")
    return {
        "invalid": f"Enter a number, e.g. {example}.",
        "max_digits": f"Too large: at most {largest}.",
        "max_whole_digits": f"Too large: at most {largest}.",
        "max_decimal_places": f"At most {decimals} decimals, e.g. {example}.",
    }


PRICE_MESSAGES = {
    **decimal_messages(whole_digits=6, decimals=4, example="0.3500"),
    "min_value": "A price cannot be negative.",
}
VAT_RATE_MESSAGES = {
    **decimal_messages(whole_digits=3, decimals=2, example="21.00"),
    "min_value": "The VAT rate is a percentage between 0 and 100.",
    "max_value": "The VAT rate is a percentage between 0 and 100.",
}
