"""Customer-service and manager screens. Status changes only through the transition services."""

import re
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from config.admin import HistoryAdmin
from config.admin_export import XlsxExportMixin
from config.exceptions import ApplicationError
from logistics.selectors import order_parcels, orders_with_tracking_number, primary_parcel
from orders import (
    admin_notify,  # noqa: F401  (registers the notification channels, templates and delivery log)
    admin_outbox,  # noqa: F401  (registers the ERP endpoints and the outbox)
    selectors,
)
from orders.drafts import Address
from orders.models import (
    FINAL_STATES,
    AddressChange,
    Alert,
    AlertRoute,
    Customer,
    DuplicateSettings,
    EscalationLevel,
    Order,
    OrderLine,
    Source,
    StaffProfile,
    StatusNode,
    pause_token_choices,
    pause_tokens_problem,
)
from orders.services.address import (
    ADDRESS_FIELDS,
    BEFORE_LABEL,
    WITH_CARRIER,
    address_change_resolve,
    order_change_address,
)
from orders.services.alerts import alert_acknowledge
from orders.services.deadlines import (
    deadline_basis_text,
    deadline_paused_text,
    ladder_levels_forget,
    node_settings_forget,
)
from orders.services.duplicates import duplicate_settings, duplicate_settings_save
from orders.services.handling import (
    DETAIL_FIELDS,
    details_editable,
    order_set_details,
    order_set_priority,
    order_set_tags,
    tags_parse,
)
from orders.services.payment import order_confirm_payment, payment_can_confirm, payment_expected
from orders.services.transitions import (
    PERSON_HOLD_KINDS,
    REASON_MAX_LENGTH,
    order_transition,
    transitions_available,
)
from orders.services.waybills import order_waybill_obtain, orders_waybills_obtain
from warehouse.selectors import order_locks

# Selected order numbers travel in the pick list's URL; servers cut request lines at about 4 KB.
PICK_LIST_MAX_SELECTED = 200
# Orders one bulk release may take: each goes through its own transition, inside the request.
BULK_RELEASE_MAX_SELECTED = 200
# Orders one bulk 获取面单 may take: each asks its carrier inside the request.
BULK_WAYBILL_MAX_SELECTED = 200


def labels_url(numbers: list[str]) -> str:
    """The warehouse's label PDF of these orders' waybills."""
    return f"{reverse('warehouse:labels')}?{urlencode({'orders': ','.join(numbers)}, safe=',')}"


class HoldReleaseForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=255)


class AddressChangeForm(forms.Form):
    receiver_name = forms.CharField(label=_("receiver"), max_length=100)
    # Any usual spelling (+86, spaces, dashes): the service cleans it with orders.phones.
    receiver_phone = forms.CharField(label=_("receiver phone"), max_length=32)
    province = forms.CharField(label=_("province"), max_length=32)
    city = forms.CharField(label=_("city"), max_length=32)
    district = forms.CharField(label=_("district"), max_length=32, required=False)
    address_detail = forms.CharField(label=_("address"), max_length=255)
    reason = forms.CharField(label=_("reason"), max_length=255)


class PriorityForm(forms.Form):
    priority = forms.TypedChoiceField(label=_("priority"), choices=Order.Priority.choices, coerce=int)
    reason = forms.CharField(label=_("reason"), max_length=REASON_MAX_LENGTH)


class PaymentForm(forms.Form):
    paid_amount = forms.DecimalField(
        label=_("paid amount"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text=_("Total the buyer has paid for this order so far (presale: deposit, later deposit + balance)."),
    )
    paid_at = forms.DateTimeField(
        label=_("paid at"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    payment_reference = forms.CharField(
        label=_("payment reference"),
        max_length=64,
        help_text=_("The platform's trade number or the bank slip number."),
    )


class TagsForm(forms.Form):
    """Tags one by one: untick to remove, type new ones to add."""

    keep = forms.MultipleChoiceField(
        label=_("current tags"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Untick a tag to remove it."),
    )
    add = forms.CharField(
        label=_("add tags"),
        required=False,
        max_length=700,
        help_text=_("Separate several tags with commas, e.g. 高意向，加急"),
    )
    reason = forms.CharField(label=_("reason"), max_length=REASON_MAX_LENGTH, required=False)

    def __init__(self, *args, tags: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["keep"].choices = [(tag, tag) for tag in tags]
        self.fields["keep"].initial = list(tags)
        if not tags:
            del self.fields["keep"]

    def tags(self) -> list[str]:
        return [*self.cleaned_data.get("keep", []), *tags_parse(self.cleaned_data["add"])]


PROMISE_LIGHT_LABELS = {"green": _("Green"), "yellow": _("Yellow"), "red": _("Red")}


class PromiseLightFilter(admin.SimpleListFilter):
    """The ship-by promise light, computed in SQL (selectors.with_promise_light on the admin's queryset)."""

    title = _("promise light")
    parameter_name = "promise"

    def lookups(self, request, model_admin):
        return list(PROMISE_LIGHT_LABELS.items())

    def queryset(self, request, queryset):
        if self.value() in PROMISE_LIGHT_LABELS:
            return queryset.filter(promise_light=self.value())
        return queryset


class OverdueFilter(admin.SimpleListFilter):
    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue")), ("no", _("On time"))]

    def queryset(self, request, queryset):
        overdue = {"state_deadline__lt": timezone.now()}
        if self.value() == "yes":
            return queryset.filter(**overdue).exclude(status__in=FINAL_STATES)
        if self.value() == "no":
            return queryset.exclude(**overdue)
        return queryset


class ApprovalOverdueFilter(admin.SimpleListFilter):
    """审批滞留: held for approval past the approval's time and escalated to the approver's superior."""

    title = _("approval overdue")
    parameter_name = "approval_overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Approval overdue")), ("no", _("No approval overdue"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(approval_overdue=self.value() == "yes")
        return queryset


class NodeOwnerFilter(admin.SimpleListFilter):
    """Orders in the status nodes the user or the user's groups own (the workbench's "late in my nodes")."""

    title = _("node owner")
    parameter_name = "node_owner"

    def lookups(self, request, model_admin):
        return [("mine", _("My groups and me"))]

    def queryset(self, request, queryset):
        if self.value() == "mine":
            return queryset.filter(selectors.orders_in_nodes_owned_by(request.user))
        return queryset


class PaymentMismatchFilter(admin.SimpleListFilter):
    """Held by the payment check: the amount paid did not match (金额不符)."""

    title = _("amount mismatch")
    parameter_name = "payment_mismatch"

    def lookups(self, request, model_admin):
        return [("yes", _("Amount mismatch (金额不符)"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(selectors.orders_payment_mismatch())
        return queryset


class StatusEvidenceFilter(admin.SimpleListFilter):
    """状态与实物不符: printed without a parcel, picked up / in transit without a carrier scan (the dashboard's
    status consistency figure links here)."""

    title = _("status evidence")
    parameter_name = "evidence"

    def lookups(self, request, model_admin):
        return [("missing", _("Status without its physical step"))]

    def queryset(self, request, queryset):
        if self.value() == "missing":
            return queryset.filter(selectors.orders_status_unbacked())
        return queryset


def _plain_number(value: str | None, *, most: int) -> int | None:
    """A query parameter of ASCII digits up to `most` (str.isdigit() also takes '²', which int() refuses), else None."""
    if value and re.fullmatch(r"[0-9]{1,9}", value) and int(value) <= most:
        return int(value)
    return None


MAX_OVERDUE_MINUTES = 366 * 24 * 60  # a year: further back no deadline is compared


class OverdueByFilter(admin.SimpleListFilter):
    """?overdue_by=<minutes>: past the status deadline by more than that (订单流断点, linked from the dashboard);
    shown only when used."""

    title = _("overdue by more than")
    parameter_name = "overdue_by"

    def lookups(self, request, model_admin):
        value = self.value()
        minutes = _plain_number(value, most=MAX_OVERDUE_MINUTES)
        return [(value, _("%(n)s minutes") % {"n": minutes})] if minutes is not None else []

    def queryset(self, request, queryset):
        minutes = _plain_number(self.value(), most=MAX_OVERDUE_MINUTES)
        if minutes is not None:
            return queryset.filter(selectors.orders_overdue_by(minutes=minutes))
        return queryset


class PaymentToConfirmFilter(admin.SimpleListFilter):
    """Waiting for a person to confirm the payment (财务's 确认收款: reported and not verified, or a B2B order)."""

    title = _("payment to confirm")
    parameter_name = "payment_to_confirm"

    def lookups(self, request, model_admin):
        return [("yes", _("Payment to confirm"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(selectors.orders_payment_to_confirm())
        return queryset


class ImportJobFilter(admin.SimpleListFilter):
    """The orders one import created (?import_job=<id>, linked from the import's result); shown only when used."""

    title = _("import")
    parameter_name = "import_job"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, _("Import #%(n)s") % {"n": value})] if _plain_number(value, most=2**31) is not None else []

    def queryset(self, request, queryset):
        if _plain_number(self.value(), most=2**31) is not None:
            return queryset.filter(import_job_id=int(self.value()))
        return queryset


def local_moment(text: str, *, tz) -> datetime:
    """'YYYY-MM-DD' (local midnight) or 'YYYY-MM-DDTHH:MM' in the current time zone, as an aware datetime."""
    value = datetime.fromisoformat(text)  # ValueError on anything else
    if value.tzinfo is not None:
        raise ValueError(f"a local time without its offset, not {text!r}")
    return value.replace(tzinfo=tz)


class OrderedRangeFilter(admin.ListFilter):
    """Placed from (included) / before (excluded), local time: ?ordered_from=2026-03-01&ordered_before=2026-03-15, or
    to the minute (2026-03-11T09:00). The dashboard links its days, ranges and hours here; shown only when used."""

    title = _("ordered (local time)")
    parameters = ("ordered_from", "ordered_before")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.parameters:
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1]

    def has_output(self) -> bool:
        return bool(self.used_parameters)

    def expected_parameters(self) -> list[str]:
        return list(self.parameters)

    def choices(self, changelist):
        labels = {"ordered_from": gettext("placed from"), "ordered_before": gettext("placed before")}
        shown = " – ".join(f"{labels[name]} {self.used_parameters[name]}" for name in self.used_parameters)
        yield {
            "selected": False,
            "query_string": changelist.get_query_string(remove=self.parameters),
            "display": _("All"),
        }
        yield {"selected": True, "query_string": changelist.get_query_string(), "display": shown}

    def queryset(self, request, queryset):
        tz = timezone.get_current_timezone()
        try:
            if "ordered_from" in self.used_parameters:
                queryset = queryset.filter(ordered_at__gte=local_moment(self.used_parameters["ordered_from"], tz=tz))
            if "ordered_before" in self.used_parameters:
                queryset = queryset.filter(ordered_at__lt=local_moment(self.used_parameters["ordered_before"], tz=tz))
        except ValueError as error:  # the admin's "incorrect lookup" answer (?e=1), as for any bad filter value
            raise IncorrectLookupParameters(error) from error
        return queryset


# Who, where and which state: shown first on the order page and never edited by hand.
ORDER_HEADER_FIELDS = (
    "number",
    "status",
    "status_reason",
    "state_entered_at",
    "state_deadline",
    "channel",
    "channel_order_no",
    "buyer_id",
    "ordered_at",
    "source",
    "is_legacy",
)


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    fields = ("sku", "quantity", "unit_price", "is_gift", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # lines come from intake and rules (gifts); shown, never edited here

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("sku")


@admin.register(Order)
class OrderAdmin(XlsxExportMixin, HistoryAdmin):
    # What customer service scans first comes first, so it fits a 1366 px screen beside the menu and the
    # filters; the rest scrolls inside the table.
    list_display = (
        "number",
        "status_badge",
        "deadline_display",
        "promise_light_badge",
        "receiver_display",
        "channel_display",
        "customer_name",
        "paid_amount",
        "priority",
        "ordered_short",
    )
    list_filter = (
        "status",
        "hold_kind",  # 退款审核 / 疑似重复 holds
        "channel",
        "warehouse",
        OrderedRangeFilter,  # the dashboard's drill-down: local days or hours
        "priority",
        OverdueFilter,
        NodeOwnerFilter,
        ApprovalOverdueFilter,  # 审批滞留
        PromiseLightFilter,
        "payment_status",
        PaymentMismatchFilter,  # 金额不符
        PaymentToConfirmFilter,  # 待确认收款
        "is_presale",
        "is_legacy",
        ImportJobFilter,
        StatusEvidenceFilter,  # 状态与实物不符
        OverdueByFilter,
    )
    list_select_related = ("channel", "customer")
    date_hierarchy = "ordered_at"
    search_fields = ("number",)  # replaced by get_search_results (selectors.order_lookup_ids)
    search_help_text = _(
        "Order no., channel order no. or tracking no. (exact); mobile phone (full, last 4 digits or first 7+ "
        "digits); customer or receiver name (exact or its beginning)"
    )
    show_full_result_count = False
    list_per_page = 50
    # 导出 Excel: the list's columns as plain values (full times, receiver and channel order no. in columns of
    # their own, phones as stored: masked and encrypted ones stay so).
    export_fields = (
        "number",
        "status",
        "deadline_value",
        "promise_light_badge",
        "receiver_name",
        "receiver_phone",
        "channel",
        "channel_order_no",
        "customer_name",
        "paid_amount",
        "priority",
        "ordered_at",
        (_("tracking number"), "tracking_number"),
    )
    inlines = [OrderLineInline]
    actions = ["print_pick_list", "get_waybills_and_print", "release_holds", "acknowledge_alerts"]
    change_form_template = "admin/orders/order/change_form.html"
    # Everything but invoice title and promised ship-by: the status machine, payment, allocation, the parcel,
    # the address (修改地址), priority (设置优先级) and tags (标签) each change through their own service.
    service_owned_fields = (
        *ORDER_HEADER_FIELDS,
        "customer",
        *ADDRESS_FIELDS,
        "subtotal",
        "paid_amount",
        "payment_status",
        "is_presale",
        "deposit_amount",
        "paid_at",
        "payment_reference",
        "promo_code",  # a fact of the channel's sale: rules and promotion quotas were decided on it
        "platform_ship_by",  # the platform's deadline: only the channel says it
        "priority",
        "tags",
        "warehouse",
        "carrier",
        "resume_status",
        "fingerprint",
        "channel_modified_at",  # set by channel intake
        "duplicate_of",  # set by the duplicate check
        "created_at",
        "updated_at",
    )
    # The parcel registry's number (logistics), annotated by get_queryset: never a field of the order's form.
    readonly_fields = (
        "tracking_number",
        "import_job_display",
        "approval_overdue_display",
        "promise_light_badge",
        "deadline_basis_display",
    )
    fieldsets = (
        (
            _("Order"),
            {
                "fields": (
                    *ORDER_HEADER_FIELDS,
                    "import_job_display",
                    "approval_overdue_display",
                    "channel_modified_at",
                    "duplicate_of",
                )
            },
        ),
        (
            _("Customer and address"),
            {
                "fields": ("customer", *ADDRESS_FIELDS),
                "description": _("Read-only here: use the “Change address” button above."),
            },
        ),
        (
            _("Money"),
            {
                "fields": (
                    "subtotal",
                    "paid_amount",
                    "payment_status",
                    "is_presale",
                    "deposit_amount",
                    "paid_at",
                    "payment_reference",
                    "promo_code",
                    "invoice_title",
                )
            },
        ),
        (
            _("Handling"),
            {
                "fields": (
                    "priority",
                    "tags_display",
                    "promised_ship_by",
                    "platform_ship_by",
                    "promise_light_badge",
                    "deadline_basis_display",
                    "warehouse",
                    "carrier",
                    "tracking_number",
                ),
                "description": _(
                    "Priority and tags change with the buttons above; warehouse, carrier and tracking number "
                    "with the status steps (allocation, label printing)."
                ),
            },
        ),
    )

    @admin.display(description=_("tags"))
    def tags_display(self, order: Order) -> str:
        return "、".join(order.tags) or "—"

    @admin.display(description=_("customer"), ordering="customer__name")
    def customer_name(self, order: Order) -> str:
        return order.customer.name

    @admin.display(description=_("receiver"), ordering="receiver_name")
    def receiver_display(self, order: Order) -> str:
        return format_html('{}<br><span class="oh-sub">{}</span>', order.receiver_name, order.receiver_phone)

    @admin.display(description=_("channel"), ordering="channel_order_no")
    def channel_display(self, order: Order) -> str:
        return format_html('{}<br><span class="oh-sub">{}</span>', order.channel.name, order.channel_order_no)

    @admin.display(description=_("ordered at"), ordering="ordered_at")
    def ordered_short(self, order: Order) -> str:
        return timezone.localtime(order.ordered_at).strftime("%m-%d %H:%M")

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, order: Order) -> str:
        badge = format_html('<span class="oh-status oh-status-{}">{}</span>', order.status, order.get_status_display())
        if getattr(order, "approval_overdue", False):
            return format_html(
                '{} <strong class="oh-overdue oh-approval-overdue">{}</strong>', badge, _("Approval overdue")
            )
        return badge

    @admin.display(description=_("approval overdue"), boolean=False)
    def approval_overdue_display(self, order: Order) -> str:
        if getattr(order, "approval_overdue", False):
            return format_html(
                '<strong class="oh-overdue oh-approval-overdue">{}</strong> {}',
                _("Approval overdue"),
                _("The approval waited past its time and went to the approver's superior."),
            )
        return "—"

    @admin.display(description=_("imported by"))
    def import_job_display(self, order: Order) -> str:
        """导入 #N（文件名）, linked to the order list of that import (every role that sees the order may open it; the
        import's own page needs the import permission); — for an order that came through any other door."""
        if order.import_job_id is None:
            return "—"
        job = order.import_job
        url = f"{reverse('admin:orders_order_changelist')}?{urlencode({'import_job': job.pk})}"
        text = _("import #%(n)s (%(file)s)") % {"n": job.pk, "file": job.file_name}
        return format_html('<a href="{}" id="order-import-job">{}</a>', url, text)

    @admin.display(description=_("deadline"), ordering="state_deadline")
    def deadline_display(self, order: Order) -> str:
        paused = deadline_paused_text(order) if order.status not in FINAL_STATES else ""
        if paused:  # a node's clock stands still: say so and why, with the running deadline if any
            badge = format_html('<span class="oh-paused" title="{}">⏸ {}</span>', deadline_basis_text(order), paused)
            if order.state_deadline is None:
                return badge
            return format_html("{} {}", timezone.localtime(order.state_deadline).strftime("%m-%d %H:%M"), badge)
        if order.state_deadline is None or order.status in FINAL_STATES:
            return "—"
        when = timezone.localtime(order.state_deadline).strftime("%m-%d %H:%M")
        if order.state_deadline < timezone.now():
            return format_html('{} <strong class="oh-overdue">⚠ {}</strong>', when, _("overdue"))
        return when

    @admin.display(description=_("deadline"))
    def deadline_value(self, order: Order):
        """The deadline column of the export: the full time, none once the order is final (as the list shows)."""
        return None if order.status in FINAL_STATES else order.state_deadline

    @admin.display(description=_("promise"), ordering="promise_ship_by")
    def promise_light_badge(self, order: Order) -> str:
        light = getattr(order, "promise_light", "")
        if not light:
            return "—"
        when = timezone.localtime(order.promise_ship_by).strftime("%m-%d %H:%M")
        return format_html(
            '<span class="oh-promise oh-promise-{}" data-light="{}">● {}</span> {}',
            light,
            light,
            PROMISE_LIGHT_LABELS[light],
            when,
        )

    @admin.display(description=_("deadline basis"))
    def deadline_basis_display(self, order: Order) -> str:
        return deadline_basis_text(order) or "—"

    @admin.action(description="打印拣货单 Print pick list", permissions=["fulfil"])
    def print_pick_list(self, request, queryset: QuerySet[Order]):
        numbers = list(queryset.order_by().values_list("number", flat=True)[: PICK_LIST_MAX_SELECTED + 1])
        if len(numbers) > PICK_LIST_MAX_SELECTED:
            messages.error(request, _("Select at most %(n)d orders for one pick list.") % {"n": PICK_LIST_MAX_SELECTED})
            return None
        query = urlencode({"orders": ",".join(numbers)}, safe=",")
        return HttpResponseRedirect(f"{reverse('warehouse:picklist')}?{query}")

    def has_fulfil_permission(self, request) -> bool:
        return request.user.has_perm("orders.fulfil_order")

    @admin.action(description="获取面单并打印 Get waybills and print labels", permissions=["fulfil"])
    def get_waybills_and_print(self, request, queryset: QuerySet[Order]):
        """orders_waybills_obtain for the selection: counts, each failure with its reason, and one PDF link."""
        orders = list(queryset.order_by("pk")[: BULK_WAYBILL_MAX_SELECTED + 1])
        if len(orders) > BULK_WAYBILL_MAX_SELECTED:
            messages.error(
                request, _("Select at most %(n)d orders to get waybills for.") % {"n": BULK_WAYBILL_MAX_SELECTED}
            )
            return None
        batch = orders_waybills_obtain(orders=orders, actor=request.user, source=Source.ADMIN)
        for number, reason in batch.failed:
            messages.error(request, _("%(number)s: no waybill: %(why)s") % {"number": number, "why": reason})
        failed = {number for number, _reason in batch.failed}
        printable = [order.number for order in orders if order.number not in failed]
        summary = _("%(ok)d waybills ready, %(failed)d failed.") % {"ok": len(batch.ok), "failed": len(batch.failed)}
        if printable:
            messages.success(
                request,
                format_html(
                    '{} <a href="{}" target="_blank" id="oh-labels-link">{}</a>',
                    summary,
                    labels_url(printable),
                    _("Print labels (PDF)"),
                ),
            )
        else:
            messages.warning(request, summary)
        return None

    @admin.action(description=_("Release selected holds (with a reason)"), permissions=["release"])
    def release_holds(self, request, queryset: QuerySet[Order]):
        """Ask for one reason, then release each order through its own transition; refusals are listed."""
        orders = list(queryset.order_by("pk")[: BULK_RELEASE_MAX_SELECTED + 1])
        if len(orders) > BULK_RELEASE_MAX_SELECTED:
            messages.error(
                request, _("Select at most %(n)d orders to release at once.") % {"n": BULK_RELEASE_MAX_SELECTED}
            )
            return None
        form = HoldReleaseForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            released = 0
            for order in orders:
                try:
                    order_transition(
                        order=order,
                        transition="release",
                        actor=request.user,
                        source=Source.ADMIN,
                        reason=form.cleaned_data["reason"],
                    )
                except ApplicationError as refusal:
                    messages.error(
                        request,
                        _("%(number)s not released: %(why)s") % {"number": order.number, "why": refusal.message},
                    )
                else:
                    released += 1
            if released:
                messages.success(
                    request,
                    ngettext("%(n)d order released.", "%(n)d orders released.", released) % {"n": released},
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Release holds"),
            "orders": orders,
            "form": form,
            "action_name": "release_holds",
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/orders/order/release_holds.html", context)

    def has_release_permission(self, request) -> bool:
        return request.user.has_perm("orders.release_order")

    @admin.action(description=_("Acknowledge the selected orders' open alerts"), permissions=["acknowledge"])
    def acknowledge_alerts(self, request, queryset: QuerySet[Order]):
        acknowledged = 0
        for alert in selectors.alerts_open().filter(order__in=queryset.order_by().values("pk")).order_by("pk"):
            alert_acknowledge(alert=alert, actor=request.user)
            acknowledged += 1
        messages.success(
            request,
            ngettext("%(n)d alert acknowledged.", "%(n)d alerts acknowledged.", acknowledged) % {"n": acknowledged},
        )

    def has_acknowledge_permission(self, request) -> bool:
        return request.user.has_perm("orders.change_alert")

    def get_queryset(self, request):
        # The tracking number is the registry's (read-only here: the status steps register it), in the same query.
        return selectors.with_promise_light(
            selectors.orders_with_approval_overdue(orders_with_tracking_number(super().get_queryset(request)))
        )

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(pk__in=selectors.order_lookup_ids(q=search_term)), False

    def get_readonly_fields(self, request, obj=None):
        readonly = [*super().get_readonly_fields(request, obj), "tags_display"]
        if obj is not None:  # legacy orders: nothing; shipped ones: no more promises about shipping
            editable = details_editable(order=obj)
            readonly += [f for f in DETAIL_FIELDS if f not in editable]
        return readonly

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_legacy:
            return False  # legacy (imported) orders are read-only
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        """The two fields left on the form go through their service too (history row + timeline event)."""
        try:
            order_set_details(
                order=obj,
                invoice_title=form.cleaned_data.get("invoice_title", obj.invoice_title),
                promised_ship_by=form.cleaned_data.get("promised_ship_by", obj.promised_ship_by),
                actor=request.user,
                reason=gettext("edited on the order page"),
            )
        except ApplicationError as refusal:  # the order moved on since the form was shown
            request._order_refused = True
            messages.error(request, _("Refused: %(why)s") % {"why": refusal.message})

    def response_change(self, request, obj):
        if getattr(request, "_order_refused", False):
            return HttpResponseRedirect(reverse("admin:orders_order_change", args=[obj.pk]))
        return super().response_change(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # orders are never deleted; cancel them

    def has_add_permission(self, request) -> bool:
        return False  # orders come in through intake (API, webhooks, pulls, import)

    def get_urls(self):
        custom = [
            path(
                "<int:pk>/transition/", self.admin_site.admin_view(self.transition_view), name="orders_order_transition"
            ),
            path("<int:pk>/address/", self.admin_site.admin_view(self.address_view), name="orders_order_address"),
            path("<int:pk>/priority/", self.admin_site.admin_view(self.priority_view), name="orders_order_priority"),
            path("<int:pk>/tags/", self.admin_site.admin_view(self.tags_view), name="orders_order_tags"),
            path("<int:pk>/payment/", self.admin_site.admin_view(self.payment_view), name="orders_order_payment"),
            path("<int:pk>/waybill/", self.admin_site.admin_view(self.waybill_view), name="orders_order_waybill"),
        ]
        return custom + super().get_urls()

    def transition_view(self, request: HttpRequest, pk: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        order = get_object_or_404(Order, pk=pk)
        name = request.POST.get("transition", "")
        try:
            order_transition(
                order=order,
                transition=name,
                actor=request.user,
                source=Source.ADMIN,
                reason=request.POST.get("reason", ""),
                hold_kind=request.POST.get("hold_kind", ""),  # the hold's kind: other, or waiting for the customer
            )
        except ApplicationError as exc:
            messages.error(request, _("Refused: %(why)s") % {"why": exc.message})
        else:
            order.refresh_from_db()
            messages.success(
                request,
                _("Order %(number)s is now '%(status)s'.")
                % {"number": order.number, "status": order.get_status_display()},
            )
        return HttpResponseRedirect(reverse("admin:orders_order_change", args=[pk]))

    def waybill_view(self, request: HttpRequest, pk: int):
        """获取面单: the order's waybill from its carrier (or the one it has); the carrier's reason when it refuses."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("orders.fulfil_order"):
            raise PermissionDenied
        order = get_object_or_404(Order, pk=pk)
        try:
            shipment = order_waybill_obtain(order=order, actor=request.user, source=Source.ADMIN)
        except ApplicationError as exc:
            messages.error(request, _("Refused: %(why)s") % {"why": exc.message})
        else:
            messages.success(
                request,
                format_html(
                    '{} <a href="{}" target="_blank">{}</a>',
                    _("Waybill %(number)s of %(carrier)s.")
                    % {"number": shipment.tracking_number, "carrier": shipment.carrier.name},
                    labels_url([order.number]),
                    _("Print label"),
                ),
            )
        return HttpResponseRedirect(reverse("admin:orders_order_change", args=[pk]))

    def address_view(self, request: HttpRequest, pk: int):
        """Change where the order goes: applied before the label is printed, an intercept request after."""
        order = get_object_or_404(Order, pk=pk)
        if not request.user.has_perm("orders.change_order"):
            raise PermissionDenied
        form = AddressChangeForm(request.POST or None, initial=Address.of(order).order_fields())
        if request.method == "POST" and form.is_valid():
            data = dict(form.cleaned_data)
            reason = data.pop("reason")
            try:
                change = order_change_address(
                    order=order, address=Address.from_order_fields(data), reason=reason, actor=request.user
                )
            except ApplicationError as refusal:
                self._form_refusal(form, refusal)
            else:
                messages.success(request, change.get_state_display())
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[pk]))
        title = _("Change address of %(number)s") % {"number": order.number}
        return self._service_page(request, order, "address", title, form)

    def priority_view(self, request: HttpRequest, pk: int):
        """设置优先级: a place in the allocation queue and on pick lists, with the reason on the timeline."""
        order = get_object_or_404(Order, pk=pk)
        if not request.user.has_perm("orders.change_order"):
            raise PermissionDenied
        form = PriorityForm(request.POST or None, initial={"priority": order.priority})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                order = order_set_priority(
                    order=order, priority=data["priority"], reason=data["reason"], actor=request.user
                )
            except ApplicationError as refusal:
                self._form_refusal(form, refusal)
            else:
                messages.success(request, _("Priority is now '%(p)s'.") % {"p": order.get_priority_display()})
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[pk]))
        title = _("Set priority of %(number)s") % {"number": order.number}
        return self._service_page(request, order, "priority", title, form)

    def tags_view(self, request: HttpRequest, pk: int):
        """标签: remove tags one by one and add new ones; one timeline event lists old → new."""
        order = get_object_or_404(Order, pk=pk)
        if not request.user.has_perm("orders.change_order"):
            raise PermissionDenied
        form = TagsForm(request.POST or None, tags=list(order.tags or []))
        if request.method == "POST" and form.is_valid():
            try:
                order = order_set_tags(
                    order=order, tags=form.tags(), reason=form.cleaned_data["reason"], actor=request.user
                )
            except ApplicationError as refusal:
                self._form_refusal(form, refusal)
            else:
                messages.success(request, _("Tags saved: %(tags)s") % {"tags": "、".join(order.tags) or "—"})
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[pk]))
        title = _("Tags of %(number)s") % {"number": order.number}
        return self._service_page(request, order, "tags", title, form)

    def payment_view(self, request: HttpRequest, pk: int):
        """确认收款: finance records amount, time and reference; the payment service checks and moves the order."""
        order = get_object_or_404(Order, pk=pk)
        if not request.user.has_perm("orders.pay_order"):
            raise PermissionDenied
        expected = payment_expected(order=order)
        form = PaymentForm(
            request.POST or None,
            initial={"paid_amount": expected[-1], "paid_at": timezone.localtime().replace(second=0, microsecond=0)},
        )
        if request.method == "POST" and form.is_valid():
            try:
                order = order_confirm_payment(order=order, **form.cleaned_data, actor=request.user, source=Source.ADMIN)
            except ApplicationError as refusal:
                self._form_refusal(form, refusal)
            else:
                if order.status == "on_hold":
                    messages.warning(request, order.status_reason)
                else:
                    messages.success(
                        request,
                        _("Payment recorded. Order %(number)s is now '%(status)s' (%(payment)s).")
                        % {
                            "number": order.number,
                            "status": order.get_status_display(),
                            "payment": order.get_payment_status_display(),
                        },
                    )
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[pk]))
        title = _("Confirm payment of %(number)s") % {"number": order.number}
        return self._service_page(
            request, order, "payment", title, form, expected=expected, can_confirm=payment_can_confirm(order=order)
        )

    @staticmethod
    def _waybill_context(request, order: Order) -> dict:
        """The order's waybill (number, state, routing text), the open waybill_failed reason, and the buttons."""
        waybill = primary_parcel(order=order)
        fulfil = request.user.has_perm("orders.fulfil_order") and not order.is_legacy
        failed = selectors.alerts_open().filter(order=order, kind=Alert.Kind.WAYBILL_FAILED).order_by("-pk").first()
        return {
            "waybill": waybill,
            "waybill_failed": failed,
            "can_get_waybill": fulfil and waybill is None and order.status == "allocated",
            "labels_url": labels_url([order.number]) if fulfil and waybill is not None else "",
        }

    @staticmethod
    def _form_refusal(form: forms.Form, refusal: ApplicationError) -> None:
        field = refusal.extra.get("field")
        if field == "tags":
            field = "add"
        form.add_error(field if field in form.fields else None, refusal.message)

    def _service_page(self, request, order: Order, name: str, title, form, **extra) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": order,
            "title": title,
            "form": form,
            **extra,
        }
        return TemplateResponse(request, f"admin/orders/order/{name}.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        order = self.get_object(request, object_id)
        if order is not None:
            may_change = request.user.has_perm("orders.change_order") and not order.is_legacy
            extra_context.update(
                {
                    "can_change_address": may_change and order.status in BEFORE_LABEL | WITH_CARRIER,
                    "can_set_priority": may_change and order.status not in FINAL_STATES,
                    "can_set_tags": may_change,
                    "can_confirm_payment": request.user.has_perm("orders.pay_order")
                    and payment_can_confirm(order=order),
                    "transitions": transitions_available(order=order, actor=request.user, source=Source.ADMIN),
                    "hold_kinds": [(k.value, k.label) for k in PERSON_HOLD_KINDS],  # 挂起 asks which kind
                    "timeline": selectors.order_timeline(order=order),
                    "node": selectors.status_node_for(status=order.status),
                    "overdue": selectors.order_is_overdue(order=order),
                    "order_alerts": selectors.alerts_open().filter(order=order),
                    "order_lines": order.lines.select_related("sku"),
                    "stock_locks": order_locks(order_id=order.pk),
                    "parcels": order_parcels(order),
                    **self._waybill_context(request, order),
                }
            )
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


@admin.register(Customer)
class CustomerAdmin(XlsxExportMixin, HistoryAdmin):
    list_display = ("name", "phone", "platform_buyer", "member_level", "created_at")
    list_filter = ("member_level",)
    search_fields = ("=phone", "name", "=platform_buyer")
    date_hierarchy = "created_at"
    readonly_fields = ("platform_buyer",)  # a masked buyer's identity: set by intake


class DuplicateSettingsForm(forms.ModelForm):
    match_fields = forms.MultipleChoiceField(
        label=_("match fields"),
        choices=DuplicateSettings.Match.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("What must be equal (at least one phone). A masked phone (138****5678) never counts as equal."),
    )

    class Meta:
        model = DuplicateSettings
        fields = ("enabled", "window_hours", "match_fields")


@admin.register(DuplicateSettings)
class DuplicateSettingsAdmin(HistoryAdmin):
    """One row (like the allocation settings): the list page opens it directly."""

    form = DuplicateSettingsForm
    list_display = ("__str__", "enabled", "window_hours", "match_fields_display")

    def get_fields(self, request, obj=None):
        if self.has_change_permission(request, obj):
            return ("enabled", "window_hours", "match_fields")
        return ("enabled", "window_hours", "match_fields_display")  # read-only: the labels, not the codes

    @admin.display(description=_("match fields"))
    def match_fields_display(self, settings: DuplicateSettings) -> str:
        labels = dict(DuplicateSettings.Match.choices)
        return "、".join(str(labels.get(name, name)) for name in settings.match_fields) or "—"

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        duplicate_settings_save(settings=obj, actor=request.user)

    def changelist_view(self, request, extra_context=None):
        settings = duplicate_settings()
        return HttpResponseRedirect(reverse("admin:orders_duplicatesettings_change", args=[settings.pk]))


class StaffPickerMixin:
    """Owner and recipient pickers as plain selects of the groups and active staff users.

    The admin's autocomplete and raw-id lookups answer only to those who may view auth groups and users,
    i.e. user administrators; managers who assign work must be able to choose without that right. A hub
    has tens of groups and at most a few hundred staff, so a select stays usable.
    """

    group_fields: tuple[str, ...] = ()
    user_fields: tuple[str, ...] = ()

    # Read-only, the admin would link a group or user to auth's pages, which answer 403 to all but user
    # admins: those who only look get the names as text instead (the `<field>_plain` display methods).
    def _plain_names(self) -> dict[str, str]:
        return {name: f"{name}_plain" for name in (*self.group_fields, *self.user_fields)}

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if self.has_change_permission(request, obj):
            return readonly
        return [*readonly, *self._plain_names().values()]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if self.has_change_permission(request, obj):
            return fields
        plain = self._plain_names()
        return list(dict.fromkeys(plain.get(name, name) for name in fields))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.group_fields:
            kwargs["queryset"] = Group.objects.order_by("name")
        elif db_field.name in self.user_fields:
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name in self.user_fields:
            field.label_from_instance = staff_label
        return field


def staff_label(user) -> str:
    name = user.get_full_name()
    return f"{name} ({user.username})" if name else user.username


def plain_related(field: str, description):
    """A group or user shown as text, for those who only look (see StaffPickerMixin.get_fields)."""

    @admin.display(description=description)
    def show(self, obj) -> str:
        related = getattr(obj, field)
        if related is None:
            return "—"
        return staff_label(related) if hasattr(related, "get_full_name") else str(related)

    return show


class EscalationLevelForm(forms.ModelForm):
    class Meta:
        model = EscalationLevel
        fields = (
            "level",
            "after_minutes",
            "after_percent",
            "repeat_minutes",
            "notify_group",
            "notify_user",
            "notify_channel",
        )

    def clean(self):
        data = super().clean()
        if data.get("DELETE"):
            return data
        # On the fields, in words, before the database constraints answer with their names.
        if (data.get("after_minutes") is None) == (data.get("after_percent") is None):
            self.add_error(
                "after_minutes",
                _("Fill in either the minutes after the deadline or the share of the allowed time, not both."),
            )
        if not (data.get("notify_group") or data.get("notify_user") or data.get("notify_channel")):
            self.add_error("notify_group", _("Choose a group, a person or a channel to notify (at least one)."))
        return data


class EscalationLevelInline(StaffPickerMixin, admin.TabularInline):
    model = EscalationLevel
    form = EscalationLevelForm
    extra = 0
    group_fields = ("notify_group",)
    user_fields = ("notify_user",)
    notify_group_plain = plain_related("notify_group", _("notify group"))
    notify_user_plain = plain_related("notify_user", _("notify user"))
    notify_channel_plain = plain_related("notify_channel", _("notify channel"))

    def _plain_names(self) -> dict[str, str]:
        # The channel as text too for those who only look (its page needs the notification permissions).
        return {**super()._plain_names(), "notify_channel": "notify_channel_plain"}


class StatusNodeForm(forms.ModelForm):
    pause_states = forms.MultipleChoiceField(
        label=_("states that pause the clock"),
        choices=pause_token_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        error_messages={"invalid_choice": _("Unknown pausing state '%(value)s'.")},
        help_text=_(
            "Leaving this node for one of these states keeps its time left; coming back resumes it (e.g. on hold). "
            "A hold of one kind pauses only when the order is held as that kind; a presale waiting for its balance "
            "stops the clock of 'Placed' until the balance is paid."
        ),
    )

    class Meta:
        model = StatusNode
        fields = (
            "status",
            "owner_group",
            "owner_user",
            "timeout_minutes",
            "clock",
            "calendar",
            "pause_states",
            "customer_label",
            "customer_message",
            "notify_customer",
        )

    def clean_pause_states(self):
        tokens = self.cleaned_data["pause_states"]
        problem = pause_tokens_problem(self.instance.status, tokens)
        if problem:
            raise forms.ValidationError(problem)
        return tokens


@admin.register(StatusNode)
class StatusNodeAdmin(StaffPickerMixin, HistoryAdmin):
    form = StatusNodeForm
    list_display = (
        "status",
        "owner_group",
        "owner_user",
        "timeout_minutes",
        "clock",
        "calendar",
        "customer_label",
        "notify_customer",
    )
    list_filter = ("notify_customer", "owner_group", "clock")
    list_select_related = ("owner_group", "owner_user", "calendar")
    search_fields = ("status", "customer_label")
    group_fields = ("owner_group",)
    user_fields = ("owner_user",)
    owner_group_plain = plain_related("owner_group", _("owner group"))
    owner_user_plain = plain_related("owner_user", _("owner user"))
    inlines = [EscalationLevelInline]
    service_owned_fields = ("status",)  # which state a settings row belongs to

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        node_settings_forget()  # deadlines set later in this request read the new settings

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        ladder_levels_forget()  # orders entering the node from now on get the new levels' marks

    def has_add_permission(self, request) -> bool:
        return False  # every state has its row from setup (status_nodes_ensure_defaults)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # every state keeps its settings row


class AlertStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", _("Open")), ("acknowledged", _("Acknowledged")), ("resolved", _("Resolved by the system"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(acknowledged_at__isnull=True, resolved_at__isnull=True)
        if self.value() == "acknowledged":
            return queryset.filter(acknowledged_at__isnull=False, resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class AlertOwnerFilter(admin.SimpleListFilter):
    title = _("owner")
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        return [("mine", _("My groups and me")), ("others", _("Others"))]

    def queryset(self, request, queryset):
        if self.value() == "mine":
            return queryset.filter(selectors.alerts_owned_by(request.user))
        if self.value() == "others":
            return queryset.exclude(selectors.alerts_owned_by(request.user))
        return queryset


@admin.register(Alert)
class AlertAdmin(XlsxExportMixin, StaffPickerMixin, HistoryAdmin):
    list_display = (
        "created_at",
        "severity",
        "kind",
        "message",
        "order",
        "owner_group",
        "owner_user",
        "state_display",
    )
    list_filter = (AlertStateFilter, AlertOwnerFilter, "severity", "kind", "owner_group")
    list_select_related = ("order", "owner_group", "owner_user", "acknowledged_by")
    search_fields = ("message", "order__number")
    raw_id_fields = ("order",)
    # Owners as plain selects: group autocomplete and user lookups need rights on auth (StaffPickerMixin).
    group_fields = ("owner_group",)
    user_fields = ("owner_user",)
    owner_group_plain = plain_related("owner_group", _("owner group"))
    owner_user_plain = plain_related("owner_user", _("owner user"))
    readonly_fields = ("state_display",)
    date_hierarchy = "created_at"
    actions = ["acknowledge"]
    # What the alert says and about which order is the raiser's; staff may hand it to another owner.
    service_owned_fields = ("kind", "severity", "order", "message", "created_at")

    @admin.display(description=_("state"))
    def state_display(self, alert: Alert) -> str:
        if alert.resolved_at is not None:
            return format_html(
                '<span class="oh-alert-resolved" style="color:#417505">{} {}</span> · {}',
                _("Resolved by the system"),
                timezone.localtime(alert.resolved_at).strftime("%m-%d %H:%M"),
                alert.resolution,
            )
        if alert.acknowledged_at is not None:
            return format_html(
                "{} {} {}",
                _("Acknowledged"),
                alert.acknowledged_by or "",
                timezone.localtime(alert.acknowledged_at).strftime("%m-%d %H:%M"),
            )
        return format_html('<strong style="color:#ba2121">{}</strong>', _("Open"))

    @admin.action(description=_("Acknowledge selected alerts"), permissions=["change"])
    def acknowledge(self, request, queryset: QuerySet[Alert]):
        for alert in queryset.filter(acknowledged_at__isnull=True, resolved_at__isnull=True):
            alert_acknowledge(alert=alert, actor=request.user)
        messages.success(request, _("Alerts acknowledged."))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AlertRoute)
class AlertRouteAdmin(StaffPickerMixin, HistoryAdmin):
    """Who gets each kind of alert, and how severe it is: managers change owners here, nobody edits code."""

    list_display = ("kind", "owner_group", "owner_user", "severity", "note")
    list_filter = ("severity", "owner_group")
    list_select_related = ("owner_group", "owner_user")
    search_fields = ("kind", "note")
    fields = ("kind", "owner_group", "owner_user", "severity", "note")
    group_fields = ("owner_group",)
    user_fields = ("owner_user",)
    owner_group_plain = plain_related("owner_group", _("owner group"))
    owner_user_plain = plain_related("owner_user", _("owner user"))
    service_owned_fields = ("kind",)  # which alert kind a route belongs to

    def has_add_permission(self, request) -> bool:
        return False  # every alert kind has its row from the migration (alert_routes_ensure_defaults)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # every alert kind keeps its route; an empty owner leaves its alerts unowned


@admin.register(StaffProfile)
class StaffProfileAdmin(StaffPickerMixin, HistoryAdmin):
    """Who reports to whom: an approval left waiting (审批滞留) goes to the approver's superior, else to the
    lead of the on-hold node's owner group."""

    list_display = ("user", "superior", "leads_group")
    list_filter = ("leads_group",)
    list_select_related = ("user", "superior", "leads_group")
    search_fields = ("user__username", "user__first_name", "user__last_name", "superior__username")
    fields = ("user", "superior", "leads_group")
    group_fields = ("leads_group",)
    user_fields = ("user", "superior")
    user_plain = plain_related("user", _("user"))
    superior_plain = plain_related("superior", _("superior"))
    leads_group_plain = plain_related("leads_group", _("leads group"))


@admin.register(AddressChange)
class AddressChangeAdmin(HistoryAdmin):
    list_display = ("order", "state", "reason", "requested_by", "created_at", "resolved_at")
    list_filter = ("state", "created_at")
    search_fields = ("order__number",)
    list_select_related = ("order", "requested_by")
    raw_id_fields = ("order",)
    service_owned_fields = ("order", "state", "old_address", "new_address", "reason", "requested_by", "resolved_at")
    actions = ["intercepted", "intercept_failed"]

    def has_add_permission(self, request) -> bool:
        return False  # from the order page (修改地址)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _resolve(self, request, queryset, intercepted: bool) -> None:
        for change in queryset.filter(state=AddressChange.State.INTERCEPT):
            address_change_resolve(change=change, intercepted=intercepted, actor=request.user)
        self.message_user(request, _("Recorded. Resolve the order's exception when the parcel is on its way."))

    @admin.action(description=_("Carrier intercepted: apply the new address"), permissions=["change"])
    def intercepted(self, request, queryset):
        self._resolve(request, queryset, True)

    @admin.action(description=_("Intercept failed: keep the old address"), permissions=["change"])
    def intercept_failed(self, request, queryset):
        self._resolve(request, queryset, False)


# Channel setup and the intake log live in their own module; importing it registers them (working calendars too,
# and the import wizard with the legacy status mappings).
from orders import admin_calendar, admin_channels, admin_imports  # noqa: E402, F401
