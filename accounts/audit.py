from django.db import models

from .models import AuditEvent


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model,
    station=None,
    account=None,
    changes: dict | None = None,
    result: dict | None = None,
) -> AuditEvent:
    """Append one audit event. Called by services inside their transaction, so the audit commits with the change."""
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        station=station,
        account=account,
        changes=changes or {},
        result=result or {},
    )


def diff(instance: models.Model, before: dict, fields) -> dict:
    """{field: [before, after]} for the fields that changed; values as strings so JSON stays simple."""
    changes = {}
    for name in fields:
        after = getattr(instance, name)
        old = before.get(name)
        if old != after:
            changes[name] = [None if old is None else str(old), None if after is None else str(after)]
    return changes
