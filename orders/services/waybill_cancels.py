"""How the cancel of an unused waybill ended, for the people: a cancel the carrier refused, or that never got an
answer, is an alert for whoever the route of `waybill_cancel_failed` names (仓库 by default); a later success
resolves it. logistics cancels (logistics.services.shipment_waybill_cancel) and hands the outcome over by job
name (orders.jobs.follow_waybill_cancel); this reads the parcel's state now, so a late or repeated job agrees
with what the registry says."""

from django.utils.translation import gettext as _

from logistics.models import Shipment
from orders.models import Alert
from orders.services.alerts import alert_raise, alert_resolve


def waybill_cancel_alert_key(shipment_id: int) -> str:
    return f"waybill_cancel:{shipment_id}"


def waybill_cancel_follow(*, shipment_id: int) -> str:
    """Raise the alert of a failed cancel (once while open), or resolve it once the waybill is cancelled."""
    shipment = Shipment.objects.select_related("carrier", "order").filter(pk=shipment_id).first()
    if shipment is None:
        return "skipped"
    key = waybill_cancel_alert_key(shipment.pk)
    if shipment.waybill_state == Shipment.WaybillState.CANCEL_FAILED:
        message = _("Waybill %(number)s of order %(order)s (%(carrier)s) could not be cancelled: %(reason)s") % {
            "number": shipment.tracking_number or shipment.waybill_key,
            "order": shipment.order.number,
            "carrier": shipment.carrier.name,
            "reason": shipment.last_error or _("no reason given"),
        }
        alert_raise(kind=Alert.Kind.WAYBILL_CANCEL_FAILED, order=shipment.order, message=message, dedupe_key=key)
        return "alerted"
    if shipment.waybill_state == Shipment.WaybillState.CANCELLED:
        resolved = alert_resolve(
            alerts=Alert.objects.filter(kind=Alert.Kind.WAYBILL_CANCEL_FAILED, dedupe_key=key),
            resolution=_("The waybill was cancelled at the carrier."),
        )
        return "resolved" if resolved else "skipped"
    return "skipped"
