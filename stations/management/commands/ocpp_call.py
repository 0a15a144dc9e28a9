import json

from django.core.management.base import BaseCommand, CommandError

from stations.calls import ACTIONS_BY_VERSION, CallInvalid, call_and_wait
from stations.models import OcppCall, Station
from stations.services.commands import call_meaning


class Command(BaseCommand):
    help = "Send an OCPP call to a station wherever its socket lives and print the answer."

    def add_arguments(self, parser):
        parser.add_argument("ocpp_id")
        parser.add_argument(
            "action",
            help="any action of the station's OCPP version: "
            + "; ".join(f"{v}: {', '.join(sorted(a))}" for v, a in ACTIONS_BY_VERSION.items()),
        )
        parser.add_argument(
            "payload", nargs="?", default="{}", help='JSON payload, e.g. \'{"type": "Soft"}\''
        )
        parser.add_argument("--timeout", type=int, default=None, help="seconds to wait for the answer")

    def handle(self, *args, ocpp_id, action, payload, timeout, **options):
        try:
            station = Station.objects.get(ocpp_id=ocpp_id)
        except Station.DoesNotExist:
            raise CommandError(f"no station {ocpp_id!r}") from None
        try:
            data = json.loads(payload)
        except json.JSONDecodeError as e:
            raise CommandError(f"payload is not JSON: {e}") from None
        try:
            call = call_and_wait(station=station, action=action, payload=data, source="cli", timeout=timeout)
        except CallInvalid as e:
            raise CommandError(str(e)) from None
        if call.status != OcppCall.Status.ANSWERED:
            raise CommandError(f"{call.action}: {call_meaning(call).text}")
        self.stdout.write(json.dumps(call.response))
