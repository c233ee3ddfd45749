"""Bench only: the shipped urlconf plus /api/v1/bench-ceiling/ (see ceiling_settings.py)."""

from django.urls import path
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as shipped
from orders.api import HasModelPerm


class CeilingApi(APIView):
    """Same authentication, permission and parsing as POST /api/v1/orders/; echoes the order back as a 201."""

    permission_classes = [HasModelPerm]
    post_perm = "orders.add_order"

    def post(self, request):
        data = request.data  # parsed, as the order view's serializer reads it
        answer = {"number": "OH000000CEILING0", "status": "placed", "duplicate": False, **data}
        return Response(answer, status=status.HTTP_201_CREATED)


urlpatterns = [path("api/v1/bench-ceiling/", CeilingApi.as_view()), *shipped]
