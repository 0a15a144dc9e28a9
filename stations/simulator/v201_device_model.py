"""The simulated 2.0.1 charger's device model (OCPP 2.0.1 part 2 §2.3 and the standardized components of its
appendix): components with variables, each with an Actual value, a mutability and a data type, and the rules a
real charger applies to GetVariables / SetVariables (B05, B06):

- unknown component -> UnknownComponent; known component, unknown variable -> UnknownVariable;
- an attribute type other than Actual on a variable that has only Actual -> NotSupportedAttributeType;
- ReadOnly -> Rejected on set; WriteOnly (BasicAuthPassword) -> Rejected on get (part 2 §2.2.1: write-only, so
  the CSMS never reads it back);
- a value that does not fit the data type (integer, boolean, MemberList of the values list) -> Rejected;
- variables listed in reject_variables always Rejected, those in reboot_variables RebootRequired;
- variables listed in ignore_variables: a faulty charger that answers Accepted but keeps its old value (the CSMS
  must read back with GetVariables to find out; the 1.6 simulator's ignore_keys).

Keys are "Component.Variable" (station-wide instances only; the EVSE and Connector components are reported
per EVSE but not settable). The connection loop uses int(key), keys[key].value, snapshot() and load()."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC,Energy.Active.Export.Register"


@dataclass
class Variable:
    component: str
    variable: str
    value: str
    mutability: str = "ReadWrite"  # ReadOnly / WriteOnly / ReadWrite
    data_type: str = "string"  # string / integer / boolean / MemberList / SequenceList / OptionList
    unit: str | None = None
    values_list: str | None = None

    @property
    def key(self) -> str:
        return f"{self.component}.{self.variable}"


def default_variables(
    *, vendor: str, model: str, serial_number: str, firmware: str, ocpp_id: str
) -> list[Variable]:
    tx_points = "ParkingBayOccupancy,EVConnected,Authorized,DataSigned,PowerPathClosed,EnergyTransfer"
    return [
        Variable("ChargingStation", "Model", model, "ReadOnly"),
        Variable("ChargingStation", "VendorName", vendor, "ReadOnly"),
        Variable("ChargingStation", "SerialNumber", serial_number, "ReadOnly"),
        Variable("ChargingStation", "AvailabilityState", "Available", "ReadOnly", "OptionList"),
        Variable("Controller", "FirmwareVersion", firmware, "ReadOnly"),
        Variable("OCPPCommCtrlr", "HeartbeatInterval", "300", data_type="integer", unit="s"),
        Variable("OCPPCommCtrlr", "WebSocketPingInterval", "30", data_type="integer", unit="s"),
        Variable("OCPPCommCtrlr", "OfflineThreshold", "600", data_type="integer", unit="s"),
        Variable("OCPPCommCtrlr", "MessageAttempts", "5", "ReadOnly", "integer"),
        Variable("OCPPCommCtrlr", "NetworkConfigurationPriority", "0", data_type="SequenceList"),
        Variable(
            "SampledDataCtrlr",
            "TxUpdatedMeasurands",
            "Energy.Active.Import.Register",
            data_type="MemberList",
            values_list=MEASURANDS,
        ),
        Variable("SampledDataCtrlr", "TxUpdatedInterval", "300", data_type="integer", unit="s"),
        Variable(
            "SampledDataCtrlr",
            "TxEndedMeasurands",
            "Energy.Active.Import.Register",
            data_type="MemberList",
            values_list=MEASURANDS,
        ),
        Variable("SampledDataCtrlr", "TxEndedInterval", "0", data_type="integer", unit="s"),
        Variable(
            "SampledDataCtrlr",
            "TxStartedMeasurands",
            "Energy.Active.Import.Register",
            data_type="MemberList",
            values_list=MEASURANDS,
        ),
        Variable("AlignedDataCtrlr", "Measurands", "", data_type="MemberList", values_list=MEASURANDS),
        Variable("AlignedDataCtrlr", "Interval", "0", data_type="integer", unit="s"),
        Variable("AuthCtrlr", "Enabled", "true", data_type="boolean"),
        Variable("AuthCtrlr", "AuthorizeRemoteStart", "true", data_type="boolean"),
        Variable("AuthCtrlr", "LocalAuthorizeOffline", "true", data_type="boolean"),
        Variable("AuthCtrlr", "LocalPreAuthorize", "true", data_type="boolean"),
        Variable("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "false", data_type="boolean"),
        Variable("AuthCacheCtrlr", "Enabled", "false", data_type="boolean"),
        Variable("AuthCacheCtrlr", "LifeTime", "86400", data_type="integer", unit="s"),
        Variable("TxCtrlr", "TxStartPoint", "PowerPathClosed", data_type="MemberList", values_list=tx_points),
        Variable(
            "TxCtrlr", "TxStopPoint", "EVConnected,Authorized", data_type="MemberList", values_list=tx_points
        ),
        Variable("TxCtrlr", "StopTxOnInvalidId", "true", data_type="boolean"),
        Variable("TxCtrlr", "EVConnectionTimeOut", "60", data_type="integer", unit="s"),
        Variable("SecurityCtrlr", "BasicAuthPassword", "", "WriteOnly"),
        Variable("SecurityCtrlr", "SecurityProfile", "1", "ReadOnly", "integer"),
        Variable("SecurityCtrlr", "Identity", ocpp_id, "ReadOnly"),
        Variable("DeviceDataCtrlr", "ItemsPerMessage", "20", "ReadOnly", "integer"),
        Variable("DeviceDataCtrlr", "BytesPerMessage", "8192", "ReadOnly", "integer"),
        # A vendor component that is in the device model but read-only: its SetVariables is Rejected.
        Variable("LocalAuthListCtrlr", "Enabled", "false", "ReadOnly", "boolean"),
    ]


class DeviceModel:
    def __init__(
        self,
        variables: list[Variable],
        *,
        evses: int,
        reject_variables: Iterable[str] = (),
        reboot_variables: Iterable[str] = (),
    ):
        self.keys: dict[str, Variable] = {v.key: v for v in variables}
        self.evses = evses
        self.reject = {k.lower() for k in reject_variables}
        self.reboot = {k.lower() for k in reboot_variables}
        self.ignore_variables: set[str] = set()  # lower-case keys: Accepted, value kept (see the docstring)

    # -- what the connection loop uses -------------------------------------------------------------

    def int(self, key: str, default: int = 0) -> int:
        try:
            return int(self.keys[key].value)
        except (KeyError, ValueError):
            return default

    def bool(self, key: str) -> bool:
        return self.keys[key].value.lower() == "true" if key in self.keys else False

    def csl(self, key: str) -> list[str]:
        return [p.strip() for p in (self.keys[key].value if key in self.keys else "").split(",") if p.strip()]

    def snapshot(self) -> dict[str, str]:
        return {k: v.value for k, v in self.keys.items() if v.mutability != "ReadOnly"}

    def load(self, values: dict[str, str]) -> None:
        for k, value in values.items():
            if k in self.keys:
                self.keys[k].value = value

    # -- GetVariables / SetVariables ---------------------------------------------------------------

    def _find(self, component: dict, variable: dict) -> tuple[str, Variable | None]:
        name, var = component.get("name", ""), variable.get("name", "")
        if component.get("evse") or component.get("instance") or variable.get("instance"):
            # Only station-wide instances here; per-EVSE components are reported, not addressable.
            return ("UnknownComponent" if name not in ("EVSE", "Connector") else "UnknownVariable"), None
        if not any(v.component == name for v in self.keys.values()) and name not in ("EVSE", "Connector"):
            return "UnknownComponent", None
        found = self.keys.get(f"{name}.{var}")
        return ("Accepted", found) if found else ("UnknownVariable", None)

    def get(self, component: dict, variable: dict, attribute_type: str = "Actual") -> tuple[str, str | None]:
        status, found = self._find(component, variable)
        if found is None:
            return status, None
        if attribute_type != "Actual":
            return "NotSupportedAttributeType", None
        if found.mutability == "WriteOnly":
            return "Rejected", None
        return "Accepted", found.value

    def set(self, component: dict, variable: dict, value: str, attribute_type: str = "Actual") -> str:
        status, found = self._find(component, variable)
        if found is None:
            return status
        if attribute_type != "Actual":
            return "NotSupportedAttributeType"
        if (
            found.mutability == "ReadOnly"
            or found.key.lower() in self.reject
            or not self._valid(found, value)
        ):
            return "Rejected"
        if found.key.lower() not in self.ignore_variables:
            found.value = value
        return "RebootRequired" if found.key.lower() in self.reboot else "Accepted"

    @staticmethod
    def _valid(found: Variable, value: str) -> bool:
        if found.data_type == "integer":
            return value.lstrip("-").isdigit()
        if found.data_type == "boolean":
            return value.lower() in ("true", "false")
        if found.data_type == "MemberList" and found.values_list:
            allowed = {p.strip() for p in found.values_list.split(",")}
            return all(p.strip() in allowed for p in value.split(",") if p.strip())
        if found.variable == "BasicAuthPassword":
            return 16 <= len(value) <= 40  # part 2 §2.2.1 BasicAuthPassword: 16 to 40 characters
        return len(value) <= 2500

    # -- NotifyReport ------------------------------------------------------------------------------

    def report(self, component_variable: list | None = None) -> list[dict]:
        """The full inventory (B07 FullInventory) as reportData, in camelCase; with GetReport's
        componentVariable (B08), only the listed components (a variable given: only that variable).
        componentCriteria is not applied: this model has no Active/Available/Enabled/Problem variables."""
        items = self._inventory()
        if not component_variable:
            return items
        return [i for i in items if any(_matches(i, wanted) for wanted in component_variable)]

    def _inventory(self) -> list[dict]:
        items = []
        for v in self.keys.values():
            attribute = {"type": "Actual", "mutability": v.mutability, "persistent": True, "constant": False}
            if v.mutability != "WriteOnly":
                attribute["value"] = v.value
            characteristics: dict = {"dataType": v.data_type, "supportsMonitoring": False}
            if v.unit:
                characteristics["unit"] = v.unit
            if v.values_list:
                characteristics["valuesList"] = v.values_list
            items.append(
                {
                    "component": {"name": v.component},
                    "variable": {"name": v.variable},
                    "variableAttribute": [attribute],
                    "variableCharacteristics": characteristics,
                }
            )
        for evse in range(1, self.evses + 1):
            items.append(
                _ro({"name": "EVSE", "evse": {"id": evse}}, "AvailabilityState", "Available", "OptionList")
            )
            items.append(_ro({"name": "EVSE", "evse": {"id": evse}}, "Power", "22080", "decimal"))
            items.append(
                _ro(
                    {"name": "Connector", "evse": {"id": evse, "connectorId": 1}},
                    "ConnectorType",
                    "cType2",
                    "string",
                )
            )
        return items


def _matches(item: dict, wanted: dict) -> bool:
    """GetReport's componentVariable entry (snake_case from the library, or camelCase) against a reportData
    item: same component name (and EVSE/instance when given), and the variable when one is given."""
    component = wanted.get("component") or {}
    variable = wanted.get("variable") or {}
    got = item["component"]
    if component.get("name") != got.get("name"):
        return False
    if component.get("instance") and component.get("instance") != got.get("instance"):
        return False
    evse = component.get("evse") or {}
    if evse.get("id") is not None and evse.get("id") != (got.get("evse") or {}).get("id"):
        return False
    return not variable.get("name") or variable.get("name") == item["variable"].get("name")


def _ro(component: dict, variable: str, value: str, data_type: str) -> dict:
    return {
        "component": component,
        "variable": {"name": variable},
        "variableAttribute": [
            {"type": "Actual", "value": value, "mutability": "ReadOnly", "persistent": True, "constant": True}
        ],
        "variableCharacteristics": {"dataType": data_type, "supportsMonitoring": False},
    }
