from django.apps import AppConfig

VENDOR_ID = "test.inprocess"


def queue_a_call(station_pk, message_id, data):
    from stations.calls import call_send
    from stations.models import Station

    call = call_send(
        station=Station.objects.get(pk=station_pk), action="ClearCache", payload={}, source="inprocess"
    )
    return "Accepted", str(call.pk)


class InprocessConfig(AppConfig):
    name = "tests.stations.inprocess_app"
    label = "inprocess_app"

    def ready(self):
        from stations.services.messages import DATA_TRANSFER_HANDLERS

        DATA_TRANSFER_HANDLERS[VENDOR_ID] = queue_a_call
