"""Kuaidi100 (快递100): real-time query (poll), subscribe, the push to our callback, and the electronic waybill
(电子面单: order and cancel). Shapes from ../shared/INTEGRATIONS.md; URLs, ids, keys and the waybill account
are on the Carrier row."""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from logistics.carriers.base import (
    Adapter,
    BadSignature,
    CarrierEvent,
    CarrierUnavailable,
    PushRequest,
    TrackingAnswer,
    Waybill,
    WaybillParty,
    WaybillRefused,
    WaybillRequest,
)
from logistics.models import Carrier

SIGNED_STATES = {"3", "4"}  # 签收, 退签: tracking is over


def sign(*parts: str) -> str:
    return hashlib.md5("".join(parts).encode()).hexdigest().upper()  # noqa: S324 - the provider's scheme


def _post_form(url: str, fields: dict) -> dict:
    if not url.startswith(("http://", "https://")):
        raise CarrierUnavailable(f"{url!r} is not an http(s) URL: set the carrier's API base URL")
    body = urllib.parse.urlencode(fields).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - http(s) checked above
    try:
        with urllib.request.urlopen(request, timeout=settings.CARRIER_HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - URL from admin
            text = response.read(2_000_000).decode("utf-8")
    except (urllib.error.URLError, TimeoutError, OSError, UnicodeDecodeError) as exc:
        raise CarrierUnavailable(f"{url}: {exc}") from exc
    try:
        answer = json.loads(text)
    except ValueError as exc:
        raise CarrierUnavailable(f"{url}: not JSON: {text[:80]!r}") from exc
    if not isinstance(answer, dict):
        raise CarrierUnavailable(f"{url}: not a JSON object")
    return answer


def _event(item: dict) -> CarrierEvent:
    stamp = item.get("ftime") or item.get("time")
    try:
        moment = timezone.make_aware(datetime.strptime(str(stamp), "%Y-%m-%d %H:%M:%S"))
    except ValueError as exc:
        raise CarrierUnavailable(f"event time {stamp!r} is not 'YYYY-MM-DD HH:MM:SS'") from exc
    context = str(item.get("context") or "").strip()
    if not context:
        raise CarrierUnavailable("event without context")
    return CarrierEvent(
        occurred_at=moment,
        description=context,
        carrier_state=str(item.get("status") or item.get("statusCode") or ""),
        location=str(item.get("location") or item.get("areaName") or ""),
        raw=item,
    )


def _answer(result: dict) -> TrackingAnswer:
    items = result.get("data")
    if not isinstance(items, list):
        raise CarrierUnavailable("answer without a data list")
    events = [_event(item) for item in items if isinstance(item, dict)]
    state = str(result.get("state") or "")
    # Kuaidi100 gives the parcel's state once, on the answer; the newest event carries it.
    if events and state:
        newest = max(events, key=lambda e: e.occurred_at)
        events = [
            CarrierEvent(e.occurred_at, e.description, state, e.location, e.raw)
            if e is newest and not e.carrier_state
            else e
            for e in events
        ]
    return TrackingAnswer(
        tracking_number=str(result.get("nu") or ""),
        carrier_state=state,
        finished=str(result.get("ischeck")) == "1" or state in SIGNED_STATES,
        events=events,
    )


def query(*, carrier: Carrier, tracking_number: str, phone: str = "") -> TrackingAnswer:
    """Ask for the whole track of one parcel now."""
    param = json.dumps(
        {"com": carrier.provider_code or carrier.code, "num": tracking_number, "phone": phone[-4:]},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    answer = _post_form(
        carrier.api_base_url.rstrip("/") + "/poll/query.do",
        {"customer": carrier.api_customer, "param": param, "sign": sign(param, carrier.api_key, carrier.api_customer)},
    )
    if str(answer.get("status")) != "200":
        raise CarrierUnavailable(
            f"query refused: {answer.get('returnCode') or answer.get('status')} {answer.get('message')}"
        )
    return _answer(answer)


def subscribe(*, carrier: Carrier, tracking_number: str, callback_url: str, phone: str = "") -> None:
    """Ask Kuaidi100 to push this parcel's events to our callback; 501 (already subscribed) is fine."""
    param = json.dumps(
        {
            "company": carrier.provider_code or carrier.code,
            "number": tracking_number,
            "key": carrier.api_key,
            "parameters": {"callbackurl": callback_url, "salt": carrier.callback_secret, "phone": phone[-4:]},
        },
        ensure_ascii=False,
    )
    answer = _post_form(carrier.api_base_url.rstrip("/") + "/poll", {"schema": "json", "param": param})
    if str(answer.get("returnCode")) not in ("200", "501"):
        raise CarrierUnavailable(f"subscribe refused: {answer.get('returnCode')} {answer.get('message')}")


def parse_push(*, carrier: Carrier, form: dict) -> TrackingAnswer:
    """Read and verify one push. Raises BadSignature or CarrierUnavailable (unreadable) and stores nothing."""
    param = form.get("param") or ""
    # No salt, no trust: an unsigned push could come from anyone (and move someone else's order).
    if not carrier.callback_secret:
        raise BadSignature("the carrier has no callback salt: pushes cannot be verified")
    if not hmac.compare_digest(str(form.get("sign") or "").upper(), sign(param, carrier.callback_secret)):
        raise BadSignature("sign does not match MD5(param + salt)")
    try:
        push = json.loads(param)
        result = push["lastResult"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CarrierUnavailable("push without a readable param.lastResult") from exc
    if not isinstance(result, dict):
        raise CarrierUnavailable("lastResult is not an object")
    answer = _answer(result)
    answer.gave_up = push.get("status") == "abort"
    answer.finished = answer.finished or push.get("status") == "shutdown"
    return answer


def _compact(value: dict) -> dict:
    return {k: v for k, v in value.items() if v not in ("", None)}


def _party(party: WaybillParty, *, with_address: bool = True) -> dict:
    phone = "".join(party.phone.split())
    # A CN mobile goes as mobile, anything else (landline with area code, masked) as tel.
    kind = "mobile" if len(phone) == 11 and phone.isdigit() and phone.startswith("1") else "tel"
    return _compact(
        {"name": party.name, kind: phone, "printAddr": party.address if with_address else "", "company": party.company}
    )


def _account(carrier: Carrier) -> dict:
    return _compact(
        {
            "partnerId": carrier.waybill_partner_id,
            "partnerKey": carrier.waybill_partner_key,
            "partnerSecret": carrier.waybill_partner_secret,
            "partnerName": carrier.waybill_partner_name,
            "net": carrier.waybill_net,
            "code": carrier.waybill_code,
        }
    )


def waybill_param(*, carrier: Carrier, request: WaybillRequest) -> dict:
    """The `param` of a waybill order (printType NON: we print the label ourselves)."""
    width, height = (int(mm) for mm in carrier.label_paper.split("x"))
    platform = bool(request.platform_receiver_id)
    param = {
        "printType": "NON",
        **_account(carrier),
        "kuaidicom": carrier.provider_code or carrier.code,
        # A platform-encrypted receiver is ordered by its platform id: the hub has no plain address to send.
        "recMan": _party(request.receiver, with_address=not platform),
        "sendMan": _party(request.sender),
        "cargo": request.cargo,
        "count": request.count,
        "weight": str(request.weight_kg) if request.weight_kg is not None else "",
        "payType": carrier.waybill_pay_type,
        "expType": carrier.waybill_express_type,
        "remark": request.remark,
        "tempId": carrier.waybill_template_id,
        "orderId": request.key,
        "oaid": request.platform_receiver_id,
        "thirdOrderId": request.platform_order_id,
        "width": width,
        "height": height,
    }
    if request.callback_url:
        # salt: the pushes that follow are signed with the carrier's callback secret, which parse_push checks.
        param.update(needSubscribe=True, pollCallBackUrl=request.callback_url, salt=carrier.callback_secret)
    return _compact(param)


def _waybill_call(*, carrier: Carrier, method: str, param: dict) -> dict:
    """One signed call to the waybill API; returns the answer's data. Refusals raise WaybillRefused."""
    if not carrier.waybill_api_url:
        raise WaybillRefused(
            _("%(carrier)s has no waybill API URL: fill in its waybill account.") % {"carrier": carrier.name}
        )
    text = json.dumps(param, ensure_ascii=False, separators=(",", ":"))
    stamp = str(int(time.time() * 1000))
    url = carrier.waybill_api_url.split("?")[0] + "?" + urllib.parse.urlencode({"method": method})
    fields = {
        "param": text,
        "key": carrier.api_key,
        "t": stamp,
        "sign": sign(text, stamp, carrier.api_key, carrier.waybill_secret),
    }
    answer = _post_form(url, fields)
    code = str(answer.get("code") if answer.get("code") is not None else answer.get("returnCode") or "")
    message = str(answer.get("message") or answer.get("msg") or "").strip()
    if answer.get("success") is True or (code == "200" and answer.get("success") is not False):
        data = answer.get("data")
        if isinstance(data, list):  # some answers wrap the waybill in a list
            data = data[0] if data else {}
        if data is None and method == "cancel":
            data = {}
        if not isinstance(data, dict):
            raise CarrierUnavailable(f"waybill {method}: answer without a data object")
        return data
    # A 5xx code inside the JSON is the provider failing (retry); an answer saying nothing is garbage.
    if (len(code) == 3 and code.startswith("5")) or not (code or message):
        raise CarrierUnavailable(f"waybill {method}: {code} {message}".strip())
    raise WaybillRefused(message or f"code {code}")


def waybill_order(*, carrier: Carrier, request: WaybillRequest) -> Waybill:
    data = _waybill_call(carrier=carrier, method="order", param=waybill_param(carrier=carrier, request=request))
    number = "".join(str(data.get("kuaidinum") or "").split())
    if not number:
        raise CarrierUnavailable("waybill order: answer without kuaidinum")
    return Waybill(
        tracking_number=number,
        routing_text=str(data.get("bulkpen") or ""),
        sorting_code=str(data.get("destSortingCode") or data.get("orgSortingCode") or ""),
        task_id=str(data.get("taskId") or ""),
        label_url=str(data.get("label") or ""),
        subscribed=bool(request.callback_url),
        raw=data,
    )


def waybill_cancel(*, carrier: Carrier, tracking_number: str, key: str, reason: str) -> None:
    param = _compact(
        {
            "partnerId": carrier.waybill_partner_id,
            "partnerKey": carrier.waybill_partner_key,
            "kuaidicom": carrier.provider_code or carrier.code,
            "kuaidinum": tracking_number,
            "orderId": key,
            "reason": reason,
        }
    )
    _waybill_call(carrier=carrier, method="cancel", param=param)


class Kuaidi100(Adapter):
    polls = subscribes = pushes = True
    issues_waybills = True

    def waybill_ready(self, *, carrier: Carrier) -> bool:
        return bool(carrier.waybill_api_url and carrier.api_key and carrier.waybill_secret)

    def waybill_order(self, *, carrier: Carrier, request: WaybillRequest) -> Waybill:
        return waybill_order(carrier=carrier, request=request)

    def waybill_cancel(self, *, carrier: Carrier, tracking_number: str, key: str, reason: str) -> None:
        waybill_cancel(carrier=carrier, tracking_number=tracking_number, key=key, reason=reason)

    def query(self, *, carrier: Carrier, tracking_number: str, phone: str = "") -> TrackingAnswer:
        return query(carrier=carrier, tracking_number=tracking_number, phone=phone)

    def subscribe(self, *, carrier: Carrier, tracking_number: str, callback_url: str, phone: str = "") -> None:
        subscribe(carrier=carrier, tracking_number=tracking_number, callback_url=callback_url, phone=phone)

    def parse_push(self, *, carrier: Carrier, push: PushRequest) -> TrackingAnswer:
        return parse_push(carrier=carrier, form=push.form)

    def push_reply(self, *, ok: bool, code: str, message: str, status: int, extra: dict) -> dict:
        """Kuaidi100 retries unless it reads result true / returnCode 200."""
        return {"result": ok, "returnCode": "200" if ok else str(status), "message": message}
