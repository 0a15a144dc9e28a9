"""Broken and hostile frames (tests/fixtures/ocpp/malformed_frames.json) each get the CALLERROR OCPP-J 1.6
§4.2.3 names, spelled as 1.6 spells them (errata §5.1/§5.2 keep "FormationViolation" and
"OccurenceConstraintViolation"), and the connection lives on: the next Heartbeat is still answered."""

import asyncio
import json

import pytest

from stations.models import MessageLog, Station
from tests.stations.ocpp_helpers import connect, exchange, fixture_frames, heartbeat_ok

pytestmark = pytest.mark.django_db(transaction=True)

CASES = fixture_frames("malformed_frames.json")


def test_each_malformed_frame_gets_its_callerror_and_the_connection_lives_on(daphne_server):
    async def scenario():
        results = []
        async with await connect(daphne_server, "CP-HOSTILE") as ws:
            for case in CASES:
                answer = await exchange(ws, case["send"])
                results.append((case, answer, await heartbeat_ok(ws, f"hb-{case['name']}"[:36])))
        return results

    failures = []
    for case, answer, still_alive in asyncio.run(scenario()):
        got = (answer[0], answer[1], answer[2]) if len(answer) == 5 else tuple(answer)
        if got != (4, case["expect_id"], case["expect_code"]) or not still_alive:
            failures.append((case["name"], got, still_alive))
        else:
            assert isinstance(answer[3], str) and isinstance(answer[4], dict)
    assert failures == []


def test_frames_a_database_cannot_hold_are_journaled_losslessly(daphne_server):
    """A lone surrogate escape or U+0000 is journaled as its JSON escape (PostgreSQL text holds neither)."""
    FRAME = '[2,"sur-\\ud800","DataTransfer",{"vendorId":"x","data":"a\\u0000b"}]'

    async def scenario():
        async with await connect(daphne_server, "CP-HOSTILE-U") as ws:
            await exchange(ws, FRAME)
            assert await heartbeat_ok(ws)

    asyncio.run(scenario())
    rows = list(MessageLog.objects.filter(station__ocpp_id="CP-HOSTILE-U").order_by("id"))
    assert [(r.direction, r.kind) for r in rows][:2] == [
        ("in", MessageLog.Kind.INVALID),
        ("out", MessageLog.Kind.CALLERROR),
    ]
    assert rows[0].message_id == "sur-\\ud800" and rows[0].payload == FRAME
    assert json.loads(rows[0].payload) == [
        2,
        "sur-\ud800",
        "DataTransfer",
        {"vendorId": "x", "data": "a\x00b"},
    ]
    assert json.loads(rows[1].payload)[:3] == [4, "sur-\ud800", "FormationViolation"]


def test_frames_that_are_not_valid_json_are_journaled_as_invalid(daphne_server):
    async def scenario():
        async with await connect(daphne_server, "CP-HOSTILE-J") as ws:
            await exchange(ws, "this is not json")

    asyncio.run(scenario())
    rows = list(MessageLog.objects.filter(station__ocpp_id="CP-HOSTILE-J").order_by("id"))
    assert [(r.direction, r.kind) for r in rows] == [
        ("in", MessageLog.Kind.INVALID),
        ("out", MessageLog.Kind.CALLERROR),
    ]
    assert rows[0].payload == "this is not json"
    assert json.loads(rows[1].payload)[:3] == [4, "-1", "FormationViolation"]


def test_a_frame_over_the_size_limit_is_refused_before_parsing(daphne_server):
    async def scenario():
        async with await connect(daphne_server, "CP-BIG") as ws:
            assert await heartbeat_ok(ws, "before")
            # Valid JSON, valid envelope, valid action: only its size is wrong (256 KiB + a bit).
            await ws.send(
                json.dumps([2, "big-1", "DataTransfer", {"vendorId": "x", "data": "A" * (256 * 1024)}])
            )
            await asyncio.wait_for(ws.wait_closed(), 20)
            code = ws.close_code
        async with await connect(daphne_server, "CP-BIG") as ws:
            return code, await heartbeat_ok(ws, "after")

    code, reconnected = asyncio.run(scenario())
    assert code == 1000 and reconnected
    station = Station.objects.get(ocpp_id="CP-BIG")
    assert not MessageLog.objects.filter(station=station, message_id="big-1").exists()  # never parsed


def test_a_callerror_from_the_station_for_an_unknown_call_is_not_answered(daphne_server):
    async def scenario():
        async with await connect(daphne_server, "CP-STRAY") as ws:
            await ws.send(json.dumps([4, "nobody-asked", "GenericError", "", {}]))
            await ws.send(json.dumps([3, "nobody-asked-2", {}]))
            # The next frame we get is the answer to this heartbeat, not a reply to the stray answers.
            return await exchange(ws, [2, "hb-stray", "Heartbeat", {}])

    assert asyncio.run(scenario())[:2] == [3, "hb-stray"]
