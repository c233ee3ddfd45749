"""Channel webhooks: `POST /api/v1/channels/{code}/webhook/`. A plain Django view, kept lean (benchmarked): the
service verifies the Standard Webhooks signature over the raw bytes, stores the delivery with one INSERT and
commits, and the answer goes out at once; a job turns the delivery into orders."""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from config.security import client_ip
from orders.services.channel_inbox import WebhookRefused, webhook_outcome, webhook_receive


@csrf_exempt
@require_POST
def channel_webhook(request: HttpRequest, code: str) -> JsonResponse:
    try:
        body = request.body  # read first: the signature covers the raw bytes
    except RequestDataTooBig:  # over Django's own limit: refused as too large, like one over ours
        body = None
    try:
        accepted = webhook_receive(
            channel_code=code, body=body, headers=request.headers, remote_addr=client_ip(request)
        )
    except WebhookRefused as refusal:
        return JsonResponse(refusal.reply(), status=refusal.status, json_dumps_params={"ensure_ascii": False})
    return JsonResponse(accepted.reply(), status=200, json_dumps_params={"ensure_ascii": False})


@require_GET
def channel_webhook_outcome(request: HttpRequest, code: str, webhook_id: str) -> JsonResponse:
    """The sender reads what became of its delivery later: signed like a delivery, over an empty body."""
    try:
        outcome = webhook_outcome(
            channel_code=code, webhook_id=webhook_id, headers=request.headers, remote_addr=client_ip(request)
        )
    except WebhookRefused as refusal:
        return JsonResponse(refusal.reply(), status=refusal.status, json_dumps_params={"ensure_ascii": False})
    return JsonResponse(outcome, status=200, json_dumps_params={"ensure_ascii": False})


_REFUSAL = {
    "type": "object",
    "required": ["message", "code", "extra"],
    "properties": {
        "message": {"type": "string", "description": "中文在前 / English second"},
        "code": {"type": "string", "example": "bad_signature"},
        "extra": {"type": "object", "additionalProperties": True},
    },
}


def webhook_openapi(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: the webhook is a plain Django view (kept lean), so its operation is
    written here, in the same schema as the API views."""
    refusal = {"content": {"application/json": {"schema": _REFUSAL}}}
    header = {"in": "header", "required": True, "schema": {"type": "string"}}
    result.setdefault("paths", {})["/api/v1/channels/{code}/webhook/"] = {
        "post": {
            "operationId": "channel_webhook",
            "summary": "Channel webhook (Standard Webhooks)",
            "description": (
                "One signed delivery of one or many orders (the channel's field mapping reads it). Verified over "
                "the raw body (HMAC-SHA256 with the channel's whsec_ secret, timestamp within ±5 minutes), stored "
                "and committed, answered at once; a job turns it into orders. A retry with the same webhook-id "
                "stores nothing new and answers duplicate=true."
            ),
            "tags": ["channels"],
            "security": [],
            "parameters": [
                {"in": "path", "name": "code", "required": True, "schema": {"type": "string"}},
                {**header, "name": "webhook-id", "description": "unique per message, the same across retries"},
                {**header, "name": "webhook-timestamp", "description": "unix seconds"},
                {**header, "name": "webhook-signature", "description": "v1,<base64 signature> (space-separated)"},
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
            },
            "responses": {
                "200": {
                    "description": "stored (or stored before: duplicate)",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "delivery": {"type": "integer"},
                                    "webhook_id": {"type": "string"},
                                    "duplicate": {"type": "boolean"},
                                    "state": {"type": "string", "enum": ["received", "processed", "failed"]},
                                },
                            }
                        }
                    },
                },
                "400": {"description": "missing headers or malformed JSON", **refusal},
                "401": {"description": "bad signature or timestamp outside ±5 minutes", **refusal},
                "403": {"description": "webhooks not enabled for this channel", **refusal},
                "404": {"description": "unknown or inactive channel", **refusal},
                "413": {"description": "body too large", **refusal},
            },
        }
    }
    result["paths"]["/api/v1/channels/{code}/webhook/{webhook_id}/"] = {
        "get": {
            "operationId": "channel_webhook_outcome",
            "summary": "What became of a webhook delivery",
            "description": (
                "Signed like a delivery (its own webhook-id in the header, an empty body): the state, and once "
                "processed the number of orders, how many were taken and each one rejected with its reason."
            ),
            "tags": ["channels"],
            "security": [],
            "parameters": [
                {"in": "path", "name": "code", "required": True, "schema": {"type": "string"}},
                {"in": "path", "name": "webhook_id", "required": True, "schema": {"type": "string"}},
                {**header, "name": "webhook-id"},
                {**header, "name": "webhook-timestamp"},
                {**header, "name": "webhook-signature"},
            ],
            "responses": {
                "200": {"description": "the delivery's outcome"},
                "400": {"description": "missing headers, or webhook-id not the one in the URL", **refusal},
                "401": {"description": "bad signature or timestamp outside ±5 minutes", **refusal},
                "403": {"description": "webhooks not enabled for this channel", **refusal},
                "404": {"description": "unknown channel or delivery", **refusal},
            },
        }
    }
    return result
