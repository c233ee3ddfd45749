"""Helpers for django-simple-history shared by every app."""


def history_reason(reason: str) -> str:
    """simple-history keeps the change reason in varchar(100); the timeline event keeps the whole text."""
    return reason if len(reason) <= 100 else reason[:99] + "…"
