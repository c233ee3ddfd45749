"""Carrier callbacks: `POST /api/v1/logistics/callback/{carrier}/`. Verified, idempotent, stored before yes.

The view sits in the API layer of orders because it is the one place that may call both apps: logistics
verifies, reads and stores the push (carrier I/O, adapter registry), then orders' tracking entry service moves
the order. One direction, logistics never calls back up into orders."""

from drf_spectacular.utils import extend_schema
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from logistics.carriers import PushRequest
from logistics.services import PushRefused
from orders.services.tracking import parcel_push_receive


class CarrierCallbackApi(APIView):
    authentication_classes = []  # carriers sign their pushes; there is no user
    permission_classes = [AllowAny]
    parser_classes = [FormParser, MultiPartParser, JSONParser]

    @extend_schema(request=None, responses={200: None, 400: None, 403: None, 404: None}, summary="Carrier push")
    def post(self, request, carrier: str):
        body = request.body  # read first: the generic signature covers the raw bytes
        push = PushRequest(body=body, form=request.POST.dict(), headers=request.headers)
        try:
            received = parcel_push_receive(carrier_code=carrier, push=push)
        except PushRefused as refusal:  # each sender in its own convention (Kuaidi100 retries on result false)
            return Response(refusal.reply(), status=refusal.status)
        return Response(received.reply(), status=200)
