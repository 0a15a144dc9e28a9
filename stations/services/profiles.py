"""The platform's required configuration: the default profile per OCPP version (data operators edit in the
admin), and how a station's reported value is compared with the required one."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audit_record
from stations.models import ConfigurationProfile, ConfigurationProfileKey, Station

# OCPP 1.6 §9.1 standard configuration keys. The AuthorizationKey goes last: some stations reconnect
# right after accepting it, and every other key should be set before that happens.
DEFAULT_PROFILE_16 = [
    ("HeartbeatInterval", str(settings.OCPP_HEARTBEAT_INTERVAL), ""),
    ("MeterValueSampleInterval", "60", ""),
    ("MeterValuesSampledData", "Energy.Active.Import.Register", ""),
    ("ClockAlignedDataInterval", "900", ""),
    ("ConnectionTimeOut", "60", ""),
    # The platform authorizes the user or card before it sends RemoteStartTransaction.
    ("AuthorizeRemoteTxRequests", "false", ""),
    ("LocalAuthorizeOffline", "true", ""),
    # Online, every card goes to the platform, so a blocked card is refused at once.
    ("LocalPreAuthorize", "false", ""),
    ("AllowOfflineTxForUnknownId", "false", ""),
    ("AuthorizationCacheEnabled", "true", ""),
    ("StopTransactionOnInvalidId", "true", ""),
    ("WebSocketPingInterval", "60", ""),
    ("AuthorizationKey", "", ConfigurationProfileKey.Generate.AUTHORIZATION_KEY),
]


# OCPP 2.0.1 part 2 appendix (standardized components and variables), as "Component.Variable". Same intent as the
# 1.6 profile, in the 2.0.1 device model's words: SampledDataCtrlr/AlignedDataCtrlr replace MeterValues*,
# AuthCtrlr/AuthCacheCtrlr the authorization keys, TxCtrlr.TxStartPoint/TxStopPoint say when a transaction
# starts and ends (E01/E06: the platform bills from authorization with power until the EV leaves). The
# BasicAuthPassword goes last for the same reason as the 1.6 AuthorizationKey.
DEFAULT_PROFILE_201 = [
    ("OCPPCommCtrlr.HeartbeatInterval", str(settings.OCPP_HEARTBEAT_INTERVAL), ""),
    ("SampledDataCtrlr.TxUpdatedMeasurands", "Energy.Active.Import.Register,Power.Active.Import", ""),
    ("SampledDataCtrlr.TxUpdatedInterval", "60", ""),
    ("SampledDataCtrlr.TxEndedMeasurands", "Energy.Active.Import.Register", ""),
    ("AlignedDataCtrlr.Measurands", "Energy.Active.Import.Register", ""),
    ("AlignedDataCtrlr.Interval", "900", ""),
    ("AuthCtrlr.AuthorizeRemoteStart", "false", ""),
    ("AuthCtrlr.LocalAuthorizeOffline", "true", ""),
    ("AuthCtrlr.LocalPreAuthorize", "false", ""),
    ("AuthCtrlr.OfflineTxForUnknownIdEnabled", "false", ""),
    ("AuthCacheCtrlr.Enabled", "true", ""),
    ("TxCtrlr.StopTxOnInvalidId", "true", ""),
    ("TxCtrlr.TxStartPoint", "Authorized,PowerPathClosed", ""),
    ("TxCtrlr.TxStopPoint", "EVConnected,Authorized", ""),
    ("OCPPCommCtrlr.WebSocketPingInterval", "60", ""),
    ("SecurityCtrlr.BasicAuthPassword", "", ConfigurationProfileKey.Generate.AUTHORIZATION_KEY),
]
DEFAULT_PROFILES = {"1.6": DEFAULT_PROFILE_16, "2.0.1": DEFAULT_PROFILE_201}


def profile_default(ocpp_version: str = "1.6") -> ConfigurationProfile:
    """The default profile, created on first use (operators edit it in the admin afterwards)."""
    profile = ConfigurationProfile.objects.filter(ocpp_version=ocpp_version, is_default=True).first()
    if profile:
        return profile
    try:
        with transaction.atomic():
            profile = ConfigurationProfile.objects.create(
                name=f"Platform default (OCPP {ocpp_version})",
                ocpp_version=ocpp_version,
                is_default=True,
                description="Required configuration applied by Auto Configuration.",
            )
            ConfigurationProfileKey.objects.bulk_create(
                ConfigurationProfileKey(profile=profile, key=k, value=v, generate=g, position=i)
                for i, (k, v, g) in enumerate(DEFAULT_PROFILES[ocpp_version])
            )
    except IntegrityError:  # created by a concurrent request
        profile = ConfigurationProfile.objects.get(ocpp_version=ocpp_version, is_default=True)
    return profile


def profile_for(station: Station) -> ConfigurationProfile:
    """The most specific profile for the station's vendor and model as it reported them in BootNotification:
    vendor and model, else vendor with any model (model blank), else the platform default. CiString: case does
    not matter (OCPP 1.6 §7)."""
    version = "2.0.1" if station.is_ocpp201 else "1.6"
    if station.vendor:
        # At most two rows (configprofile_unique_vendor_model): the model's own, and the vendor's any-model one.
        matching = ConfigurationProfile.objects.filter(
            ocpp_version=version, is_default=False, vendor__iexact=station.vendor
        ).filter(Q(model="") | Q(model__iexact=station.model))
        best = sorted(matching, key=lambda p: (p.model == "", p.pk))
        if best:
            return best[0]
    return profile_default(version)


def configuration_profile_create(
    *, name: str, vendor: str, model: str, ocpp_version: str, acting_user
) -> ConfigurationProfile:
    """A profile for one charger vendor (and model): starts as a copy of the platform default, which the operator
    then edits (values, keys not applicable on that model with the reason)."""
    vendor, model, name = vendor.strip(), model.strip(), name.strip()
    errors = {}
    if not vendor:
        errors["vendor"] = "Enter the vendor as the charger reports it in BootNotification."
    if ocpp_version not in DEFAULT_PROFILES:
        errors["ocpp_version"] = f"Choose one of {', '.join(DEFAULT_PROFILES)}."
    if (
        not errors
        and ConfigurationProfile.objects.filter(
            ocpp_version=ocpp_version, is_default=False, vendor__iexact=vendor, model__iexact=model
        ).exists()
    ):
        errors["model"] = f"There is already a profile for {vendor} {model or '(any model)'}."
    if not errors and ConfigurationProfile.objects.filter(name=name).exists():
        errors["name"] = "A profile with this name exists."
    if errors:
        raise ValidationError(errors)
    default = profile_default(ocpp_version)
    with transaction.atomic():
        profile = ConfigurationProfile.objects.create(
            name=name or f"{vendor} {model or '(any model)'} (OCPP {ocpp_version})",
            ocpp_version=ocpp_version,
            vendor=vendor,
            model=model,
            description=f"Copied from {default.name}.",
        )
        ConfigurationProfileKey.objects.bulk_create(
            ConfigurationProfileKey(
                profile=profile, key=k.key, value=k.value, generate=k.generate, position=k.position
            )
            for k in default.keys.all()
        )
        audit_record(
            actor=acting_user,
            action="configuration_profile.create",
            obj=profile,
            changes={"vendor": vendor, "model": model, "ocpp_version": ocpp_version},
        )
    return profile


@transaction.atomic
def configuration_profile_key_not_applicable(
    *, profile: ConfigurationProfile, key: str, reason: str, acting_user
) -> ConfigurationProfileKey:
    """Mark a key of a vendor/model profile not applicable on that model (reason empty: applicable again), with
    who decided it. The next Auto Configuration of each station of the model marks its row so."""
    if profile.is_default:
        raise ValidationError(
            {"key": "The platform default is for every charger; waive keys in a vendor/model profile."}
        )
    row = ConfigurationProfileKey.objects.select_for_update().filter(profile=profile, key=key).first()
    if row is None:
        raise ValidationError({"key": f"{key!r} is not in {profile.name}."})
    before = row.not_applicable_reason
    row.not_applicable_reason = (reason or "").strip()[:300]
    row.not_applicable_by = acting_user if row.not_applicable_reason else None
    row.save(update_fields=["not_applicable_reason", "not_applicable_by"])
    audit_record(
        actor=acting_user,
        action="configuration_profile.key_not_applicable",
        obj=profile,
        changes={"key": key, "not_applicable_reason": [before, row.not_applicable_reason]},
    )
    return row


def values_match(reported: str, desired: str) -> bool:
    """CiString comparison (OCPP 1.6 §7: configuration values are case-insensitive strings); comma separated
    lists (CSL, e.g. MeterValuesSampledData) compare as sets."""
    a = [p.strip().lower() for p in (reported or "").split(",") if p.strip()]
    b = [p.strip().lower() for p in (desired or "").split(",") if p.strip()]
    return sorted(a) == sorted(b)


@transaction.atomic
def configuration_profile_keys_update(
    *, profile: ConfigurationProfile, values: dict[str, str], reasons: dict[str, str], acting_user
) -> list[str]:
    """The profile page's Save: each key's value (not for generated secrets) and, on a vendor/model profile, the
    reason it is not applicable on that model (empty: applicable), with who decided it. Returns the keys changed;
    nothing is saved if any field is wrong (errors keyed "value-<key>" / "reason-<key>")."""
    rows = list(ConfigurationProfileKey.objects.select_for_update().filter(profile=profile))
    errors, changed, audit = {}, [], {}
    for row in rows:
        value = (values.get(row.key, row.value) or "").strip()
        reason = (reasons.get(row.key, row.not_applicable_reason) or "").strip()
        if row.is_secret:
            value = row.value  # generated per station: nothing to enter
        if len(value) > 500:  # OCPP 1.6 §6.9: value is CiString500Type
            errors[f"value-{row.key}"] = "At most 500 characters (OCPP 1.6 §6.9)."
        if len(reason) > 300:
            errors[f"reason-{row.key}"] = "At most 300 characters."
        if reason and profile.is_default:
            errors[f"reason-{row.key}"] = (
                "The default is for every charger: waive keys in a vendor/model profile."
            )
        if (value, reason) == (row.value, row.not_applicable_reason):
            continue
        audit[row.key] = {
            "value": [row.value, value],
            "not_applicable_reason": [row.not_applicable_reason, reason],
        }
        if reason != row.not_applicable_reason:
            row.not_applicable_by = acting_user if reason else None
        row.value, row.not_applicable_reason = value, reason
        changed.append(row)
    if errors:
        raise ValidationError(errors)
    if changed:
        ConfigurationProfileKey.objects.bulk_update(
            changed, ["value", "not_applicable_reason", "not_applicable_by"]
        )
        ConfigurationProfile.objects.filter(pk=profile.pk).update(updated_at=timezone.now())
        audit_record(actor=acting_user, action="configuration_profile.update", obj=profile, changes=audit)
    return [row.key for row in changed]
