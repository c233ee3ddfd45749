"""Setting a channel up: saving it (its field mapping checked first), and trying a mapping on a pasted sample
payload without writing anything."""

import json
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.translation import gettext as _

from config.exceptions import InvalidInput
from orders.channels import signing
from orders.channels.mapping import MappingRefusal, channel_reports_from_payload, mapping_problems
from orders.exceptions import OrderErrorCode
from orders.models import Channel, Order
from warehouse.selectors import skus_resolve


def channel_save(*, channel: Channel, actor: AbstractBaseUser | None) -> Channel:
    """Save a channel. Refused, naming the field, when its mapping cannot be used or a webhook channel has no
    valid signing secret (the admin form generates one before it gets here)."""
    if channel.field_mapping:
        problems = mapping_problems(channel.field_mapping)
        if problems:
            raise InvalidInput(
                "; ".join(message for _key, message in problems),
                code=OrderErrorCode.INVALID_FIELD,
                extra={"field": "field_mapping", "problems": problems},
            )
    for name in ("webhook_secret", "webhook_secret_previous"):
        secret = getattr(channel, name)
        if secret and not signing.secret_valid(secret):
            raise InvalidInput(
                _("A signing secret is spelled whsec_ followed by at least 16 bytes in base64."),
                code=OrderErrorCode.INVALID_FIELD,
                extra={"field": name},
            )
    if channel.takes_webhooks and not channel.webhook_secret:
        raise InvalidInput(
            _("A channel that takes webhooks needs a signing secret."),
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "webhook_secret"},
        )
    if actor is not None and actor.is_authenticated:
        channel._history_user = actor  # the history row names who saved it (secrets are not recorded)
    channel.save()
    return channel


@dataclass(frozen=True)
class TrialLine:
    sku: str
    resolved: str  # the SKU code it resolves to, "" for an unknown SKU
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class TrialOrder:
    index: int
    channel_order_no: str
    buyer: str
    receiver: str
    lines: tuple[TrialLine, ...]
    subtotal: Decimal
    paid_amount: Decimal
    ordered_at: object
    paid_at: object
    event: str
    platform_status: str
    existing: str = ""  # the number of the order the hub already has for it (the report would update it)

    @property
    def unknown_skus(self) -> list[str]:
        return [line.sku for line in self.lines if not line.resolved]


@dataclass
class MappingTrial:
    orders: list[TrialOrder] = field(default_factory=list)
    refusals: list[MappingRefusal] = field(default_factory=list)
    error: str = ""  # the sample itself could not be read


def channel_mapping_try(*, channel_code: str, mapping: dict, sample: str) -> MappingTrial:
    """What `mapping` would make of `sample` (a pasted payload): each order with the SKU each line resolves to
    (or none), and each refusal with its reason. Reads only: nothing is written."""
    trial = MappingTrial()
    try:
        payload = json.loads(sample)
    except ValueError as error:
        trial.error = _("The sample is not valid JSON: %(error)s") % {"error": error}
        return trial
    problems = mapping_problems(mapping)
    if problems:
        trial.error = "; ".join(message for _key, message in problems)
        return trial
    reports = channel_reports_from_payload(mapping=mapping, payload=payload, channel_code=channel_code)
    texts = {line.sku for report in reports if not isinstance(report, MappingRefusal) for line in report.draft.lines}
    skus = skus_resolve(texts) if texts else {}
    numbers = [report.draft.channel_order_no for report in reports if not isinstance(report, MappingRefusal)]
    existing = dict(
        Order.objects.filter(channel__code=channel_code, channel_order_no__in=numbers).values_list(
            "channel_order_no", "number"
        )
    )
    for index, report in enumerate(reports):
        if isinstance(report, MappingRefusal):
            trial.refusals.append(report)
            continue
        draft = report.draft
        trial.orders.append(
            TrialOrder(
                index=index,
                channel_order_no=draft.channel_order_no,
                buyer=" ".join(part for part in (draft.buyer_id, draft.customer.name, draft.customer.phone) if part),
                receiver=draft.address.one_line(),
                lines=tuple(
                    TrialLine(
                        sku=line.sku,
                        resolved=skus[line.sku].code if line.sku in skus else "",
                        quantity=line.quantity,
                        unit_price=line.unit_price,
                    )
                    for line in draft.lines
                ),
                subtotal=draft.subtotal,
                paid_amount=draft.paid_amount,
                ordered_at=draft.ordered_at,
                paid_at=draft.paid_at,
                event=str(report.event),
                platform_status=report.platform_status,
                existing=existing.get(draft.channel_order_no, ""),
            )
        )
    return trial
