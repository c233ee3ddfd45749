"""Default meaning of Kuaidi100 state codes (rows without a carrier apply to every carrier; editable in the
admin). Plain data, shared by the migration that seeds them and by `carrier_state_mappings_ensure`."""

DEFAULT_STATE_MAPPINGS = [  # carrier_state, label, effect
    ("0", "在途 in transit", "transit"),
    ("1", "揽收 collected", "pick_up"),
    ("2", "疑难 problem parcel", "flag_exception"),
    ("3", "签收 signed", "deliver"),
    ("4", "退签 returned and signed by sender", "flag_exception"),
    ("5", "派件 out for delivery", "transit"),
    ("6", "退回 returning to sender", "flag_exception"),
    ("7", "转投 handed to another carrier", "transit"),
    ("8", "清关 customs", "transit"),
    ("14", "拒签 refused", "flag_exception"),
]
