"""The generic carrier callback: a JSON body signed with HMAC-SHA256 of the raw body and the carrier's secret,
hex in the X-OrderHub-Signature header. Body: {"tracking_number", "finished"?, "events": [{"time" (ISO 8601
with offset), "state", "description", "location"?}]}."""

import hashlib
import hmac
import json
from datetime import datetime

from logistics.carriers.base import Adapter, BadSignature, CarrierEvent, CarrierUnavailable, PushRequest, TrackingAnswer
from logistics.models import Carrier

SIGNATURE_HEADER = "X-OrderHub-Signature"


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_callback(*, carrier: Carrier, body: bytes, signature_header: str) -> TrackingAnswer:
    if not carrier.callback_secret or not hmac.compare_digest(
        signature(carrier.callback_secret, body), (signature_header or "").strip().lower()
    ):
        raise BadSignature(f"{SIGNATURE_HEADER} does not match HMAC-SHA256(body, secret)")
    try:
        data = json.loads(body)
        number, items = str(data["tracking_number"]), data["events"]
        events = [
            CarrierEvent(
                occurred_at=datetime.fromisoformat(str(item["time"])),
                description=str(item["description"]).strip() or "-",
                carrier_state=str(item.get("state") or ""),
                location=str(item.get("location") or ""),
                raw=item,
            )
            for item in items
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise CarrierUnavailable(f"unreadable callback: {exc}") from exc
    if any(e.occurred_at.tzinfo is None for e in events):
        raise CarrierUnavailable("event times need a UTC offset, e.g. 2026-11-22T10:00:00+08:00")
    return TrackingAnswer(tracking_number=number, finished=bool(data.get("finished")), events=events)


class Generic(Adapter):
    pushes = True

    def parse_push(self, *, carrier: Carrier, push: PushRequest) -> TrackingAnswer:
        return parse_callback(carrier=carrier, body=push.body, signature_header=push.headers.get(SIGNATURE_HEADER, ""))
