"""A carrier without a tracking feed: numbers are registered, events are typed in by staff (if at all)."""

from logistics.carriers.base import Adapter


class Manual(Adapter):
    pass
