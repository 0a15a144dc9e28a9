"""OCPP 1.6 transaction messages (Authorize, StartTransaction, MeterValues, StopTransaction).
A mixin of the v16 ChargePoint: handlers translate to billing services and answer only after the commit."""


class TransactionHandlersV16:
    pass
