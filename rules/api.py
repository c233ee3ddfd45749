"""REST API of rules: CRUD (switch off instead of delete), dry-run, export and import as JSON."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import error_response
from orders.selectors import order_facts_recent
from rules.models import RULE_DEFINITION_FIELDS, Rule
from rules.selectors import rule_dry_run, rule_sentence
from rules.services import rule_save


class RulePerm(BasePermission):
    def has_permission(self, request, view) -> bool:
        needed = {
            "GET": "view",
            "HEAD": "view",
            "OPTIONS": "view",
            "POST": getattr(view, "post_perm", "add"),
            "PUT": "change",
            "PATCH": "change",
        }.get(request.method)
        return needed is not None and request.user.has_perm(f"rules.{needed}_rule")


class RuleIn(serializers.ModelSerializer):
    class Meta:
        model = Rule
        fields = RULE_DEFINITION_FIELDS


class RuleOut(serializers.ModelSerializer):
    sentence_zh = serializers.SerializerMethodField()
    sentence_en = serializers.SerializerMethodField()

    class Meta:
        model = Rule
        fields = [
            "id",
            *RULE_DEFINITION_FIELDS,
            "version",
            "hit_count",
            "last_hit_at",
            "last_error",
            "last_error_at",
            "sentence_zh",
            "sentence_en",
            "updated_at",
        ]

    def get_sentence_zh(self, rule: Rule) -> str:
        return rule_sentence(rule=rule, lang="zh")

    def get_sentence_en(self, rule: Rule) -> str:
        return rule_sentence(rule=rule, lang="en")


class DryRunIn(serializers.Serializer):
    orders = serializers.ListField(child=serializers.CharField(max_length=24), required=False, max_length=500)
    last = serializers.IntegerField(min_value=1, max_value=500, required=False, default=50)


ERRORS = {
    400: error_response("Invalid rule; `message` names the field."),
    403: error_response("Not permitted."),
    404: error_response("No such rule."),
}


class RuleListCreateApi(APIView):
    permission_classes = [RulePerm]

    @extend_schema(responses={200: RuleOut(many=True)})
    def get(self, request):
        qs = Rule.objects.order_by("kind", "position", "id")
        if kind := request.query_params.get("kind"):
            qs = qs.filter(kind=kind)
        return Response(RuleOut(qs, many=True).data)

    @extend_schema(request=RuleIn, responses={201: RuleOut, **ERRORS})
    def post(self, request):
        payload = RuleIn(data=request.data)
        payload.is_valid(raise_exception=True)
        rule = rule_save(rule=Rule(**payload.validated_data), actor=request.user, reason="created via API")
        return Response(RuleOut(rule).data, status=status.HTTP_201_CREATED)


class RuleDetailApi(APIView):
    permission_classes = [RulePerm]

    @extend_schema(responses={200: RuleOut, 404: ERRORS[404]})
    def get(self, request, pk: int):
        return Response(RuleOut(get_object_or_404(Rule, pk=pk)).data)

    def _update(self, request, pk: int, partial: bool):
        rule = get_object_or_404(Rule, pk=pk)
        payload = RuleIn(rule, data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        for field, value in payload.validated_data.items():
            setattr(rule, field, value)
        rule = rule_save(rule=rule, actor=request.user, reason="changed via API")
        return Response(RuleOut(rule).data)

    @extend_schema(request=RuleIn, responses={200: RuleOut, **ERRORS})
    def put(self, request, pk: int):
        return self._update(request, pk, partial=False)

    @extend_schema(request=RuleIn, responses={200: RuleOut, **ERRORS})
    def patch(self, request, pk: int):
        return self._update(request, pk, partial=True)


class RuleDryRunApi(APIView):
    permission_classes = [RulePerm]
    post_perm = "view"

    @extend_schema(
        request=DryRunIn,
        responses={
            200: inline_serializer(
                "DryRun",
                fields={
                    "matched": serializers.IntegerField(),
                    "tried": serializers.IntegerField(),
                    "results": serializers.ListField(child=serializers.DictField()),
                },
            ),
            **ERRORS,
        },
    )
    def post(self, request, pk: int):
        rule = get_object_or_404(Rule, pk=pk)
        payload = DryRunIn(data=request.data)
        payload.is_valid(raise_exception=True)
        facts = order_facts_recent(last=payload.validated_data["last"], numbers=payload.validated_data.get("orders"))
        results = rule_dry_run(rule=rule, facts_by_label=facts)
        return Response(
            {
                "matched": sum(r.matched for r in results),
                "tried": len(results),
                "results": [
                    {"order": r.label, "matched": r.matched, "outcome": r.outcome, "error": r.error} for r in results
                ],
            }
        )


class RuleExportApi(APIView):
    permission_classes = [RulePerm]

    @extend_schema(responses={200: RuleIn(many=True)})
    def get(self, request):
        return Response(RuleIn(Rule.objects.order_by("kind", "position", "id"), many=True).data)


class RuleImportApi(APIView):
    """Import a rule set exported elsewhere. All or nothing; imported rules start switched off, to be tried."""

    permission_classes = [RulePerm]

    @extend_schema(request=RuleIn(many=True), responses={201: RuleOut(many=True), **ERRORS})
    def post(self, request):
        payload = RuleIn(data=request.data, many=True, allow_empty=False)
        payload.is_valid(raise_exception=True)
        created = []
        with transaction.atomic():
            for index, data in enumerate(payload.validated_data):
                data = {**data, "enabled": False}
                try:
                    created.append(rule_save(rule=Rule(**data), actor=request.user, reason="imported"))
                except ValidationError as exc:  # name the rule in the list that is wrong
                    raise serializers.ValidationError({f"rules[{index}]": exc.message_dict}) from exc
        return Response(RuleOut(created, many=True).data, status=status.HTTP_201_CREATED)
