"""Cross-modal hashing metrics of a record (``metrics_hashing``), read in one place.

Hashing methods (CHNR) report mAP@k for image→text, text→image, image→image and text→text
retrieval at several k. The record holds them under ``metrics_hashing``, either flat
(``{"i2t_mAP@20": 0.71, ...}``) or nested by direction (``{"i2t": {"20": 0.71}}``) or by k
(``{"mAP@20": {"i2t": 0.71}}``); every reader here sees the flat form. Records without the
field have no hashing metrics, and nothing about hashing is shown for them.
"""

from __future__ import annotations

import re
from typing import Any

FLAT = re.compile(r"^(i2t|t2i|i2i|t2t)_map@(\d+)$", re.IGNORECASE)
K_KEY = re.compile(r"^(?:map@)?(\d+)$", re.IGNORECASE)
DIRECTIONS = ("i2t", "t2i", "i2i", "t2t")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def hashing_values(record: dict) -> dict[str, float]:
    """``{"i2t_mAP@20": value, ...}`` of a record (empty when it has no hashing metrics)."""
    raw = record.get("metrics_hashing")
    if not isinstance(raw, dict):
        return {}
    out: dict[str, float] = {}
    for key, value in raw.items():
        key = str(key)
        m = FLAT.match(key)
        if m and _number(value) is not None:
            out[f"{m.group(1).lower()}_mAP@{int(m.group(2))}"] = _number(value)
        elif key.lower() in DIRECTIONS and isinstance(value, dict):
            for k, v in value.items():
                km = K_KEY.match(str(k))
                if km and _number(v) is not None:
                    out[f"{key.lower()}_mAP@{int(km.group(1))}"] = _number(v)
        elif K_KEY.match(key) and isinstance(value, dict):
            k = int(K_KEY.match(key).group(1))
            for d, v in value.items():
                if str(d).lower() in DIRECTIONS and _number(v) is not None:
                    out[f"{str(d).lower()}_mAP@{k}"] = _number(v)
    return out


def hashing_ks(records: list[dict]) -> list[int]:
    """The k of mAP@k present in any of the records, ascending."""
    return sorted({int(name.split("@")[1]) for r in records for name in hashing_values(r)})
