#!/usr/bin/env python
"""How long the monthly billing run takes for N completed sessions, compared in the same run with a baseline:
reading the same sessions once with the ORM (the least any run must do). Prints seconds and the ratio, and
the PDF rendering time per document (WeasyPrint), which the run does once per issued document.

    .venv/bin/python bench/billing_run.py --sessions 2000 --owners 20

Uses a fresh SQLite file in a temporary directory (or DATABASE_URL if set: then use a database of your own);
bounded by --sessions (at most 20,000)."""

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--owners", type=int, default=20)
    args = parser.parse_args()
    n = max(1, min(args.sessions, 20_000))
    owners = max(1, min(args.owners, n))
    tmp = tempfile.mkdtemp(prefix="eflux-bench-billing-")
    os.environ.setdefault("SQLITE_PATH", str(Path(tmp) / "bench.sqlite3"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eflux.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import Account, ChargeCard, User
    from billing.models import (
        BillingPlan,
        BillingPlanPrice,
        ChargingSession,
        SelfBillingAgreement,
        Subscription,
    )
    from billing.services.runs import billing_run
    from stations.models import Connector, Station

    user = User.objects.create(username="bench")
    plan = BillingPlan.objects.create(name="Bench plan")
    BillingPlanPrice.objects.create(
        plan=plan,
        effective_from=date(2026, 1, 1),
        price_per_period=Decimal("5"),
        platform_fee_per_kwh=Decimal("0.02"),
    )
    visitor = Account.objects.create(name="Visitors")
    card = ChargeCard.objects.create(id_tag="BENCHCARD", account=visitor)
    stations = []
    for i in range(owners):
        account = Account.objects.create(name=f"Owner {i}")
        station = Station.objects.create(ocpp_id=f"BENCH-{i}", account=account, allow_roaming=True)
        Connector.objects.create(station=station, connector_id=1)
        Subscription.objects.create(account=account, plan=plan, station=station, starts_on=date(2026, 1, 1))
        SelfBillingAgreement.objects.create(
            account=account,
            supplier_kind="private",
            legal_name=account.name,
            address="x",
            iban="NL91ABNA0417164300",
            accepted_at=datetime(2025, 12, 1, tzinfo=UTC),
            accepted_by=user,
        )
        stations.append(station)
    t0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
    ChargingSession.objects.bulk_create(
        ChargingSession(
            station=stations[i % owners],
            account=stations[i % owners].account,
            card=card,
            id_tag=card.id_tag,
            connector_id=1,
            transaction_id=i + 1,
            status="completed",
            auth_status="Accepted",
            auth_reason="public",
            started_at=t0 + timedelta(minutes=20 * i),
            stopped_at=t0 + timedelta(minutes=20 * i + 15),
            energy_wh=7000,
            price_per_kwh=Decimal("0.35"),
            energy_amount=Decimal("2.45"),
            subtotal=Decimal("2.45"),
            vat_rate=Decimal("21"),
            vat_amount=Decimal("0.51"),
            total=Decimal("2.96"),
        )
        for i in range(n)
    )
    last = ChargingSession.objects.order_by("-stopped_at").first().stopped_at
    period_end = datetime(last.year + (last.month == 12), last.month % 12 + 1, 1, 3, tzinfo=UTC)

    start = time.perf_counter()
    scanned = sum(
        1 for _ in ChargingSession.objects.select_related("station", "card").iterator(chunk_size=500)
    )
    baseline = time.perf_counter() - start

    from billing.models import Invoice
    from billing.services import invoices as invoice_services

    periods = sorted(
        {(s.year, s.month) for s in ChargingSession.objects.values_list("stopped_at", flat=True)}
    )
    # The run without its PDF step (rendered once per document, outside the issuing transactions): timed apart.
    render = invoice_services.invoice_render_pdf
    invoice_services.invoice_render_pdf = lambda *, invoice: invoice
    start = time.perf_counter()
    documents = 0
    for year, month in periods:
        end = datetime(year + (month == 12), month % 12 + 1, 1, 3, tzinfo=UTC)
        summary = billing_run(period=f"{year:04d}-{month:02d}", issue=True, now=max(end, period_end))
        documents += len(summary.issued) + len(summary.self_billing)
    run = time.perf_counter() - start
    invoice_services.invoice_render_pdf = render
    start = time.perf_counter()
    for invoice in Invoice.objects.issued():
        render(invoice=invoice)
    pdf = time.perf_counter() - start
    lines = sum(i.lines.count() for i in Invoice.objects.issued())

    print(f"sessions={scanned} owners={owners} periods={len(periods)} documents={documents} lines={lines}")
    print(f"baseline (read the sessions once): {baseline:.3f} s")
    print(
        f"billing run (collect, draft, issue, settle): {run:.3f} s = {run / baseline:.1f}x baseline, "
        f"{1000 * run / scanned:.2f} ms per session"
    )
    print(
        f"PDFs: {pdf:.3f} s for {documents} documents = {pdf / max(documents, 1):.3f} s per document, "
        f"{1000 * pdf / max(lines, 1):.1f} ms per line"
    )


if __name__ == "__main__":
    main()
