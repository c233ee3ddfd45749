"""Channel webhooks: `POST /api/v1/channels/{code}/webhook/`. A plain Django view, kept lean (benchmarked): the
service verifies the Standard Webhooks signature over the raw bytes, stores the delivery with one INSERT and
commits, and the answer goes out at once; a job turns the delivery into orders."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.security import client_ip
from orders.services.channel_inbox import WebhookRefused, webhook_receive


@csrf_exempt
@require_POST
def channel_webhook(request: HttpRequest, code: str) -> JsonResponse:
    body = request.body  # read first: the signature covers the raw bytes
    try:
        accepted = webhook_receive(
            channel_code=code, body=body, headers=request.headers, remote_addr=client_ip(request)
        )
    except WebhookRefused as refusal:
        return JsonResponse(refusal.reply(), status=refusal.status, json_dumps_params={"ensure_ascii": False})
    return JsonResponse(accepted.reply(), status=200)
