"""Carrier callbacks: `POST /api/v1/logistics/callback/{carrier}/`. Verified, idempotent, stored before yes."""

import logging

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.exceptions import ApplicationError
from logistics.carriers import BadSignature, CarrierUnavailable, generic, kuaidi100
from logistics.exceptions import LogisticsErrorCode
from logistics.models import Carrier, Shipment
from logistics.services import tracking_number_clean
from orders.services.tracking import parcel_record

logger = logging.getLogger(__name__)


def _kuaidi100_answer(ok: bool, code: str, message: str, status: int) -> Response:
    """Kuaidi100 retries unless it reads result true / returnCode 200."""
    return Response({"result": ok, "returnCode": code, "message": message}, status=status)


def _refusal(carrier: Carrier | None, *, code: str, message: str, status: int) -> Response:
    """Each sender in its own convention: Kuaidi100's {result: false, returnCode, message} (it retries); a
    generic sender gets the hub's {message, code, extra} like every other API error."""
    if carrier is not None and carrier.adapter == Carrier.Adapter.GENERIC:
        return Response({"message": message, "code": code, "extra": {}}, status=status)
    return _kuaidi100_answer(False, str(status), message, status)


class CarrierCallbackApi(APIView):
    authentication_classes = []  # carriers sign their pushes; there is no user
    permission_classes = [AllowAny]
    parser_classes = [FormParser, MultiPartParser, JSONParser]

    @extend_schema(request=None, responses={200: None, 400: None, 403: None, 404: None}, summary="Carrier push")
    def post(self, request, carrier: str):
        body = request.body  # read first: the generic signature covers the raw bytes
        found = Carrier.objects.filter(code=carrier, is_active=True).first()
        if found is None or found.adapter == Carrier.Adapter.MANUAL:
            message = _("Unknown carrier '%(c)s'.") % {"c": carrier[:32]}
            return _refusal(None, code=LogisticsErrorCode.UNKNOWN_CARRIER, message=message, status=404)
        try:
            if found.adapter == Carrier.Adapter.KUAIDI100:
                answer = kuaidi100.parse_push(carrier=found, form=request.POST.dict())
            else:
                answer = generic.parse_callback(
                    carrier=found, body=body, signature_header=request.headers.get(generic.SIGNATURE_HEADER, "")
                )
            number = tracking_number_clean(answer.tracking_number)
        except BadSignature as exc:
            # Unsigned, wrongly signed, or the carrier has no secret: nothing is stored, nothing moves.
            logger.warning("callback of %s refused: %s", carrier, exc)
            message = _("Signature does not match.")
            return _refusal(found, code=LogisticsErrorCode.BAD_SIGNATURE, message=message, status=403)
        except (CarrierUnavailable, ApplicationError) as exc:
            logger.warning("callback of %s unreadable: %s", carrier, exc)
            message = _("Unreadable callback: %(why)s") % {"why": str(exc)[:200]}
            return _refusal(found, code=LogisticsErrorCode.BAD_PAYLOAD, message=message, status=400)
        shipment = Shipment.objects.select_related("carrier", "order").filter(carrier=found, tracking_number=number)
        shipment = shipment.first()
        if shipment is None:
            message = _("Unknown tracking number %(n)s.") % {"n": number}
            return _refusal(found, code=LogisticsErrorCode.UNKNOWN_TRACKING_NUMBER, message=message, status=404)
        new = parcel_record(shipment=shipment, answer=answer, via="callback")
        message = _("成功 stored %(n)d new events") % {"n": len(new)}
        if found.adapter == Carrier.Adapter.GENERIC:
            return Response({"message": message, "code": "ok", "extra": {"new_events": len(new)}}, status=200)
        return _kuaidi100_answer(True, "200", message, 200)
