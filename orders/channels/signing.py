"""Standard Webhooks signing (https://www.standardwebhooks.com): what a channel's sender signs, what we verify.
Pure: no ORM. Secrets are spelled `whsec_<base64 key>`; a secret without the prefix is used as raw bytes."""

import base64
import binascii
import hashlib
import hmac
import secrets as random

TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"  # noqa: S105 (the spec's spelling, not a secret)


class SignatureError(Exception):
    """Why a delivery's signature was refused; `code` is the machine-readable reason."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def secret_key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(random.token_bytes(24)).decode()


def secret_valid(secret: str) -> bool:
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        return len(base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)) >= 16
    except (binascii.Error, ValueError):
        return False


def sign(*, secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The `webhook-signature` value for one secret: `v1,<base64 HMAC-SHA256>`."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(*, secrets: list[str], msg_id: str, timestamp: str, signature: str, body: bytes, now: float) -> None:
    """Raise SignatureError unless one of the space-separated `v1,` signatures matches one of the secrets (the
    current one or the previous one while rotating) and the timestamp is within ±5 minutes of `now`."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError("bad_timestamp", "时间戳不是 unix 秒 / webhook-timestamp is not unix seconds") from None
    if sent_at < now - TOLERANCE_SECONDS:
        raise SignatureError("stale_timestamp", "时间戳过旧（超过 5 分钟）/ webhook-timestamp is older than 5 minutes")
    if sent_at > now + TOLERANCE_SECONDS:
        raise SignatureError(
            "future_timestamp", "时间戳超前（超过 5 分钟）/ webhook-timestamp is more than 5 minutes ahead"
        )
    given = [part.split(",", 1)[1].encode() for part in signature.split() if part.startswith("v1,")]
    for secret in secrets:
        expected = sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body).split(",", 1)[1].encode()
        # Compare against every given signature, in constant time each.
        if any(hmac.compare_digest(expected, candidate) for candidate in given):
            return
    raise SignatureError("bad_signature", "签名不符 / webhook-signature does not match any signing secret")
