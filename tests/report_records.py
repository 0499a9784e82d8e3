"""Records built by the tests to exercise leaderboard figures, exports and pages.

Real records come from ``rsbench run`` (test_cli_run.py); these cover what the small methods
do not produce yet: detection with RRSITR-style partitions, hashing metrics, a trusted clean
subset, a backbone field, an oracle row, a failed cell, and a paper-profile RSITMD cell that
has published numbers beside it.
"""

from __future__ import annotations

from rsbench.evaluate.retrieval import METRIC_NAMES


def record(
    method: str,
    ratio: float,
    seed: int,
    mr: float,
    *,
    dataset: str = "toy",
    split: str = "toy",
    profile: str = "small",
    status: str = "ok",
    params: dict | None = None,
    **extra,
) -> dict:
    metrics = {m: mr + i * 0.5 for i, m in enumerate(METRIC_NAMES)}
    metrics["mR"] = mr
    r = {
        "schema_version": 1,
        "cell_id": f"{dataset}-{method}-{ratio}-{seed}-{mr}",
        "status": status,
        "error": None if status == "ok" else {"message": "CellError: out of memory\ntraceback"},
        "method": {
            "name": method,
            "version": "1",
            "plugin": "builtin-methods",
            "profile": profile,
            "params": params or {"epochs": 4},
            "given_options": {},
        },
        "dataset": {
            "name": dataset,
            "version": "1",
            "split": split,
            "membership_hash": "ab",
            "given_options": {},
            "sizes": {s: {"images": 10, "captions": 50} for s in ("train", "val", "test")},
        },
        "noise": {
            "model": "caption_shuffle",
            "version": "1",
            "params": {"mode": "independent"},
            "given_options": {},
            "level": "caption",
            "ratio": ratio,
            "seed": 42,
            "file_hash": f"{ratio:.1f}" * 16,
            "effective_rate": ratio * 0.99,
        },
        "seed": seed,
        "validation": "clean",
        "metrics": metrics if status == "ok" else None,
        "environment": {"rsbench": "0.1.0"},
    }
    r.update(extra)
    return r


def detection(auc: float, f1: float, epochs: int = 3, groups: bool = False) -> dict:
    history = []
    for e in range(1, epochs + 1):
        entry = {"epoch": e, "auc": auc - 0.01 * (epochs - e), "f1": f1}
        if groups:
            entry["groups"] = {
                "clean": {"rows": 30 + e, "noisy_share": 0.05},
                "hard": {"rows": 10, "noisy_share": 0.3 + 0.01 * e},
                "noisy": {"rows": 10 - e, "noisy_share": 0.8},
            }
        history.append(entry)
    return {"history": history, "selected": {"auc": auc, "f1": f1, "precision": f1, "recall": f1}}


def hashing(base: float) -> dict:
    return {
        f"{d}_mAP@{k}": round(base + (20 - k) / 100 + 0.02 * n, 4)
        for n, d in enumerate(("i2t", "t2i", "i2i", "t2t"))
        for k in (5, 10, 20)
    }


def toy_records() -> list[dict]:
    """A dataset without published numbers: every optional field, two seeds where it matters."""
    out = []
    for ratio, (a, b) in {0.0: (50, 54), 0.4: (30, 34), 0.8: (10, 12)}.items():
        out += [record("infonce", ratio, 0, a), record("infonce", ratio, 1, b)]
        out.append(record("vse", ratio, 0, a - 5))
        out.append(
            record(
                "infonce",
                ratio,
                0,
                a + 3,
                params={"epochs": 4, "oracle": "clean"},
                used_ground_truth=True,
            )
        )
        if ratio:
            out.append(
                record("rrsitr", ratio, 0, a + 1, detection=detection(0.9, 0.8, groups=True))
            )
            out.append(record("infonce_gmm", ratio, 0, a + 2, detection=detection(0.85, 0.7)))
            out.append(
                record(
                    "chnr",
                    ratio,
                    0,
                    a - 8,
                    metrics_hashing=hashing(0.7 - ratio / 2),
                    trusted_subset={"share": 0.2, "rows": 12},
                )
            )
    out.append(record("vse", 0.8, 1, 0.0, status="failed"))
    for r in out:
        if r["method"]["name"] == "chnr":
            r["method"]["backbone"] = "pretrained"
    return out


def rsitmd_records() -> list[dict]:
    """Paper-profile cells on RSITMD's RRSITR split: RRSITR's clean table gives a Δ."""
    kw = {"dataset": "rsitmd", "split": "rrsitr", "profile": "paper"}
    return [
        record("rrsitr", 0.0, 0, 47.0, **kw),
        record("rrsitr", 0.0, 1, 45.0, **kw),
        record("rrsitr", 0.2, 0, 40.0, **kw),
        record("vse", 0.0, 0, 20.0, **kw),
    ]
