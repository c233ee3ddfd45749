"""REST API of stock: levels per SKU and warehouse (what a shop page may sell), adjustments, the ledger."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import DefaultPagination, error_response
from warehouse.exceptions import InvalidInput, WarehouseErrorCode
from warehouse.models import StockLevel, StockMovement, Warehouse
from warehouse.selectors import sku_get_by_text
from warehouse.services import ADJUST_KINDS, stock_adjust


class StockPerm(BasePermission):
    """Reading needs warehouse.view_stocklevel; adjusting needs warehouse.adjust_stock."""

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return request.user.has_perm("warehouse.view_stocklevel")
        return request.user.has_perm("warehouse.adjust_stock")


class StockFilterIn(serializers.Serializer):
    sku = serializers.CharField(max_length=100, required=False, help_text="SKU code or alias")
    warehouse = serializers.CharField(max_length=32, required=False)


class MovementFilterIn(StockFilterIn):
    order = serializers.CharField(max_length=24, required=False, help_text="order number")


class AdjustmentIn(serializers.Serializer):
    sku = serializers.CharField(max_length=100, help_text="SKU code or alias")
    warehouse = serializers.CharField(max_length=32)
    kind = serializers.ChoiceField(choices=[(k.value, k.label) for k in ADJUST_KINDS])
    quantity = serializers.IntegerField(
        min_value=0, max_value=10_000_000, help_text="inbound/damage: units; count: the counted on-hand figure"
    )
    reason = serializers.CharField(max_length=255)


class StockLevelOut(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku.code")
    sku_name = serializers.CharField(source="sku.name")
    warehouse = serializers.CharField(source="warehouse.code")
    available = serializers.IntegerField()

    class Meta:
        model = StockLevel
        fields = ["sku", "sku_name", "warehouse", "on_hand", "locked", "reserved", "available", "updated_at"]


class MovementOut(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku.code")
    warehouse = serializers.CharField(source="warehouse.code")
    order = serializers.CharField(source="order.number", default=None)
    actor = serializers.CharField(source="actor.username", default=None)

    class Meta:
        model = StockMovement
        fields = [
            "created_at",
            "sku",
            "warehouse",
            "kind",
            "on_hand_delta",
            "locked_delta",
            "reserved_delta",
            "on_hand_after",
            "locked_after",
            "reserved_after",
            "order",
            "actor",
            "reason",
        ]


def _filtered(queryset, params: dict):
    if params.get("sku"):
        queryset = queryset.filter(sku=sku_get_by_text(text=params["sku"]))
    if params.get("warehouse"):
        queryset = queryset.filter(warehouse__code=params["warehouse"])
    return queryset


class StockListApi(APIView):
    permission_classes = [StockPerm]

    @extend_schema(
        parameters=[StockFilterIn],
        responses={200: StockLevelOut(many=True), 400: error_response("unknown SKU")},
        summary="Stock per SKU and warehouse; `available` is what may still be sold",
    )
    def get(self, request):
        params = StockFilterIn(data=request.query_params)
        params.is_valid(raise_exception=True)
        levels = _filtered(StockLevel.objects.select_related("sku", "warehouse"), params.validated_data)
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(levels.order_by("sku__code", "warehouse__code"), request, view=self)
        return paginator.get_paginated_response(StockLevelOut(page, many=True).data)


class StockAdjustmentApi(APIView):
    permission_classes = [StockPerm]

    @extend_schema(
        request=AdjustmentIn,
        responses={
            201: StockLevelOut,
            400: error_response("invalid input, unknown SKU or warehouse, or stock would go below zero"),
            403: error_response("no permission to adjust stock"),
        },
        summary="Book inbound stock, a count correction or damage, with a reason",
    )
    def post(self, request):
        body = AdjustmentIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        sku = sku_get_by_text(text=data["sku"])
        warehouse = Warehouse.objects.filter(code=data["warehouse"], is_active=True).first()
        if warehouse is None:
            raise InvalidInput(
                _("Unknown warehouse '%(v)s'.") % {"v": data["warehouse"]},
                code=WarehouseErrorCode.UNKNOWN_WAREHOUSE,
                extra={"field": "warehouse"},
            )
        level = stock_adjust(
            sku=sku,
            warehouse=warehouse,
            kind=data["kind"],
            quantity=data["quantity"],
            reason=data["reason"],
            actor=request.user,
        )
        level = StockLevel.objects.select_related("sku", "warehouse").get(pk=level.pk)
        return Response(StockLevelOut(level).data, status=status.HTTP_201_CREATED)


class StockMovementListApi(APIView):
    permission_classes = [StockPerm]

    @extend_schema(
        parameters=[MovementFilterIn],
        responses={200: MovementOut(many=True), 400: error_response("unknown SKU")},
        summary="The movement ledger behind the stock figures, newest first",
    )
    def get(self, request):
        params = MovementFilterIn(data=request.query_params)
        params.is_valid(raise_exception=True)
        movements = _filtered(
            StockMovement.objects.select_related("sku", "warehouse", "order", "actor"), params.validated_data
        )
        if params.validated_data.get("order"):
            movements = movements.filter(order__number=params.validated_data["order"].strip().upper())
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(movements.order_by("-created_at", "-id"), request, view=self)
        return paginator.get_paginated_response(MovementOut(page, many=True).data)
