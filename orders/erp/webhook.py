"""The generic signed JSON push, the Standard Webhooks way (../shared/INTEGRATIONS.md "Channel webhooks"):
`webhook-id` = the message's idempotency key (the same on every retry: the receiver's dedupe key),
`webhook-timestamp` = unix seconds, `webhook-signature` = `v1,<base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))>`.
A secret written `whsec_<base64>` is the Standard Webhooks form (the key is the decoded bytes); any other secret
is used as its UTF-8 bytes. Used for ERP webhooks and for the ship confirmation to a channel's connector."""

import base64
import binascii
import hashlib
import hmac
import json

from orders.erp.base import Answer, Request, http_answer


def secret_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def signature(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def body_of(*, message_id: str, kind: str, sequence: int, payload: dict) -> bytes:
    document = {"id": message_id, "type": kind, "sequence": sequence, "data": payload}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def build(*, url: str, secret: str, message_id: str, kind: str, sequence: int, payload: dict, now: int) -> Request:
    body = body_of(message_id=message_id, kind=kind, sequence=sequence, payload=payload)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "webhook-id": message_id,
        "webhook-timestamp": str(now),
        "webhook-signature": signature(secret=secret, message_id=message_id, timestamp=now, body=body),
    }
    return Request(url=url, body=body, headers=headers)


def read(status: int, text: str) -> Answer:
    return http_answer(status, text)
