"""B3: two billing runs of one period at the same moment, as two real `manage.py billing_run` processes on
PostgreSQL. With the lease, one does the work and the other leaves; with the lease made useless (0 s, so both
pass it) the unique item keys, the one-document-per-run constraint, the row-locked drafts and the locked
numbering still make the result equal to one run: no duplicate items, lines or numbers, series 1..n."""

import subprocess
import sys

import pytest

from billing.models import BillingItem, BillingRun, Invoice, InvoiceLine
from tests.billing.billing_world import (
    agree,
    card_plan,
    local,
    roaming_card,
    session,
    station_plan,
    subscribe,
)
from tests.conftest import ROOT, server_env


def _world(own_station, foreign_card, alice_account, account_owner):
    own_station.allow_roaming = True
    own_station.save()
    subscribe(station_plan(), station=own_station)
    subscribe(card_plan(), card=foreign_card)
    agree(alice_account, account_owner)
    roam = roaming_card()
    for day in range(1, 29):
        session(
            own_station,
            foreign_card if day % 2 else roam,
            "public" if day % 2 else "roaming",
            local(2026, 1, day, 12, 0),
            connector_id=day,
        )


def _run_two(**env):
    cmd = [sys.executable, "manage.py", "billing_run", "--period", "2026-01", "--issue"]
    procs = [
        subprocess.Popen(
            cmd, cwd=ROOT, env=server_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-3000:]
        outs.append(out.strip())
    return outs


def _assert_one_run():
    assert BillingRun.objects.get(period="2026-01").status == "issued"
    issued = Invoice.objects.issued()
    assert issued.filter(kind="usage").count() == 2 and issued.filter(kind="self_billing").count() == 1
    for series in issued.values_list("series", flat=True).distinct():
        numbers = sorted(issued.filter(series=series).values_list("number", flat=True))
        assert numbers == list(range(1, len(numbers) + 1)), series
    lines = InvoiceLine.objects.filter(invoice__status="issued")
    item_ids = list(lines.values_list("billing_item_id", flat=True))
    assert len(item_ids) == len(set(item_ids)) == BillingItem.objects.filter(status="invoiced").count()
    assert not Invoice.objects.filter(status="draft").exists()
    # 28 sessions earn revenue once each.
    assert issued.get(kind="self_billing").lines.count() == 28


@pytest.mark.services
def test_b3_two_concurrent_runs_equal_one_run(
    transactional_db, own_station, foreign_card, alice_account, account_owner
):
    _world(own_station, foreign_card, alice_account, account_owner)
    outs = _run_two()
    assert all(o.startswith("period 2026-01:") for o in outs)
    # One did the work; the other found the lease taken or the run issued, and said nothing changed.
    assert sum("nothing changed" in o for o in outs) == 1, outs
    _assert_one_run()


@pytest.mark.services
def test_b3_even_without_the_lease_two_runs_bill_once(
    transactional_db, own_station, foreign_card, alice_account, account_owner
):
    _world(own_station, foreign_card, alice_account, account_owner)
    # A lease that has always expired already (a zero lease still refuses a run whose clock read `now` a
    # moment before the other's: CI saw that race), so the lease keeps nobody out and only the ledger's keys,
    # the draft rule and the locked numbering can keep the two runs from billing twice.
    outs = _run_two(BILLING_RUN_LEASE_SECONDS=-3600)
    # Neither was kept out by the lease: both ran the steps (overlapping, as both processes start together).
    assert not any("in progress" in o for o in outs), outs
    _assert_one_run()
