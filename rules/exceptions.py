from enum import StrEnum


class RuleErrorCode(StrEnum):
    INVALID_CONDITION = "invalid_condition"
    INVALID_ACTION = "invalid_action"
    INVALID_VALIDITY = "invalid_validity"
