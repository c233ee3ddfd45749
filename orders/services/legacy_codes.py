"""Legacy status mappings (an old system's status code → one of our states, with its old label): the one door for
their writes, from the admin's form and from the inline form on an import's report."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from orders.models import LegacyStatusMapping


def legacy_status_mapping_save(*, mapping: LegacyStatusMapping, actor: AbstractBaseUser | None) -> LegacyStatusMapping:
    """Save the row with a history row naming the actor. The code is stored trimmed, as the import reads codes
    from the file; the state is one of the model's choices (the form checked it)."""
    mapping.code = mapping.code.strip()
    mapping._history_user = actor
    with transaction.atomic():
        mapping.save()
    return mapping
