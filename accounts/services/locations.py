"""Locations of an account's stations."""

from django.db import transaction

from accounts.audit import audit_record, diff
from accounts.models import Location

LOCATION_FIELDS = ["account_id", "name", "address", "country", "latitude", "longitude", "timezone"]


@transaction.atomic
def location_save(*, location: Location, acting_user) -> Location:
    """Create or update a location (the form has filled the instance)."""
    created = location.pk is None
    before = {} if created else {f: getattr(Location.objects.get(pk=location.pk), f) for f in LOCATION_FIELDS}
    location.full_clean()
    location.save()
    changes = diff(location, before, LOCATION_FIELDS)
    if changes:
        audit_record(
            actor=acting_user,
            action="location.create" if created else "location.update",
            obj=location,
            account=location.account,
            changes=changes,
        )
    return location
