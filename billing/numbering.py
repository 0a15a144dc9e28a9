"""Gap-free document numbers (EU VAT Directive Art. 226(2): "a sequential number, based on one or more
series"). A PostgreSQL sequence is not gap-free (nextval is never given back on rollback), so the counter is
a NumberSeries row locked with SELECT ... FOR UPDATE inside the transaction that stores the number: a
rollback gives the number back, and a concurrent issuer waits for the lock instead of taking the same one."""

from django.db import IntegrityError, transaction

from billing.models import NumberSeries

PREFIXES = {"usage": "INV", "self_billing": "SB", "credit_note": "CRN"}


def series_key(kind: str, year: int) -> str:
    # One series per document kind and calendar year; each starts at 1 on 1 January.
    return f"{PREFIXES[kind]}-{year}"


def number_text(key: str, number: int) -> str:
    return f"{key}-{number:06d}"


def number_take(key: str) -> int:
    """The next number of series `key`. Must run inside the issuing transaction (the caller's atomic)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("number_take must run inside the transaction that stores the number")
    series = NumberSeries.objects.select_for_update().filter(key=key).first()
    if series is None:
        try:
            # The first document of a series: a concurrent issuer may create the row at the same moment;
            # the savepoint keeps the caller's transaction usable when the unique constraint refuses ours.
            with transaction.atomic():
                NumberSeries.objects.create(key=key, last_value=0)
        except IntegrityError:
            pass
        series = NumberSeries.objects.select_for_update().get(key=key)
    series.last_value += 1
    series.save(update_fields=["last_value"])
    return series.last_value
