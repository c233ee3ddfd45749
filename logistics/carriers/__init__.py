"""Carrier adapters, one module each, chosen by the carrier row's `adapter` through ADAPTERS (never an
if/elif on its name). An adapter turns a provider's answers into CarrierEvents."""

from logistics.carriers import generic, kuaidi100, manual
from logistics.carriers.base import (  # noqa: F401 - the package's public names
    Adapter,
    BadSignature,
    CarrierEvent,
    CarrierUnavailable,
    PushRequest,
    TrackingAnswer,
    Waybill,
    WaybillParty,
    WaybillRefused,
    WaybillRequest,
)
from logistics.models import Carrier

ADAPTERS: dict[str, Adapter] = {
    Carrier.Adapter.KUAIDI100: kuaidi100.Kuaidi100(),
    Carrier.Adapter.GENERIC: generic.Generic(),
    Carrier.Adapter.MANUAL: manual.Manual(),
}


def adapter_for(carrier: Carrier | str) -> Adapter:
    """The adapter of a carrier (or of an adapter name); an unknown name is treated as manual."""
    name = carrier if isinstance(carrier, str) else carrier.adapter
    return ADAPTERS.get(name, ADAPTERS[Carrier.Adapter.MANUAL])


def adapter_names(
    *,
    polls: bool | None = None,
    subscribes: bool | None = None,
    pushes: bool | None = None,
    issues_waybills: bool | None = None,
) -> list:
    """Adapter names with the given abilities, e.g. adapter_names(polls=True) for the poll scheduler."""
    wanted = {"polls": polls, "subscribes": subscribes, "pushes": pushes, "issues_waybills": issues_waybills}
    return [
        name
        for name, adapter in ADAPTERS.items()
        if all(getattr(adapter, ability) == value for ability, value in wanted.items() if value is not None)
    ]
