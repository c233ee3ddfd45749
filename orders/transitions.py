"""A read-only view of the status machine declared on Order, for services, admin and API."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from django_fsm import Transition

from orders.models import Order

# Why each guard refuses, in words a customer-service agent can act on.
GUARD_MESSAGES = {
    "is_not_legacy": _("Legacy (imported) orders are read-only."),
    "is_payment_complete": _(
        "Payment is not verified: the paid amount is zero, or a presale order has only its deposit."
    ),
    "is_presale_awaiting_deposit": _("Only a presale order that has not paid its deposit can record one."),
    "has_warehouse": _("Choose a warehouse for this order first."),
    "has_tracking_number": _("A tracking number is required first."),
}


@dataclass(frozen=True)
class TransitionSpec:
    name: str
    label: str
    permission: str
    reason_required: bool
    sources: tuple[str, ...] | None  # None: any source may ask
    from_states: frozenset[str]
    conditions: tuple

    def allows_source(self, source: str) -> bool:
        return self.sources is None or source in self.sources


def _collect() -> dict[str, TransitionSpec]:
    by_name: dict[str, list[Transition]] = {}
    for t in Order._meta.get_field("status").get_all_transitions(Order):
        by_name.setdefault(t.name, []).append(t)
    specs = {}
    for name, items in by_name.items():
        first = items[0]
        specs[name] = TransitionSpec(
            name=name,
            label=first.custom["label"],
            permission=first.permission,
            reason_required=first.custom["reason_required"],
            sources=first.custom["sources"],
            from_states=frozenset(t.source for t in items),
            conditions=tuple(first.conditions),
        )
    return specs


TRANSITIONS: dict[str, TransitionSpec] = _collect()


def failed_guards(order: Order, spec: TransitionSpec) -> list[str]:
    return [str(GUARD_MESSAGES[c.__name__]) for c in spec.conditions if not c(order)]
