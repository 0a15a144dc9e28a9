"""One station's bad input never costs another station its connection (fault tolerance, item 1).

A real daphne process on PostgreSQL. Forty well-behaved stations send Heartbeat and StatusNotification while one
poison station on the same process sends frames carrying what no database column holds (a lone surrogate
escape, U+0000). Before, the journal's batch INSERT failed ("surrogates not allowed") and every station in that
batch was closed. Counted here: disconnects of the good stations, their unanswered calls, and the poison
station's answers and its own connection."""

import asyncio
import json

import pytest
import websockets

from stations.models import MessageLog, Station
from tests.conftest import start_daphne
from tests.stations.ocpp_helpers import connect

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

GOOD, ROUNDS, POISON_FRAMES = 40, 15, 60
BAD = [
    '[2,"p-{i}","DataTransfer",{{"vendorId":"x","data":"\\ud800"}}]',
    '[2,"p-{i}","BootNotification",{{"chargePointVendor":"A\\u0000","chargePointModel":"M"}}]',
    '[2,"p-{i}-\\udfff","Heartbeat",{{}}]',
    '[2,"p-{i}","StatusNotification",{{"connectorId":1,"errorCode":"NoError","status":"Available","info":"\\ud83d"}}]',
]


async def _call(ws, message_id, action, payload):
    await ws.send(json.dumps([2, message_id, action, payload]))
    return json.loads(await asyncio.wait_for(ws.recv(), 30))


async def _good(server, n: int, results: dict, start: asyncio.Event):
    answered = 0
    try:
        async with await connect(server, f"CP-GOOD-{n}") as ws:
            await start.wait()
            for r in range(ROUNDS):
                a = await _call(ws, f"hb-{r}", "Heartbeat", {})
                s = await _call(
                    ws,
                    f"st-{r}",
                    "StatusNotification",
                    {
                        "connectorId": 1,
                        "errorCode": "NoError",
                        "status": "Available" if r % 2 else "Preparing",
                    },
                )
                answered += (a[0] == 3) + (s[0] == 3)
        results[n] = ("ok", answered)
    except websockets.ConnectionClosed as e:
        results[n] = ("closed", answered, str(e))


async def _poison(server, out: dict, start: asyncio.Event):
    async with await connect(server, "CP-POISON") as ws:
        start.set()
        codes = []
        for i in range(POISON_FRAMES):
            await ws.send(BAD[i % len(BAD)].format(i=i))
            answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
            codes.append((answer[0], answer[2]))
        alive = await _call(ws, "hb-last", "Heartbeat", {})
        out["codes"], out["alive"] = codes, alive[0] == 3


def test_a_poison_station_disconnects_nobody(transactional_db, tmp_path):
    server = start_daphne(tmp_path, "daphne-poison", OCPP_NEW_STATIONS_PER_IP_PER_HOUR=1000)
    try:

        async def scenario():
            results, poison, start = {}, {}, asyncio.Event()
            await asyncio.gather(
                _poison(server, poison, start), *(_good(server, n, results, start) for n in range(GOOD))
            )
            return results, poison

        results, poison = asyncio.run(scenario())
    finally:
        server.stop()
    closed = {n: r for n, r in results.items() if r[0] != "ok"}
    assert closed == {}  # zero disconnects of well-behaved stations
    assert sum(r[1] for r in results.values()) == GOOD * ROUNDS * 2  # every call of theirs answered
    assert poison["codes"] == [(4, "FormationViolation")] * POISON_FRAMES and poison["alive"]
    # Every frame journaled, the poison frames included (escaped, not dropped).
    poison_pk = Station.objects.get(ocpp_id="CP-POISON").pk
    assert MessageLog.objects.filter(station_id=poison_pk, direction="in").count() == POISON_FRAMES + 1
    assert "\\ud800" in MessageLog.objects.get(station_id=poison_pk, message_id="p-0", direction="in").payload
