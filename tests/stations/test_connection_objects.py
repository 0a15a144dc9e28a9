"""The per-connection objects made lighter for capacity (docs/benchmarks.md, "Connect path and memory per
connection"): they behave as what they replace."""

import asyncio
import logging
import shutil
import subprocess

import pytest
from ocpp.routing import create_route_map

from stations import process_channel
from stations.consumers import _Connection
from stations.ocpp import autobahn_lazy_log, registry
from stations.ocpp.versions import CHARGE_POINT_CLASSES
from tests.conftest import start_daphne


@pytest.mark.parametrize("subprotocol", sorted(CHARGE_POINT_CLASSES))
def test_the_route_map_built_once_per_class_equals_the_librarys_per_instance_map(subprotocol):
    cp = CHARGE_POINT_CLASSES[subprotocol](ocpp_id="RM-1", connection=None, station_pk=1, connection_id="c")
    library = create_route_map(cp)  # what ocpp.ChargePoint.__init__ would have built for this instance
    assert library and set(cp.route_map.keys()) == set(library)
    for action, handlers in library.items():
        ours = cp.route_map.get(action)
        assert ours == handlers  # bound methods compare equal only if bound to the same instance
        assert all(getattr(h, "__self__", cp) is cp for h in ours.values() if callable(h))
    assert cp.route_map.get("NoSuchAction") is None
    other = CHARGE_POINT_CLASSES[subprotocol](
        ocpp_id="RM-2", connection=None, station_pk=2, connection_id="d"
    )
    action = next(iter(library))
    assert other.route_map.get(action)["_on_action"].__self__ is other


def test_frames_come_out_in_order_whether_or_not_recv_was_waiting():
    async def scenario():
        inbox = _Connection(consumer=None)
        inbox.put("a")
        inbox.put("b")
        got = [await inbox.recv(), await inbox.recv()]
        waiting = asyncio.ensure_future(inbox.recv())
        await asyncio.sleep(0)
        inbox.put("c")  # handed to the waiting recv
        inbox.put("d")
        inbox.put(None)  # the close, after every frame before it
        got += [await waiting, await inbox.recv(), await inbox.recv()]
        cancelled = asyncio.ensure_future(inbox.recv())
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.sleep(0)
        inbox.put("e")  # a recv that was cancelled does not swallow the next frame
        got.append(await inbox.recv())
        return got

    assert asyncio.run(scenario()) == ["a", "b", "c", "d", None, "e"]


class _FakeConsumer:
    def __init__(self, connection_id):
        self.connection_id = connection_id
        self.woken = 0
        self.superseded = 0

    def wake(self):
        self.woken += 1

    async def supersede(self):
        self.superseded += 1


def test_a_process_message_reaches_only_the_consumer_of_its_station_and_only_when_it_applies():
    async def scenario():
        held, other = _FakeConsumer("conn-held"), _FakeConsumer("conn-other")
        registry.register(990001, held)
        registry.register(990002, other)
        try:
            process_channel.deliver({"type": "ocpp.wake", "station_pk": 990001})
            process_channel.deliver({"type": "ocpp.wake", "station_pk": 990003})  # not held here: ignored
            # The newer connection itself is never superseded by the message announcing it.
            process_channel.deliver(
                {"type": "ocpp.superseded", "station_pk": 990001, "connection_id": "conn-held"}
            )
            process_channel.deliver(
                {"type": "ocpp.superseded", "station_pk": 990002, "connection_id": "newer"}
            )
            await asyncio.sleep(0.01)
        finally:
            registry.unregister(990001, held)
            registry.unregister(990002, other)
        return held, other

    held, other = asyncio.run(scenario())
    assert (held.woken, held.superseded) == (1, 0)
    assert (other.woken, other.superseded) == (0, 1)


def test_autobahn_builds_its_debug_text_only_when_the_line_is_written(caplog):
    from autobahn.websocket import protocol

    assert autobahn_lazy_log.install()
    calls = []

    class Probe:
        def __repr__(self):
            calls.append(1)
            return "Probe()"

    lazy = protocol.pformat([("autoPingInterval", Probe())])
    assert calls == []  # nothing formatted yet: a debug call with logging off costs no text
    assert f"\n{lazy}" == "\n[('autoPingInterval', Probe())]"
    assert calls == [1]
    assert str(protocol.Timings()) == "{}"  # Timings.__str__ still returns text
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("probe").debug("%s", protocol.pformat({"k": 1}))
    assert "{'k': 1}" in caplog.text


def test_process_channel_is_unreachable_without_a_shared_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        assert not process_channel.reachable()
        assert (
            asyncio.run(process_channel.send("some-process", {"type": "ocpp.wake", "station_pk": 1})) is False
        )
        assert asyncio.run(process_channel.join()) is False
    finally:
        channel_layers.backends.clear()


def test_ocpp_process_groups_are_valid_channel_group_names():
    from channels.layers import BaseChannelLayer

    layer = BaseChannelLayer()
    assert layer.require_valid_group_name(registry.process_group("0123456789abcdef0123456789abcdef"))


def test_a_consumer_cancelled_by_the_server_stops_its_tasks_and_leaves_the_registry():
    from stations.consumers import OcppConsumer

    async def scenario():
        consumer = OcppConsumer()
        consumer.station_pk = 990010
        consumer.cp_task = asyncio.ensure_future(asyncio.sleep(3600))  # the ChargePoint loop, waiting
        registry.register(990010, consumer)

        async def receive():
            await asyncio.sleep(3600)  # no more messages: daphne cancels the application instead

        app = asyncio.ensure_future(consumer({"type": "websocket"}, receive, None))
        await asyncio.sleep(0.01)
        app.cancel()
        await asyncio.gather(app, return_exceptions=True)
        await asyncio.sleep(0)
        return consumer

    consumer = asyncio.run(scenario())
    assert consumer.cp_task.cancelled()
    assert registry.local_consumer(990010) is None


def test_daphne_endpoints_get_the_listen_backlog_unless_they_name_one():
    from stations.ocpp.daphne_listen import with_backlog

    assert with_backlog("tcp:port=8001:interface=127.0.0.1", 4096) == (
        "tcp:port=8001:interface=127.0.0.1:backlog=4096"
    )
    assert with_backlog("unix:/run/eflux.sock", 1024) == "unix:/run/eflux.sock:backlog=1024"
    assert with_backlog("tcp:port=8001:backlog=10", 4096) == "tcp:port=8001:backlog=10"
    assert with_backlog("fd:fileno=3", 4096) == "fd:fileno=3"  # the socket's creator chose its backlog


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to read a listen backlog")
def test_a_daphne_process_listens_with_the_configured_backlog(transactional_db, tmp_path):
    server = start_daphne(tmp_path, OCPP_LISTEN_BACKLOG=777)
    try:
        out = subprocess.run(
            ["ss", "-ltnH", f"sport = :{server.port}"], capture_output=True, text=True, check=True
        ).stdout.split()
        assert out[0] == "LISTEN" and out[2] == "777"  # State Recv-Q Send-Q: Send-Q is a listener's backlog
    finally:
        server.stop()


def test_autobahn_styles_method_names_and_values_only_when_a_line_is_written():
    from autobahn import util
    from autobahn.twisted import websocket as twisted_websocket
    from autobahn.websocket import protocol

    assert autobahn_lazy_log.install()
    for module in (protocol, twisted_websocket):
        lazy_type, lazy_val = (
            module.hltype(test_autobahn_builds_its_debug_text_only_when_the_line_is_written),
            (module.hlval(42)),
        )
        assert not isinstance(lazy_type, str) and not isinstance(lazy_val, str)  # nothing styled yet
        assert str(lazy_type) == util.hltype(
            test_autobahn_builds_its_debug_text_only_when_the_line_is_written
        )
        assert f"{lazy_val}" == util.hlval(42)
