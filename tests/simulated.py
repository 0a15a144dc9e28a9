"""Run a simulated charger from synchronous tests (pytest, Playwright).

In-process, on a background thread with its own event loop (inspect and drive it directly)::

    from tests.simulated import running_station

    def test_something(daphne_server):
        with running_station(daphne_server, "CP-1", reject_keys={"LightIntensity"}) as sim:
            sim.wait_booted()                        # BootNotification accepted, connectors 0..N reported
            transaction_id = sim.swipe("CARD-1")    # a local session (Authorize, StartTransaction, Charging)
            sim.station.add_energy(1, 1500)          # plain attribute access is fine for reads and small pokes
            sim.call(sim.station.stop_transaction, connector_id=1)   # any coroutine method of the station
            wait_for(sim.alive(lambda: sim.station.connectors[1].status == "Available"), message=sim.describe)

As a separate process (``manage.py simulate_station``, exactly what a person runs)::

    with simulator_process(daphne_server, "CP-2", "--reject-key", "LightIntensity", tmp_path=tmp_path) as proc:
        proc.wait_for_output("online")
        ...

`server` is the ``daphne_server`` fixture's object (anything with ``ws_url``) or a ``ws://.../ocpp/`` URL. Keyword
arguments go to ``stations.simulator.SimulatedStation``. Waiting is tests/waiting.py's ``wait_for``; its timeouts
only bound how long a test waits for something to happen, they never assert on speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from stations.models import ConfigurationJob
from stations.services import configuration
from stations.simulator import SimulatedStation
from stations.simulator.v201 import SimulatedStation201
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent


def ocpp_url(server) -> str:
    if isinstance(server, str):
        return server
    return server.ws_url.rstrip("/") + "/ocpp/"


class StationThread:
    """A SimulatedStation running on its own asyncio loop in a daemon thread."""

    def __init__(self, server, ocpp_id: str, *, station_class: type = SimulatedStation, **kwargs):
        kwargs.setdefault("reboot_delay", 0.3)
        self.station = station_class(ocpp_url(server), ocpp_id, **kwargs)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"sim-{ocpp_id}", daemon=True)
        self._task_done = threading.Event()
        self.error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.station.run())
            # Let @after hooks and meter loops that are still scheduled wind down before the loop closes.
            leftovers = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for task in leftovers:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        except BaseException as exc:  # surfaced by stop() so a crashed simulator fails the test
            self.error = exc
        finally:
            self._task_done.set()

    def start(self) -> StationThread:
        self._thread.start()
        return self

    def call(self, coroutine_function: Callable, *args, timeout: float = 60, **kwargs):
        """Run `await coroutine_function(*args, **kwargs)` on the station's loop and return its result."""
        future = asyncio.run_coroutine_threadsafe(coroutine_function(*args, **kwargs), self.loop)
        return future.result(timeout)

    def describe(self) -> str:
        """For a wait's failure message: what the simulator last saw go wrong."""
        crashed = f", crashed: {self.error!r}" if self.error is not None else ""
        return f"{self.station.ocpp_id} (last error: {self.station.last_error}{crashed})"

    def alive(self, predicate: Callable[[], object]) -> Callable[[], object]:
        """`predicate`, but a crashed simulator ends the wait at once instead of at its timeout."""

        def check():
            if self.error is not None:
                raise RuntimeError(f"simulator crashed: {self.error!r}") from self.error
            return predicate()

        return check

    def wait_booted(self, count: int = 1, timeout: float = 30) -> None:
        """Wait until `count` BootNotifications were accepted and the connector statuses went out."""
        wait_for(
            self.alive(lambda: self.station.boot_count >= count and self.station.connected),
            timeout=timeout,
            message=lambda: f"{count} accepted boot(s) of {self.describe()}",
        )

    def swipe(self, id_tag: str, connector_id: int | None = None) -> int | None:
        return self.call(self.station.swipe, id_tag, connector_id)

    def stop(self, *, stop_transactions: bool = False, timeout: float = 30) -> None:
        if self._thread.is_alive() and not self.loop.is_closed():
            with contextlib.suppress(Exception):
                self.call(self.station.stop, stop_transactions=stop_transactions, timeout=timeout)
            self._task_done.wait(timeout)
            self._thread.join(timeout)
        if not self._thread.is_alive() and not self.loop.is_closed():
            self.loop.close()
        if self.error is not None:
            raise RuntimeError(f"simulator crashed: {self.error!r}") from self.error

    def __enter__(self) -> StationThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def running_station(server, ocpp_id: str, **kwargs) -> Iterator[StationThread]:
    """A simulated charger for the duration of the block (see the module docstring)."""
    sim = StationThread(server, ocpp_id, **kwargs)
    with sim:
        yield sim


@contextlib.contextmanager
def running_station_201(server, ocpp_id: str, **kwargs) -> Iterator[StationThread]:
    """A simulated OCPP 2.0.1 charger (stations.simulator.v201.SimulatedStation201) for the block."""
    sim = StationThread(server, ocpp_id, station_class=SimulatedStation201, **kwargs)
    with sim:
        yield sim


class SimulatorProcess:
    def __init__(self, proc: subprocess.Popen, log: Path):
        self.proc, self.log = proc, log

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_output(self, text: str, timeout: float = 30, count: int = 1) -> None:
        """Wait until `text` has appeared `count` times in the simulator's log."""

        def seen():
            if self.output().count(text) >= count:
                return True
            if self.proc.poll() is not None:
                raise RuntimeError(f"simulate_station exited ({self.proc.returncode}):\n{self.output()}")
            return False

        wait_for(seen, timeout=timeout, message=lambda: f"{text!r} in the log:\n{self.output()}")

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: the command closes its socket cleanly
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextlib.contextmanager
def simulator_process(server, ocpp_id: str, *args: str, tmp_path: Path) -> Iterator[SimulatorProcess]:
    """``manage.py simulate_station <ocpp_id> --url <server>/ocpp/ <args>`` in a subprocess."""
    log = tmp_path / f"simulate_station-{ocpp_id}.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="eflux.settings")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "simulate_station", ocpp_id, "--url", ocpp_url(server), *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    sim = SimulatorProcess(proc, log)
    try:
        yield sim
    finally:
        sim.stop()


def run_job(station, kind, user):
    """Start Auto Configuration / Fix All through the service and wait until the job is done."""
    started = configuration.configuration_job_start(station=station, kind=kind, acting_user=user)
    assert started.created, started.message
    return wait_for(
        lambda: ConfigurationJob.objects.filter(
            pk=started.job.pk, status=ConfigurationJob.Status.DONE
        ).first(),
        timeout=120,
    )
