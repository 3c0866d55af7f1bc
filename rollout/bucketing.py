"""Sticky user bucketing, identical to Unleash's gradual rollout (flexibleRollout).

``normalized = murmur3_32(f"{group_id}:{user_id}", seed=0) % 100 + 1`` and the user is in when
``normalized <= percentage``. A user's bucket never changes, so as the percentage only grows a
user who got the open-source engine keeps it; users can move between this system and Unleash.
"""

from __future__ import annotations

import mmh3

DEFAULT_GROUP = "use_opensource_ocr"


def bucket(user_id: str, group_id: str = DEFAULT_GROUP) -> int:
    """The user's bucket, 1..100."""
    return mmh3.hash(f"{group_id}:{user_id}", 0, signed=False) % 100 + 1


def in_rollout(user_id: str, percentage: int, group_id: str = DEFAULT_GROUP) -> bool:
    return percentage > 0 and bucket(user_id, group_id) <= percentage
