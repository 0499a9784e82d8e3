"""Optional record fields that tables and exports show when present and ignore when absent.

- ``method.backbone`` (or ``method.init``): how the encoders were initialised, e.g.
  ``pretrained`` / ``scratch``, or a mapping with the image and text backbones;
- ``trusted_subset``: a method that used a trusted clean subset of the training pairs (CHNR's
  meta phase) must be marked; the field is ``true``, a share / row count, or a mapping such as
  ``{"share": 0.2, "rows": 2000}``; ``false`` / ``null`` / absent means none was used.
"""

from __future__ import annotations

from typing import Any

from rsbench.io.files import canonical_json


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain(v)}" for k, v in sorted(value.items()))
    return value if isinstance(value, str) else canonical_json(value)


def backbone(record: dict) -> str | None:
    """How the method's encoders were initialised, or None when the record does not say."""
    m = record.get("method") or {}
    for key in ("backbone", "init"):
        if m.get(key) not in (None, "", {}):
            return _plain(m[key])
    return None


def trusted_subset(record: dict) -> str | None:
    """ "yes (…)" when the method used a trusted clean subset, "no" when the record says it did
    not, None when the record has no such field."""
    if "trusted_subset" not in record:
        return None
    value = record["trusted_subset"]
    if value in (None, False, 0, {}):
        return "no"
    if value is True:
        return "yes"
    return f"yes ({_plain(value)})"
