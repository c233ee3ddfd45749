"""The staff roles and what each may do. `manage.py setup_roles` makes the groups match this table."""

# Who may move an order (transition permissions; orders.transitions lists which transition needs which):
#
# | role     | pay 确认收款 | hold | release | cancel | fulfil ¹ | track ² | return | exception |
# |----------|--------------|------|---------|--------|----------|---------|--------|-----------|
# | 客服     |              | ✓    | ✓       | ✓      |          | ✓       | ✓      | ✓         |
# | 仓库     |              |      |         |        | ✓        |         |        | ✓         |
# | 采购     |              |      |         |        |          |         |        |           |
# | 运营主管 | ✓            | ✓    | ✓       | ✓      | ✓        | ✓       | ✓      | ✓         |
# | 财务     | ✓            |      |         |        |          |         |        |           |
# | 管理员   | ✓            | ✓    | ✓       | ✓      | ✓        | ✓       | ✓      | ✓         |
# | 系统对接 | ✓            | ✓    |         | ✓      |          | ✓       |        |           |
#
# ¹ routing, warehouse order, label printed, handed to carrier. ² carrier steps accept only carrier sources (delivery
# also customer/admin), so an API token cannot use them.
# System steps (rules, the allocation queue, the payment check's 金额不符 hold) act without a person.
#
# Permission codenames as "app_label.codename". Orders are never deleted by anyone (the admin forbids it).
VIEW_MASTER_DATA = [
    "rules.view_rule",
    "orders.view_channel",
    "orders.view_customer",
    "warehouse.view_sku",
    "warehouse.view_warehouse",
    "logistics.view_carrier",
    "logistics.view_carrierstatemapping",
    "logistics.view_shipment",
    "logistics.view_trackingevent",
    "orders.view_statusnode",
    "orders.view_escalationlevel",
    # Working calendars (workdays, hours, overrides) and the promise light thresholds: everyone sees them.
    "orders.view_workcalendar",
    "orders.view_workinghours",
    "orders.view_calendarday",
    "orders.view_promisesettings",
    "reports.view_reportsettings",  # the thresholds the dashboard's figures count by
    "orders.view_channelpull",
    "orders.view_channelbackfill",
]
SEE_STOCK = [
    "warehouse.view_stocklevel",
    "warehouse.view_stockmovement",
    "warehouse.view_stocklock",
    "warehouse.view_stockreservation",
    "warehouse.view_skualias",
    "warehouse.view_allocationsettings",
    "warehouse.view_breakerevent",
]
SEE_ORDERS = [
    "orders.view_order",
    "orders.view_orderline",
    "orders.view_orderevent",
    "orders.view_alert",
    "orders.view_alertroute",  # who gets which alert: everyone who gets alerts may read it
    "orders.view_addresschange",
    "orders.view_outboxmessage",  # what was told to the ERP and the channels, and whether it arrived
]
HANDLE_ALERTS = ["orders.change_alert"]
# The channel intake log: deliveries, one record per reported order, refused webhook deliveries.
SEE_INTAKE_LOG = ["orders.view_inboxdelivery", "orders.view_intakerecord", "orders.view_webhookrefusal"]
# The carriers' pre-bought waybill number ranges (号段) and the numbers taken from them.
SEE_WAYBILL_NUMBERS = ["logistics.view_waybillnumberrange", "logistics.view_waybillnumberissue"]

# The ERP endpoints and each channel's ship confirmation (configured by the ops manager), and "重新推送" of a
# dead-lettered outbox message. Customer service sees the messages (SEE_ORDERS) and the ship confirmation settings.
CONFIGURE_OUTBOX = [
    "orders.view_erpendpoint",
    "orders.add_erpendpoint",
    "orders.change_erpendpoint",
    "orders.view_shipconfirmsettings",
    "orders.add_shipconfirmsettings",
    "orders.change_shipconfirmsettings",
    "orders.delete_shipconfirmsettings",
    "orders.retry_outboxmessage",
]
# Notifications: the delivery log is read by everyone who handles orders (客服 explains what a customer was told);
# channels, people's settings, group routes and message templates are configured by the ops manager.
SEE_NOTIFICATION_LOG = ["orders.view_notification", "orders.view_messagetemplate"]
CONFIGURE_NOTIFICATIONS = [
    *SEE_NOTIFICATION_LOG,
    "orders.retry_notification",
    "orders.view_notificationchannel",
    "orders.add_notificationchannel",
    "orders.change_notificationchannel",
    "orders.view_notificationsettings",
    "orders.add_notificationsettings",
    "orders.change_notificationsettings",
    "orders.delete_notificationsettings",
    "orders.view_notificationgrouproute",
    "orders.add_notificationgrouproute",
    "orders.change_notificationgrouproute",
    "orders.delete_notificationgrouproute",
    "orders.add_messagetemplate",
    "orders.change_messagetemplate",
    "orders.delete_messagetemplate",
]

# 导入历史订单: the import permission is "may start an import" (add_importjob): upload, choose columns, dry run,
# commit. The legacy status codes are mapped by the same person; the remembered templates are read only.
IMPORT_ORDER_HISTORY = [
    "orders.view_importjob",
    "orders.add_importjob",
    "orders.view_importtemplate",
    "orders.view_legacystatusmapping",
    "orders.add_legacystatusmapping",
    "orders.change_legacystatusmapping",
]

ROLES: dict[str, list[str]] = {
    # Customer service: find, explain and move orders; never rules or node settings.
    "客服": [
        *VIEW_MASTER_DATA,
        "orders.view_shipconfirmsettings",
        *SEE_ORDERS,
        *HANDLE_ALERTS,
        *SEE_INTAKE_LOG,
        *SEE_NOTIFICATION_LOG,
        "warehouse.view_stocklevel",
        "orders.change_order",
        "orders.change_addresschange",
        "orders.change_customer",
        "orders.view_duplicatesettings",  # why an order is held as 疑似重复
        "orders.view_legacystatusmapping",  # what an imported order's old status code meant (read only)
        "orders.hold_order",
        "orders.release_order",
        "orders.cancel_order",
        "orders.return_order",
        "orders.flag_exception",
        "orders.track_order",
        "reports.view_consistencyreport",  # 报表 → 一致性日报 (read)
        "reports.view_yearlyreport",  # 报表 → 年度履约报告: download a customer's report to send it
    ],
    # Warehouse: the fulfilment steps (pick lists, scan station), stock counts and inbound, SKUs.
    "仓库": [
        *VIEW_MASTER_DATA,
        *SEE_ORDERS,
        *SEE_STOCK,
        *HANDLE_ALERTS,
        "orders.change_order",
        "orders.fulfil_order",
        "orders.flag_exception",
        "warehouse.add_sku",
        "warehouse.change_sku",
        "warehouse.add_skualias",
        "warehouse.change_skualias",
        "warehouse.delete_skualias",
        "warehouse.adjust_stock",
        *SEE_WAYBILL_NUMBERS,
        "logistics.retry_waybill_cancel",
    ],
    # Purchasing: sees stock and shortfalls, books inbound stock, keeps SKU master data.
    "采购": [
        *VIEW_MASTER_DATA,
        *SEE_ORDERS,
        *SEE_STOCK,
        *HANDLE_ALERTS,
        "warehouse.add_sku",
        "warehouse.change_sku",
        "warehouse.add_skualias",
        "warehouse.change_skualias",
        "warehouse.delete_skualias",
        "warehouse.adjust_stock",
    ],
    # Ops manager: everything about how orders flow, including node settings and business rules.
    "运营主管": [
        *VIEW_MASTER_DATA,
        *SEE_ORDERS,
        *HANDLE_ALERTS,
        "orders.add_order",
        "orders.change_order",
        "orders.change_customer",
        "orders.add_channel",
        "orders.change_channel",
        "orders.add_channelpull",
        "orders.change_channelpull",
        "orders.add_channelbackfill",
        *SEE_INTAKE_LOG,
        "orders.replay_inboxdelivery",  # re-process a rejected delivery once its mapping / SKU alias is fixed
        "orders.add_statusnode",
        "orders.change_statusnode",
        "orders.add_escalationlevel",
        "orders.change_escalationlevel",
        "orders.delete_escalationlevel",
        "orders.view_staffprofile",
        "orders.add_staffprofile",
        "orders.change_staffprofile",  # who is whose superior: approvals escalate to it
        "orders.change_alertroute",
        "orders.add_workcalendar",
        "orders.change_workcalendar",
        "orders.add_workinghours",
        "orders.change_workinghours",
        "orders.delete_workinghours",
        "orders.add_calendarday",
        "orders.change_calendarday",
        "orders.delete_calendarday",
        "orders.add_promisesettings",
        "orders.change_promisesettings",
        *CONFIGURE_OUTBOX,
        *CONFIGURE_NOTIFICATIONS,
        *IMPORT_ORDER_HISTORY,  # the data clerk's work: 运营主管 imports a seller's history
        "orders.view_duplicatesettings",
        "orders.change_duplicatesettings",  # cross-channel duplicates: on/off, window, match fields
        "orders.pay_order",
        "orders.hold_order",
        "orders.release_order",
        "orders.cancel_order",
        "orders.fulfil_order",
        "orders.track_order",
        "orders.return_order",
        "orders.flag_exception",
        "warehouse.add_sku",
        "warehouse.change_sku",
        "warehouse.add_warehouse",
        "warehouse.change_warehouse",
        *SEE_STOCK,
        "warehouse.add_skualias",
        "warehouse.change_skualias",
        "warehouse.delete_skualias",
        "warehouse.add_stockreservation",
        "warehouse.change_stockreservation",
        "warehouse.change_allocationsettings",
        "logistics.add_carrier",
        "logistics.change_carrier",
        "logistics.add_carrierstatemapping",
        "logistics.change_carrierstatemapping",
        "logistics.delete_carrierstatemapping",
        *SEE_WAYBILL_NUMBERS,
        "logistics.add_waybillnumberrange",
        "logistics.change_waybillnumberrange",
        "logistics.retry_waybill_cancel",
        "rules.add_rule",
        "rules.change_rule",
        "reports.view_dashboard",  # 报表 → 经营看板
        "reports.change_reportsettings",
        "reports.view_consistencyreport",  # 报表 → 一致性日报
        "reports.build_consistencyreport",  # … and build a day's report now
        "reports.view_yearlyreport",
        "reports.generate_yearlyreport",  # 生成年度报告 on a customer's page
        "reports.view_confighealthreport",  # 报表 → 配置健康度报告
        "reports.build_confighealthreport",  # its 立即生成 button
    ],
    # Finance: verifies payments, reads orders.
    "财务": [*VIEW_MASTER_DATA, *SEE_ORDERS, "orders.pay_order", "reports.view_consistencyreport"],
    # Administrator: every permission of the hub's apps.
    "管理员": ["*"],
    # Integration accounts (API tokens of connectors and middleware): push orders in, read status, and make
    # the transitions a platform reports — paid (POST …/payment/, the payment service), buyer cancelled
    # (cancel with the platform's reason) and a refund request (hold, e.g. "平台退款申请 …"). Not fulfilment,
    # not release: a person decides what happens after a refund request. Reading stock tells a shop page what
    # may still be sold.
    "系统对接": [
        *SEE_ORDERS,
        "orders.view_channel",
        "orders.add_order",
        "orders.pay_order",
        "orders.cancel_order",
        "orders.hold_order",
        "orders.track_order",
        "warehouse.view_stocklevel",
    ],
}

# Who owns what until a manager changes it in the admin: the seeds of status-node owners, their escalation
# levels and the alert routes (migrations and the *_ensure_defaults services read these). Services never name
# a group; they ask orders.services.owners.
DEFAULT_NODE_OWNERS = {  # status: owner group
    "placed": "客服",
    "paid": "客服",
    "on_hold": "运营主管",
    "allocating": "仓库",
    "allocated": "仓库",
    "printed": "仓库",
    "exception": "客服",
}
DEFAULT_ESCALATIONS = {  # status: [(level, minutes overdue, group)]
    "placed": [(1, 30, "运营主管")],
    "on_hold": [(1, 60, "运营主管"), (2, 240, "管理员")],
    "exception": [(1, 60, "运营主管")],
    "printed": [(1, 240, "运营主管")],
}
DEFAULT_ALERT_ROUTES = {  # alert kind: (owner group or None, severity, note)
    "stock_shortfall": ("采购", "warning", "缺货待补：入库后分配成功即自动解决。"),
    "breaker_tripped": ("仓库", "critical", "分仓熔断：队列消化后自动恢复。"),
    "parcel_stalled": (None, "warning", "先交给订单当前状态节点的负责人；节点无负责人时交给这里的负责人。"),
    "node_overdue": (None, "warning", "先交给超时节点的负责人（再按节点的升级层级）；节点无负责人时交给这里。"),
    "approval_waiting": ("运营主管", "warning", "先交给审批规则指定的组；该组不存在时交给这里的负责人。"),
    "approval_overdue": (
        "运营主管",
        "critical",
        "审批滞留：先交给审批人的上级；未设上级时交给待审节点负责组的组长；都没有时交给这里的负责人。",
    ),
    "rule_error": ("运营主管", "critical", "规则执行出错，请检查规则。"),
    "waybill_cancel_failed": (
        "仓库",
        "warning",
        "未使用的电子面单在快递公司取消失败：处理后在物流包裹中点「重新取消面单」，成功即自动解决。",
    ),
    "waybill_failed": ("仓库", "warning", "获取电子面单失败（快递公司拒绝或无响应）：处理后重新获取。"),
    "erp_push_dead": (
        "运营主管",
        "critical",
        "推送 ERP 多次失败进入死信：检查 ERP 地址与密钥后在「发件箱」中点「重新推送」，送达即自动解决。",
    ),
    "ship_confirm_failed": (
        "客服",
        "critical",
        "发货回传渠道失败或临近平台发货时限仍未回传：超时平台按未发货处罚，请在时限前处理（重新推送或到平台后台手工发货）。",
    ),
    "channel_pull_failing": (
        "运营主管",
        "critical",
        "渠道拉单连续失败（平台故障、限流或授权过期）：检查渠道的拉单设置，下次拉单成功即自动解决。",
    ),
    "calendar_year_unknown": (
        "运营主管",
        "warning",
        "节假日未发布（chinese-calendar 未收录）：按每周工作时间计算，请在日历例外中补充节假日与调休。",
    ),
    "notification_dead": (
        "运营主管",
        "critical",
        "通知发送失败（机器人或短信网关多次失败或拒绝）：检查通知渠道的地址与密钥后在「通知日志」中点「重新发送」，"
        "该渠道再次发送成功即自动解决。",
    ),
    "other": ("客服", "warning", "其他需要人工处理的事项（如改址拦截、渠道重推的订单）。"),
}
