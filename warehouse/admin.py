"""Warehouse screens: SKU master data with aliases, stock per SKU and warehouse with its ledger, stock
adjustments with a reason, reserved quotas, order locks, and the allocation queue's settings and breaker."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, Q
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin import HistoryAdmin, ServiceOwnedFieldsMixin
from config.admin_export import XlsxExportMixin
from config.exceptions import ApplicationError
from orders.models import Customer
from orders.selectors import allocation_queue_stats
from warehouse.models import (
    AllocationSettings,
    BreakerEvent,
    Sku,
    SkuAlias,
    StockLevel,
    StockLock,
    StockMovement,
    StockReservation,
    Warehouse,
    alias_normalize,
)
from warehouse.selectors import allocation_settings, sku_get_by_text
from warehouse.services import ADJUST_KINDS, reservation_end, reservation_save, stock_adjust


class ReadOnlyAdmin(ServiceOwnedFieldsMixin, admin.ModelAdmin):
    """Rows only services write (ledger, locks, breaker log): staff look, nobody edits by hand."""

    @property
    def service_owned_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.model._meta.fields)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SkuAliasForm(forms.ModelForm):
    class Meta:
        model = SkuAlias
        fields = ("alias",)

    def clean_alias(self):
        alias = self.cleaned_data["alias"].strip()
        normalized = alias_normalize(alias)
        if not normalized:
            raise ValidationError(_("An alias cannot be empty."))
        taken = (
            SkuAlias.objects.filter(normalized=normalized).exclude(pk=self.instance.pk).select_related("sku").first()
        )
        if taken:
            raise ValidationError(
                _("'%(alias)s' is already an alias of %(sku)s.") % {"alias": alias, "sku": taken.sku.code}
            )
        clash = Sku.objects.filter(code__iexact=alias).exclude(pk=self.instance.sku_id).first()
        if clash:
            raise ValidationError(_("'%(alias)s' is the code of another SKU.") % {"alias": alias})
        return alias


class SkuAliasInline(admin.TabularInline):
    model = SkuAlias
    form = SkuAliasForm
    extra = 1
    verbose_name = _("alias (other names channels or old systems use)")


@admin.register(Sku)
class SkuAdmin(HistoryAdmin):
    list_display = ("code", "name", "spec", "unit", "category", "default_supplier", "alias_list", "is_active")
    list_filter = ("category", "is_active")
    search_fields = ("code", "name", "aliases__alias")
    inlines = [SkuAliasInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("aliases")

    @admin.display(description=_("aliases"))
    def alias_list(self, sku: Sku) -> str:
        return "、".join(a.alias for a in sku.aliases.all())


@admin.register(Warehouse)
class WarehouseAdmin(HistoryAdmin):
    list_display = ("code", "name", "province", "city", "daily_capacity", "sender_name", "is_active")
    fieldsets = (
        (None, {"fields": ("code", "name", "province", "city", "address", "daily_capacity", "is_active")}),
        (
            _("Sender on waybills"),
            {"fields": ("sender_name", "sender_phone", "sender_address", "sender_company")},
        ),
    )
    list_filter = ("province", "is_active")
    search_fields = ("code", "name")


class AvailabilityFilter(admin.SimpleListFilter):
    title = _("available")
    parameter_name = "available"

    def lookups(self, request, model_admin):
        return [("out", _("None available")), ("low", _("10 or fewer")), ("held", _("Has locked or reserved"))]

    def queryset(self, request, queryset):
        available = F("on_hand") - F("locked") - F("reserved")
        if self.value() == "out":
            return queryset.alias(a=available).filter(a__lte=0)
        if self.value() == "low":
            return queryset.alias(a=available).filter(a__lte=10)
        if self.value() == "held":
            return queryset.filter(Q(locked__gt=0) | Q(reserved__gt=0))
        return queryset


class StockAdjustForm(forms.Form):
    sku = forms.CharField(label=_("SKU code or alias"), max_length=100)
    warehouse = forms.ModelChoiceField(label=_("warehouse"), queryset=Warehouse.objects.filter(is_active=True))
    kind = forms.ChoiceField(label=_("kind"), choices=[(k.value, k.label) for k in ADJUST_KINDS])
    quantity = forms.IntegerField(
        label=_("quantity"),
        min_value=0,
        help_text=_("Inbound and damage: how many units. Count correction: the on-hand figure you counted."),
    )
    reason = forms.CharField(label=_("reason"), max_length=255, help_text=_("e.g. 采购单 PO-2026-118 到货"))

    def clean_sku(self):
        try:
            return sku_get_by_text(text=self.cleaned_data["sku"].strip())
        except ApplicationError as refusal:
            raise ValidationError(refusal.message) from refusal


@admin.register(StockLevel)
class StockLevelAdmin(XlsxExportMixin, ReadOnlyAdmin):
    list_display = ("sku", "warehouse", "on_hand", "locked", "reserved", "available_display")  # + ledger, per role
    list_filter = ("warehouse", AvailabilityFilter, "sku__category")
    search_fields = ("sku__code", "sku__name", "sku__aliases__alias")
    list_select_related = ("sku", "warehouse")
    change_list_template = "admin/warehouse/stocklevel/change_list.html"
    # 导出 Excel: the figures as numbers; the ledger links stay on the page.
    export_fields = (
        "sku",
        "warehouse",
        "on_hand",
        "locked",
        "reserved",
        (_("available"), "available_units"),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(available_units=F("on_hand") - F("locked") - F("reserved"))

    @admin.display(description=_("available"), ordering="available_units")
    def available_display(self, level: StockLevel):
        if level.available <= 0:
            return format_html('<strong class="oh-stock-out">{}</strong>', level.available)
        return level.available

    def get_list_display(self, request):
        """The ledger column carries only the links this person can follow (movements, adjust)."""
        can_see_movements = request.user.has_perm("warehouse.view_stockmovement")
        can_adjust = request.user.has_perm("warehouse.adjust_stock")
        columns = super().get_list_display(request)
        if not (can_see_movements or can_adjust):
            return columns

        @admin.display(description=_("ledger"))
        def ledger(level: StockLevel):
            links = []
            if can_see_movements:
                both = urlencode({"sku__id__exact": level.sku_id, "warehouse__id__exact": level.warehouse_id})
                links.append((f"{reverse('admin:warehouse_stockmovement_changelist')}?{both}", gettext("movements")))
            if can_adjust:
                prefill = urlencode({"sku": level.sku.code, "warehouse": level.warehouse_id})
                links.append((f"{reverse('admin:warehouse_stocklevel_adjust')}?{prefill}", gettext("adjust")))
            return format_html_join(" · ", '<a href="{}">{}</a>', links)

        return [*columns, ledger]

    def get_urls(self):
        urls = [path("adjust/", self.admin_site.admin_view(self.adjust_view), name="warehouse_stocklevel_adjust")]
        return urls + super().get_urls()

    def adjust_view(self, request: HttpRequest):
        if not request.user.has_perm("warehouse.adjust_stock"):
            raise PermissionDenied
        initial = request.GET.dict()
        active = list(Warehouse.objects.filter(is_active=True).values_list("pk", flat=True)[:2])
        if "warehouse" not in initial and len(active) == 1:
            initial["warehouse"] = active[0]  # one warehouse: nothing to choose
        form = StockAdjustForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                level = stock_adjust(
                    sku=data["sku"],
                    warehouse=data["warehouse"],
                    kind=data["kind"],
                    quantity=data["quantity"],
                    reason=data["reason"],
                    actor=request.user,
                )
            except ApplicationError as refusal:
                form.add_error(
                    refusal.extra.get("field") if refusal.extra.get("field") in form.fields else None, refusal.message
                )
            else:
                self.message_user(
                    request,
                    gettext("Stock of %(sku)s at %(warehouse)s: on hand %(on_hand)d, available %(available)d.")
                    % {
                        "sku": data["sku"].code,
                        "warehouse": data["warehouse"].code,
                        "on_hand": level.on_hand,
                        "available": level.available,
                    },
                    messages.SUCCESS,
                )
                query = urlencode({"sku__id__exact": level.sku_id, "warehouse__id__exact": level.warehouse_id})
                return HttpResponseRedirect(f"{reverse('admin:warehouse_stockmovement_changelist')}?{query}")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Adjust stock"),
            "form": form,
        }
        return TemplateResponse(request, "admin/warehouse/stocklevel/adjust.html", context)


@admin.register(StockMovement)
class StockMovementAdmin(XlsxExportMixin, ReadOnlyAdmin):
    list_display = (
        "created_at",
        "kind",
        "sku",
        "warehouse",
        "on_hand_delta",
        "locked_delta",
        "reserved_delta",
        "on_hand_after",
        "locked_after",
        "reserved_after",
        "available_after",
        "order_link",
        "actor",
        "reason",
    )
    list_filter = ("kind", "warehouse", "created_at")
    search_fields = ("sku__code", "order__number", "reason")
    list_select_related = ("sku", "warehouse", "order", "actor")
    date_hierarchy = "created_at"

    @admin.display(description=_("available after"))
    def available_after(self, movement: StockMovement) -> int:
        return movement.available_after

    @admin.display(description=_("order"))
    def order_link(self, movement: StockMovement):
        if movement.order_id is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[movement.order_id]), movement.order.number
        )


@admin.register(StockLock)
class StockLockAdmin(ReadOnlyAdmin):
    list_display = ("order", "sku", "warehouse", "quantity", "from_reserved", "state", "created_at", "expires_at")
    list_filter = ("state", "warehouse")
    search_fields = ("order__number", "sku__code")
    list_select_related = ("order", "sku", "warehouse")
    date_hierarchy = "created_at"


class StockReservationForm(forms.ModelForm):
    units = forms.IntegerField(
        label=_("units held back"),
        min_value=0,
        help_text=_("Taken from free stock now; changing it gives back or takes more."),
    )
    member_levels = forms.MultipleChoiceField(
        label=_("member levels"),
        choices=Customer.MemberLevel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Member quota: orders of customers at these levels may use it."),
    )

    class Meta:
        model = StockReservation
        fields = ("name", "kind", "sku", "warehouse", "promo_code", "member_levels", "ends_at")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["units"].initial = self.instance.quantity if self.instance.pk else 0

    def clean(self):
        data = super().clean()
        if data.get("kind") == StockReservation.Kind.PROMO and not (data.get("promo_code") or "").strip():
            self.add_error("promo_code", _("A promotion quota needs its promo code."))
        if data.get("kind") == StockReservation.Kind.MEMBER and not data.get("member_levels"):
            self.add_error("member_levels", _("A member quota needs at least one member level."))
        sku, warehouse, units = data.get("sku"), data.get("warehouse"), data.get("units")
        if sku and warehouse and units is not None:
            level = StockLevel.objects.filter(sku=sku, warehouse=warehouse).first()
            free = (level.available if level else 0) + (self.instance.quantity if self.instance.pk else 0)
            if units > free:
                self.add_error(
                    "units",
                    _("Only %(n)d units of %(sku)s are free at %(warehouse)s to reserve.")
                    % {"n": free, "sku": sku.code, "warehouse": warehouse.code},
                )
        return data


@admin.register(StockReservation)
class StockReservationAdmin(HistoryAdmin):
    form = StockReservationForm
    list_display = (
        "name",
        "kind",
        "sku",
        "warehouse",
        "promo_code",
        "member_levels",
        "quantity",
        "ends_at",
        "is_active",
    )
    list_filter = ("kind", "is_active", "warehouse")
    search_fields = ("name", "sku__code", "promo_code")
    autocomplete_fields = ("sku",)
    actions = ["end_quotas"]
    service_owned_fields = ("quantity", "is_active")  # units held back go through reservation_save

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return [*readonly, "sku", "warehouse"] if obj else readonly

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        try:
            reservation_save(reservation=obj, quantity=form.cleaned_data["units"], actor=request.user)
        except ApplicationError as refusal:  # stock moved since the form was checked
            self.message_user(request, refusal.message, messages.ERROR)
            raise

    @admin.action(description=_("End selected quotas (units go back to free stock)"))
    def end_quotas(self, request, queryset):
        for quota in queryset.filter(is_active=True):
            reservation_end(reservation=quota, actor=request.user, reason=gettext("ended by hand"))
        self.message_user(request, gettext("Quotas ended."), messages.SUCCESS)


@admin.register(AllocationSettings)
class AllocationSettingsAdmin(HistoryAdmin):
    """One row. The list page opens it directly."""

    fieldsets = (
        (_("Allocation"), {"fields": ("auto_allocate", "allocate_on_payment", "lock_expiry_hours")}),
        (
            _("Circuit breaker"),
            {
                "fields": (
                    "breaker_enabled",
                    "breaker_max_backlog",
                    "breaker_max_wait_minutes",
                    "breaker_resume_percent",
                    "breaker_state",
                    "queue_now",
                    "recent_events",
                )
            },
        ),
    )
    readonly_fields = ("breaker_state", "queue_now", "recent_events")
    service_owned_fields = ("breaker_tripped", "breaker_changed_at")  # breaker_update trips and resets it

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        settings = allocation_settings()
        return HttpResponseRedirect(reverse("admin:warehouse_allocationsettings_change", args=[settings.pk]))

    @admin.display(description=_("breaker state"))
    def breaker_state(self, settings: AllocationSettings):
        if settings.breaker_tripped:
            return format_html(
                '<strong class="oh-breaker-tripped">{}</strong> {}',
                gettext("Tripped: paid orders wait"),
                settings.breaker_changed_at and f"({timezone.localtime(settings.breaker_changed_at):%Y-%m-%d %H:%M})",
            )
        return format_html('<strong class="oh-breaker-closed">{}</strong>', gettext("Closed: orders flow"))

    @admin.display(description=_("queue now"))
    def queue_now(self, settings: AllocationSettings) -> str:
        backlog, wait = allocation_queue_stats()
        return gettext("%(n)d orders waiting, average wait %(wait).1f min") % {"n": backlog, "wait": wait}

    @admin.display(description=_("recent trips and resets"))
    def recent_events(self, settings: AllocationSettings):
        events = BreakerEvent.objects.all()[:10]
        if not events:
            return "—"
        return format_html(
            '<ul style="margin:0;padding-left:1em">{}</ul>',
            format_html_join(
                "",
                "<li>{} · {} · {} / {}</li>",
                (
                    (
                        f"{timezone.localtime(e.created_at):%Y-%m-%d %H:%M}",
                        e.get_kind_display(),
                        gettext("%(n)d orders") % {"n": e.backlog},
                        gettext("%(m)s min") % {"m": e.average_wait_minutes},
                    )
                    for e in events
                ),
            ),
        )


@admin.register(BreakerEvent)
class BreakerEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "backlog", "average_wait_minutes", "max_backlog", "max_wait_minutes")
    list_filter = ("kind",)
    date_hierarchy = "created_at"
