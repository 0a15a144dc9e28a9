#!/usr/bin/env python
"""Case conversion of one 3-phase MeterValues payload (11 sampled values, as bench/load.py sends): the `ocpp`
library's regex conversion against stations.ocpp.case (per-key cache), in the same run; prints both and the
ratio. CPU only, no I/O: `timeit`'s best of --repeat runs of --number conversions.

    .venv/bin/python bench/case_conversion.py"""

import argparse
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ocpp.charge_point import camel_to_snake_case  # noqa: E402

from stations.ocpp import case  # noqa: E402

SAMPLE = [
    {"value": v, "measurand": m, "unit": u, **({"phase": p} if p else {}), "context": "Sample.Periodic"}
    for v, m, u, p in [
        ("12345", "Energy.Active.Import.Register", "Wh", None),
        ("11000", "Power.Active.Import", "W", None),
        *[("16.0", "Current.Import", "A", ph) for ph in ("L1", "L2", "L3")],
        *[("230.1", "Voltage", "V", ph) for ph in ("L1-N", "L2-N", "L3-N")],
        *[("3.7", "Power.Active.Import", "kW", ph) for ph in ("L1",)],
        ("40", "SoC", "Percent", None),
        ("11.0", "Power.Offered", "kW", None),
    ]
]
PAYLOAD = {
    "connectorId": 1,
    "transactionId": 42,
    "meterValue": [{"timestamp": "2026-12-01T10:00:00Z", "sampledValue": SAMPLE}],
}

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--number", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    assert case.to_snake(PAYLOAD) == camel_to_snake_case(PAYLOAD)
    lib = min(timeit.repeat(lambda: camel_to_snake_case(PAYLOAD), number=args.number, repeat=args.repeat))
    ours = min(timeit.repeat(lambda: case.to_snake(PAYLOAD), number=args.number, repeat=args.repeat))
    per = 1e6 / args.number
    print(
        f"library regex: {lib * per:.1f} us per MeterValues; cached: {ours * per:.1f} us; {lib / ours:.1f}x faster"
    )
