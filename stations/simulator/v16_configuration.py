"""The OCPP 1.6 configuration of the simulated charger: the keys it reports (§9.1 Core keys and the
security whitepaper's §7 keys) and the rules by which it answers GetConfiguration (§5.8) and
ChangeConfiguration (§5.3). Pure logic, no I/O: the station (stations/simulator/v16.py) acts on the side
effects of a change."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ocpp.v16.enums import ConfigurationStatus

from .meter import MEASURANDS, PHASES


@dataclass
class ConfigKey:
    value: str | None
    readonly: bool = False
    kind: str = "string"  # "int", "bool", "csl" or "string"
    minimum: int | None = None
    maximum: int | None = None
    items: frozenset[str] | None = None  # allowed CSL items
    max_items_key: str | None = None  # "[KeyName]MaxLength" (OCPP 1.6 §5.3)
    write_only: bool = False  # security whitepaper §7.2 AuthorizationKey


def _measurand_csl(default: str) -> ConfigKey:
    return ConfigKey(default, kind="csl", items=MEASURANDS)


def default_configuration(connectors: int) -> dict[str, ConfigKey]:
    """The OCPP 1.6 §9.1 Core keys a typical AC charger reports, plus the security whitepaper's §7 keys.
    Accessibility as §9 states it; where the spec leaves "R or RW" to the implementation, RW."""
    rotation = ",".join(f"{i}.RST" for i in range(connectors + 1))
    keys = {
        "AllowOfflineTxForUnknownId": ConfigKey("false", kind="bool"),  # §9.1.1
        "AuthorizationCacheEnabled": ConfigKey("true", kind="bool"),  # §9.1.2
        "AuthorizeRemoteTxRequests": ConfigKey("true", kind="bool"),  # §9.1.3
        "BlinkRepeat": ConfigKey("3", kind="int", minimum=0, maximum=100),  # §9.1.4
        "ClockAlignedDataInterval": ConfigKey("0", kind="int", minimum=0, maximum=86400),  # §9.1.5
        "ConnectionTimeOut": ConfigKey("60", kind="int", minimum=0, maximum=3600),  # §9.1.6
        "ConnectorPhaseRotation": ConfigKey(rotation, kind="csl"),  # §9.1.7
        "ConnectorPhaseRotationMaxLength": ConfigKey(str(connectors + 1), readonly=True, kind="int"),
        "GetConfigurationMaxKeys": ConfigKey("50", readonly=True, kind="int"),  # §9.1.9
        "HeartbeatInterval": ConfigKey("300", kind="int", minimum=0, maximum=86400),  # §9.1.10
        "LightIntensity": ConfigKey("100", kind="int", minimum=0, maximum=100),  # §9.1.11
        "LocalAuthorizeOffline": ConfigKey("true", kind="bool"),  # §9.1.12
        "LocalPreAuthorize": ConfigKey("false", kind="bool"),  # §9.1.13
        "MaxEnergyOnInvalidId": ConfigKey("0", kind="int", minimum=0),  # §9.1.14
        "MeterValuesAlignedData": _measurand_csl("Energy.Active.Import.Register"),  # §9.1.15
        "MeterValuesAlignedDataMaxLength": ConfigKey("8", readonly=True, kind="int"),
        "MeterValuesSampledData": _measurand_csl(  # §9.1.17
            "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"
        ),
        "MeterValuesSampledDataMaxLength": ConfigKey("8", readonly=True, kind="int"),
        "MeterValueSampleInterval": ConfigKey("60", kind="int", minimum=0, maximum=3600),  # §9.1.19
        "MinimumStatusDuration": ConfigKey("0", kind="int", minimum=0),  # §9.1.20
        "NumberOfConnectors": ConfigKey(str(connectors), readonly=True, kind="int"),  # §9.1.21
        "ResetRetries": ConfigKey("3", kind="int", minimum=0, maximum=10),  # §9.1.22
        "StopTransactionOnEVSideDisconnect": ConfigKey("true", kind="bool"),  # §9.1.23
        "StopTransactionOnInvalidId": ConfigKey("true", kind="bool"),  # §9.1.24
        "StopTxnAlignedData": _measurand_csl(""),  # §9.1.25
        "StopTxnAlignedDataMaxLength": ConfigKey("8", readonly=True, kind="int"),
        "StopTxnSampledData": _measurand_csl("Energy.Active.Import.Register"),  # §9.1.27
        "StopTxnSampledDataMaxLength": ConfigKey("8", readonly=True, kind="int"),
        # §9.1.29: only what this simulator really implements.
        "SupportedFeatureProfiles": ConfigKey(
            "Core,FirmwareManagement,RemoteTrigger", readonly=True, kind="csl"
        ),
        "SupportedFeatureProfilesMaxLength": ConfigKey("6", readonly=True, kind="int"),
        "TransactionMessageAttempts": ConfigKey("3", kind="int", minimum=0, maximum=10),  # §9.1.31
        "TransactionMessageRetryInterval": ConfigKey("60", kind="int", minimum=0),  # §9.1.32
        "UnlockConnectorOnEVSideDisconnect": ConfigKey("true", kind="bool"),  # §9.1.33
        # §9.1.34: "Negative values are not allowed" (minimum 0 → Rejected).
        "WebSocketPingInterval": ConfigKey("0", kind="int", minimum=0, maximum=3600),
        # Security whitepaper §7.2: write-only, "so that it cannot be accidentally stored in plaintext by the
        # Central System when it reads out all configuration keys". A00.FR.205: 16 to 40 characters.
        "AuthorizationKey": ConfigKey(None, kind="string", minimum=16, maximum=40, write_only=True),
        "SecurityProfile": ConfigKey("0", kind="int", minimum=0, maximum=3),  # whitepaper §7.6
    }
    for name, key in keys.items():
        if key.kind == "csl" and f"{name}MaxLength" in keys:
            key.max_items_key = f"{name}MaxLength"
    return keys


class Configuration:
    """The charger's key store: GetConfiguration (§5.8) and ChangeConfiguration (§5.3) semantics, no I/O."""

    def __init__(
        self,
        keys: dict[str, ConfigKey],
        *,
        reject_keys: Iterable[str] = (),
        reboot_keys: Iterable[str] = ("WebSocketPingInterval",),
    ):
        self.keys = keys
        # CiString keys are case-insensitive (§7 CiString50Type): match them so, answer with our spelling.
        self._names = {name.lower(): name for name in keys}
        self.reject_keys = {k.lower() for k in reject_keys}
        self.reboot_keys = {k.lower() for k in reboot_keys}
        # A faulty charger: answers Accepted for these keys but keeps its old value (the CSMS must read back).
        self.ignore_keys: set[str] = set()

    def name(self, key: str) -> str | None:
        return self._names.get(key.lower())

    def value(self, key: str) -> str | None:
        return self.keys[self._names[key.lower()]].value

    def int(self, key: str, default: int = 0) -> int:
        try:
            return int(self.value(key) or default)
        except ValueError:
            return default

    def bool(self, key: str) -> bool:
        return (self.value(key) or "").lower() == "true"

    def csl(self, key: str) -> list[str]:
        return [item.strip() for item in (self.value(key) or "").split(",") if item.strip()]

    def get(self, keys: list[str] | None) -> tuple[list[dict], list[str]]:
        """(configurationKey, unknownKey) for GetConfiguration.conf (§6.24). An empty or missing list means
        every key (§5.8). A write-only key is listed without a value."""
        if not keys:
            names, unknown = list(self.keys), []
        else:
            names, unknown = [], []
            for requested in keys:
                name = self.name(requested)
                if name is None:
                    unknown.append(requested)
                elif name not in names:
                    names.append(name)
        entries = []
        for name in names:
            key = self.keys[name]
            entry = {"key": name, "readonly": key.readonly}
            if not key.write_only and key.value is not None:
                entry["value"] = key.value
            entries.append(entry)
        return entries, unknown

    def change(self, key: str, value: str) -> ConfigurationStatus:
        """Apply ChangeConfiguration.req by the rules of §5.3. The caller acts on the side effects."""
        name = self.name(key)
        if name is None:
            return ConfigurationStatus.not_supported
        spec = self.keys[name]
        if spec.readonly or name.lower() in self.reject_keys:
            return ConfigurationStatus.rejected
        normalized = self._validate(spec, value)
        if normalized is None:
            # §5.3: "out-of-range values and ... values that do not conform to an expected format".
            return ConfigurationStatus.rejected
        if name == "SecurityProfile" and not self._security_profile_allowed(int(normalized)):
            return ConfigurationStatus.rejected
        if name.lower() in self.ignore_keys:
            return ConfigurationStatus.accepted
        spec.value = normalized
        if name.lower() in self.reboot_keys:
            return ConfigurationStatus.reboot_required
        return ConfigurationStatus.accepted

    def _security_profile_allowed(self, new: int) -> bool:
        current = self.int("SecurityProfile")
        if new <= current:
            return False  # whitepaper A05.FR.01: only upwards
        if new >= 2:
            return False  # A05.FR.03/04: no TLS certificates in a simulator
        return self.keys["AuthorizationKey"].value is not None  # A05.FR.02

    def _validate(self, spec: ConfigKey, value: str) -> str | None:
        if spec.kind == "bool":
            return value.lower() if value.lower() in {"true", "false"} else None
        if spec.kind == "int":
            try:
                number = int(value.strip())
            except ValueError:
                return None
            if spec.minimum is not None and number < spec.minimum:
                return None
            if spec.maximum is not None and number > spec.maximum:
                return None
            return str(number)
        if spec.kind == "csl":
            items = [item.strip() for item in value.split(",") if item.strip()]
            if spec.items is not None:
                for item in items:
                    # "Voltage.L1" style: the measurand combined with a phase (§9.1.17).
                    measurand, _, phase = item.rpartition(".")
                    if item in spec.items or (measurand in spec.items and phase in PHASES):
                        continue
                    return None
            if spec.max_items_key and len(items) > self.int(spec.max_items_key, 1):
                return None
            return ",".join(items)
        if spec.minimum is not None and len(value) < spec.minimum:
            return None
        if spec.maximum is not None and len(value) > spec.maximum:
            return None
        return value

    def snapshot(self) -> dict[str, str]:
        return {name: key.value for name, key in self.keys.items() if key.value is not None}

    def load(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            if name in self.keys and not self.keys[name].readonly:
                self.keys[name].value = value
