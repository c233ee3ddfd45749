"""How each notification channel is spoken to: the request built for a message, and what its answer means.
Pure: no ORM (a channel and a message come in as plain values).

- WeCom group robot: POST {"msgtype": "markdown", "markdown": {"content": …}}; answers {"errcode": 0}.
  45009: too many (the robot's limit, about 20 a minute).
- DingTalk group robot, signed: the URL gets &timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256 of
  "<timestamp>\\n<secret>" keyed by the secret>; POST {"msgtype": "markdown", "markdown": {"title", "text"}}.
  130101: too many (the robot is blocked for 10 minutes); 310000: keyword / security settings not met.
- SMS, generic JSON gateway: POST {"phone", "sign_name", "template_code", "params", "text"}; answers
  {"code": "OK"} (anything else is its refusal).
- SMS, Aliyun-style SendSms: a form POST of the API's parameters signed as Aliyun RPC signs them
  (HMAC-SHA1 over "POST&%2F&" + the percent-encoded sorted query, keyed by access key secret + "&");
  answers {"Code": "OK", "BizId": …}.
A 200 with an errcode / code other than OK is a failure."""

import base64
import hashlib
import hmac
import json
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from orders.erp.base import Request

# The robots' "too many messages" answers: wait ROBOT_BLOCK for that robot.
RATE_LIMITED = {"130101", "45009"}
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    errcode: str = ""
    errmsg: str = ""
    rate_limited: bool = False
    refused: bool = False  # a retry will not change it (a 4xx, the gateway refusing the number): dead at once


def dingtalk_sign(*, secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def _with_query(url: str, extra: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def wecom_request(*, url: str, title: str, text: str) -> Request:
    content = f"**{title}**\n{text}" if title else text
    body = {"msgtype": "markdown", "markdown": {"content": content}}
    return Request(url=url, body=json.dumps(body, ensure_ascii=False).encode(), headers=JSON_HEADERS)


def dingtalk_request(*, url: str, secret: str, title: str, text: str, now: datetime) -> Request:
    if secret:
        timestamp = int(now.timestamp() * 1000)
        url = _with_query(url, f"timestamp={timestamp}&sign={dingtalk_sign(secret=secret, timestamp_ms=timestamp)}")
    body = {"msgtype": "markdown", "markdown": {"title": title or text[:20], "text": f"#### {title}\n{text}"}}
    return Request(url=url, body=json.dumps(body, ensure_ascii=False).encode(), headers=JSON_HEADERS)


def robot_read(status: int, text: str) -> Outcome:
    if not 200 <= status < 300:
        return _http_failure(status, text)
    try:
        answer = json.loads(text)
        errcode = str(answer.get("errcode", ""))
    except (ValueError, AttributeError):
        return Outcome(ok=False, errcode=f"HTTP {status}", errmsg=f"not JSON: {text[:200]}")
    if errcode == "0":
        return Outcome(ok=True, errcode="0", errmsg=str(answer.get("errmsg", "ok"))[:500])
    return Outcome(
        ok=False, errcode=errcode, errmsg=str(answer.get("errmsg", ""))[:500], rate_limited=errcode in RATE_LIMITED
    )


def _percent(value: str) -> str:
    return urllib.parse.quote(value, safe="~")


def aliyun_signature(*, params: dict[str, str], secret: str) -> str:
    canonical = "&".join(f"{_percent(k)}={_percent(v)}" for k, v in sorted(params.items()))
    to_sign = f"POST&{_percent('/')}&{_percent(canonical)}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


def sms_request(
    *,
    adapter: str,
    url: str,
    access_key_id: str,
    access_key_secret: str,
    sign_name: str,
    template_code: str,
    phone: str,
    params: dict[str, str],
    text: str,
    now: datetime,
) -> Request:
    if adapter == "aliyun":
        form = {
            "AccessKeyId": access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": phone,
            "SignName": sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": template_code,
            "TemplateParam": json.dumps(params, ensure_ascii=False, sort_keys=True),
            "Timestamp": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        form["Signature"] = aliyun_signature(params=form, secret=access_key_secret)
        return Request(
            url=url,
            body=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    body = {"phone": phone, "sign_name": sign_name, "template_code": template_code, "params": params, "text": text}
    return Request(url=url, body=json.dumps(body, ensure_ascii=False).encode(), headers=JSON_HEADERS)


def sms_read(status: int, text: str) -> Outcome:
    if not 200 <= status < 300:
        return _http_failure(status, text)
    try:
        answer = json.loads(text)
        code = str(answer.get("Code", answer.get("code", "")))
        message = str(answer.get("Message", answer.get("message", "")))
    except (ValueError, AttributeError):
        return Outcome(ok=False, errcode=f"HTTP {status}", errmsg=f"not JSON: {text[:200]}")
    if code.upper() == "OK":
        return Outcome(ok=True, errcode="OK", errmsg=message[:500])
    # The gateway refusing the number or template will refuse it again; its flow control may pass later.
    throttled = "LIMIT" in code.upper()
    return Outcome(ok=False, errcode=code[:32], errmsg=message[:500], refused=not throttled)


def _http_failure(status: int, text: str) -> Outcome:
    refused = 400 <= status < 500 and status not in (408, 429)
    return Outcome(ok=False, errcode=f"HTTP {status}", errmsg=text[:500], refused=refused)


def digest_text(lines: list[str]) -> str:
    """One markdown message listing a burst's messages."""
    return "\n".join(f"- {line}" for line in lines)
