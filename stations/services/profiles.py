"""The platform's required configuration: the default profile per OCPP version (data operators edit in the
admin), and how a station's reported value is compared with the required one."""

from django.conf import settings
from django.db import IntegrityError, transaction

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
    return profile_default("2.0.1" if station.is_ocpp201 else "1.6")


def values_match(reported: str, desired: str) -> bool:
    """CiString comparison (OCPP 1.6 §7: configuration values are case-insensitive strings); comma separated
    lists (CSL, e.g. MeterValuesSampledData) compare as sets."""
    a = [p.strip().lower() for p in (reported or "").split(",") if p.strip()]
    b = [p.strip().lower() for p in (desired or "").split(",") if p.strip()]
    return sorted(a) == sorted(b)
