"""A simulated OCPP charge point, for people (``manage.py simulate_station``), tests and demos.

It is a client, using the mobilityhouse ``ocpp`` library's ChargePoint over a ``websockets`` connection. It
knows nothing about the server's code: it talks to it over a real socket, like a charger in the field. It
speaks OCPP 1.6J (subprotocol ``ocpp1.6``); the modules are cut so that another version can sit beside it:

- connection.py: the version-independent loop (connect, boot until accepted, heartbeat, reconnect, send calls,
  the state file), StationConnection;
- meter.py: the meter model (energy register, readings for a list of measurands);
- v16.py: SimulatedStation, the OCPP 1.6 handlers for the CSMS's calls; v16_transactions.py: connectors,
  statuses and transactions; v16_configuration.py: the 1.6 configuration keys and their rules.

Use from asyncio::

    from stations.simulator import SimulatedStation

    station = SimulatedStation("ws://127.0.0.1:8000/ocpp/", "CP-1", connectors=2, reject_keys={"LightIntensity"})
    task = asyncio.create_task(station.run())      # connects, boots, reports connectors 0..N, heartbeats;
    await station.wait_booted()                    # reconnects (with back-off) until stop()
    transaction_id = await station.swipe("CARD-1")  # a local session with a card (Authorize, StartTransaction)
    station.add_energy(1, 1500)                    # the meter moves by 1.5 kWh (deterministic, for tests)
    await station.stop_transaction(connector_id=1)  # StopTransaction with meterStop and transactionData
    await station.stop()                           # closes the socket; run() returns
    await task

From synchronous code (pytest, Playwright tests) use ``tests/simulated.py`` (``running_station``), which runs one
of these on a background thread, or ``manage.py simulate_station`` in a subprocess.

What the CSMS can do to it: see stations/simulator/v16.py.

Security profiles (1.6 security whitepaper §7.6): with ``password`` the charger runs profile 1 (HTTP Basic with
that AuthorizationKey); without, profile 0: it stores an AuthorizationKey it is sent but connects without
credentials until the CSMS raises SecurityProfile to 1 (then it reconnects with HTTP Basic, A05.FR.06-07).

State that a real charger keeps across reboots (configuration, AuthorizationKey, meter registers, connector
availability) lives on this object, so it survives reconnects and Reset, and optionally in a JSON file
(``state_file``). Inspect for tests: ``boot_count``, ``registration_status``, ``heartbeat_interval``,
``connectors[i]`` (status, transaction_id, meter_wh), ``configuration.value(key)``, ``password``,
``received`` (CSMS calls as ``(action, payload)``), ``sent`` (our calls as ``(action, payload, response)``).
"""

from .connection import StationConnection
from .v16 import SimulatedStation
from .v16_configuration import ConfigKey, Configuration, default_configuration
from .v16_transactions import ConnectorState

__all__ = [
    "ConfigKey",
    "Configuration",
    "ConnectorState",
    "SimulatedStation",
    "StationConnection",
    "default_configuration",
]
