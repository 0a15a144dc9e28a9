"""manage.py simulate_station CP-1 [--ocpp 2.0.1]: a simulated OCPP 1.6J (default) or 2.0.1 charger that connects to
a running server.

It talks to the server only over the websocket (stations/simulator/), like a charger in the field, and logs
what it does in plain words. Stop it with Ctrl-C (or --duration)."""

import asyncio
import logging
import signal
import sys

from django.core.management.base import BaseCommand, CommandError

from stations.simulator.v16 import SimulatedStation
from stations.simulator.v201 import SimulatedStation201


class Command(BaseCommand):
    help = (
        "Run a simulated OCPP 1.6J or 2.0.1 charge point against a running server (boots, heartbeats, answers "
        "calls)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "ocpp_id", help="the charger's OCPP ID (identity in the URL, Basic-auth username)"
        )
        parser.add_argument(
            "--url",
            default="ws://127.0.0.1:8000/ocpp/",
            help="the server's OCPP base URL; the OCPP ID is appended (default %(default)s)",
        )
        parser.add_argument(
            "--password",
            default=None,
            help="HTTP Basic auth password: a security-profile-1 charger with this AuthorizationKey. Without it "
            "the charger runs profile 0: it stores a key it is sent but connects without credentials until "
            "SecurityProfile is raised to 1",
        )
        parser.add_argument(
            "--ocpp",
            choices=["1.6", "2.0.1"],
            default="1.6",
            help="the OCPP version it speaks (subprotocol ocpp1.6 or ocpp2.0.1; default %(default)s)",
        )
        parser.add_argument(
            "--connectors",
            type=int,
            default=2,
            help="number of connectors (2.0.1: EVSEs of one connector; default 2)",
        )
        parser.add_argument(
            "--reject-key",
            action="append",
            default=[],
            metavar="KEY",
            help="a configuration key whose ChangeConfiguration is always Rejected (repeatable); for 2.0.1 a "
            "Component.Variable whose SetVariables is Rejected",
        )
        parser.add_argument(
            "--reboot-key",
            action="append",
            default=None,
            metavar="KEY",
            help="a key whose change answers RebootRequired (repeatable; default WebSocketPingInterval, for 2.0.1 "
            "OCPPCommCtrlr.WebSocketPingInterval)",
        )
        parser.add_argument(
            "--heartbeat-interval",
            type=int,
            default=None,
            metavar="S",
            help="heartbeat every S seconds instead of the interval the server returns at boot",
        )
        parser.add_argument(
            "--meter-interval",
            type=int,
            default=None,
            metavar="S",
            help="MeterValueSampleInterval while charging (default 60)",
        )
        parser.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
        parser.add_argument(
            "--swipe",
            default=None,
            metavar="IDTAG",
            help="after booting, present this card and start a session on the first free connector",
        )
        parser.add_argument(
            "--state",
            default=None,
            metavar="FILE",
            help="keep configuration, password and meter readings in this JSON file across runs",
        )
        parser.add_argument("--serial", default=None, help="charge point serial number (default SIM-<id>)")
        parser.add_argument("--vendor", default="EfluxSim")
        parser.add_argument("--model", default="SIM-AC22")
        parser.add_argument(
            "--firmware", default=None, help="firmware version (default 1.6.0-sim / 2.0.1-sim)"
        )

    def handle(self, *args, **options):
        if options["connectors"] < 1:
            raise CommandError("--connectors must be at least 1")
        self._setup_logging(options["verbosity"])
        station: SimulatedStation | SimulatedStation201
        if options["ocpp"] == "2.0.1":
            station = SimulatedStation201(
                options["url"],
                options["ocpp_id"],
                password=options["password"],
                evses=options["connectors"],
                reject_variables=options["reject_key"],
                reboot_variables=options["reboot_key"] or ("OCPPCommCtrlr.WebSocketPingInterval",),
                heartbeat_interval=options["heartbeat_interval"],
                serial_number=options["serial"],
                vendor=options["vendor"],
                model=options["model"],
                firmware_version=options["firmware"] or "2.0.1-sim",
                state_file=options["state"],
            )
            if options["meter_interval"] is not None:
                station.configuration.keys["SampledDataCtrlr.TxUpdatedInterval"].value = str(
                    options["meter_interval"]
                )
        else:
            station = self._station_16(options)
        asyncio.run(self._main(station, options["duration"], options["swipe"]))
        self.stdout.write(
            f"{station.ocpp_id}: stopped ({station.boot_count} boot(s), "
            f"{station.connection_count} connection(s))"
        )

    def _station_16(self, options) -> SimulatedStation:
        return SimulatedStation(
            options["url"],
            options["ocpp_id"],
            password=options["password"],
            connectors=options["connectors"],
            reject_keys=options["reject_key"],
            reboot_keys=options["reboot_key"] or ("WebSocketPingInterval",),
            heartbeat_interval=options["heartbeat_interval"],
            meter_value_interval=options["meter_interval"],
            serial_number=options["serial"],
            vendor=options["vendor"],
            model=options["model"],
            firmware_version=options["firmware"] or "1.6.0-sim",
            state_file=options["state"],
        )

    async def _main(
        self, station: SimulatedStation | SimulatedStation201, duration: float | None, swipe: str | None
    ) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        runner = asyncio.create_task(station.run())
        if swipe:
            asyncio.create_task(self._swipe_after_boot(station, swipe))
        waiters = [asyncio.create_task(stopping.wait()), runner]
        done, _ = await asyncio.wait(waiters, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
        if runner not in done:
            # End running sessions as a person switching the charger off at the end of a demo would.
            await station.stop(stop_transactions=True)
            await runner

    async def _swipe_after_boot(self, station: SimulatedStation | SimulatedStation201, id_tag: str) -> None:
        await station.wait_booted(timeout=float("inf"))
        await station.swipe(id_tag)

    def _setup_logging(self, verbosity: int) -> None:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
        logger = logging.getLogger("eflux.simulator")
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
        # The ocpp library logs every raw frame at INFO, AuthorizationKey values included (whitepaper
        # A01.FR.12 forbids disclosing them): keep it to warnings.
        logging.getLogger("ocpp").setLevel(logging.WARNING)
