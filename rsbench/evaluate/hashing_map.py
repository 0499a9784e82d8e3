"""Hashing metrics: mAP@k of binary codes ranked by Hamming distance, with class relevance.

Cross-modal hashing methods (CHNR, DUCH) are evaluated as the hashing literature does (DCMH,
DJSRH, DUCH's and CHNR's ``calc_map_k``): every query ranks the database by Hamming distance;
an item is relevant when it has the query's scene class. For one query with R relevant items
in the database and t = min(k, R), let r_1 < … < r_t be the 1-based ranks of the **first t
relevant items anywhere in the ranking** (the ranking is not cut at k):

    AP@k = (1/t) · Σ_{j=1..t} j / r_j,   and AP@k = 0 when R = 0.

mAP@k is the mean over queries, those with R = 0 included (they count 0). Items without a class
are never relevant, and queries without a class are left out.

Query and database: by default every item of the test split is a query and the database is
the split itself (I→I and T→T leave the query's own item out). A split with a query/database
partition (`rsbench.plugin.split.Split.queries`, CHNR's protocol) ranks the database part only, for
queries from the query part, as CHNR's ``calc_maps_k`` does: I→T takes query images against
database captions, T→I query captions against database images, I→I and T→T likewise.

Ties: the official code sorts distances with ``torch.sort``, whose order among equal distances
is unspecified (it depends on the torch build). rsbench sorts stably: among items at the same
Hamming distance, the lower database index ranks first. The two agree whenever a ranking has
no ties that straddle a relevant and an irrelevant item.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAP_KS = (5, 10, 20)
DIRECTIONS = ("i2t", "t2i", "i2i", "t2t")


def hamming(query_codes: np.ndarray, db_codes: np.ndarray) -> np.ndarray:
    """Hamming distances between ±1 codes: (K − q·d) / 2, as integers."""
    q = np.asarray(query_codes, dtype=np.int32)
    d = np.asarray(db_codes, dtype=np.int32)
    return (q.shape[1] - q @ d.T) // 2


def average_precision_at_k(distances: np.ndarray, relevant: np.ndarray, k: int) -> np.ndarray:
    """AP@k per query row, from distances and relevance (queries × database)."""
    order = np.argsort(distances, axis=1, kind="stable")
    rel = np.take_along_axis(relevant, order, axis=1)
    total = rel.sum(axis=1)
    t = np.minimum(k, total)
    hits = np.cumsum(rel, axis=1)  # j at the j-th relevant item
    ranks = np.arange(1, rel.shape[1] + 1)[None, :]
    counted = rel & (hits <= t[:, None])
    precision = np.where(counted, hits / ranks, 0.0).sum(axis=1)
    return np.where(t > 0, precision / np.maximum(t, 1), 0.0)


def map_at_k(
    query_codes: np.ndarray,
    db_codes: np.ndarray,
    query_labels: Sequence[int],
    db_labels: Sequence[int],
    k: int,
    exclude_self: bool = False,
    chunk: int = 1024,
) -> float:
    """mAP@k (see the module docstring). Labels are class ids, -1 for none.

    ``exclude_self``: the query set is the database (I→I, T→T); each query's own item is taken
    out of its database (neither ranked nor counted as relevant).
    """
    query_labels = np.asarray(query_labels, dtype=np.int64)
    db_labels = np.asarray(db_labels, dtype=np.int64)
    queries = np.flatnonzero(query_labels >= 0)
    if not len(queries):
        return float("nan")
    values = []
    for start in range(0, len(queries), chunk):
        rows = queries[start : start + chunk]
        distances = hamming(query_codes[rows], db_codes).astype(np.int64)
        relevant = (db_labels[None, :] == query_labels[rows, None]) & (db_labels[None, :] >= 0)
        if exclude_self:
            distances[np.arange(len(rows)), rows] = np.iinfo(np.int64).max
            relevant[np.arange(len(rows)), rows] = False
        values.append(average_precision_at_k(distances, relevant, k))
    return float(np.concatenate(values).mean())


def hashing_metrics(
    image_codes: np.ndarray,
    text_codes: np.ndarray,
    image_labels: Sequence[int],
    text_labels: Sequence[int],
    ks: Sequence[int] = MAP_KS,
    image_queries: np.ndarray | None = None,
    text_queries: np.ndarray | None = None,
) -> dict[str, float]:
    """mAP@k for I→T, T→I, I→I, T→T and their mean.

    Without ``image_queries`` / ``text_queries`` the query set is also the database. With them
    (boolean masks: True for a query item, False for a database item; both or neither), each
    direction ranks the database items of the target modality for the query items of the
    source modality (see the module docstring).
    """
    image_labels = np.asarray(image_labels, dtype=np.int64)
    text_labels = np.asarray(text_labels, dtype=np.int64)
    if (image_queries is None) != (text_queries is None):
        raise ValueError("a query/database partition needs both image_queries and text_queries")
    if image_queries is None:
        sides = {
            "image": (image_codes, image_labels, image_codes, image_labels),
            "text": (text_codes, text_labels, text_codes, text_labels),
        }
    else:
        iq, tq = np.asarray(image_queries, dtype=bool), np.asarray(text_queries, dtype=bool)
        sides = {  # (query codes, query labels, database codes, database labels)
            "image": (image_codes[iq], image_labels[iq], image_codes[~iq], image_labels[~iq]),
            "text": (text_codes[tq], text_labels[tq], text_codes[~tq], text_labels[~tq]),
        }
    same = image_queries is None  # the database is the query set: leave each query's own out
    directions = {"i2t": ("image", "text"), "t2i": ("text", "image")}
    directions.update({"i2i": ("image", "image"), "t2t": ("text", "text")})
    out: dict[str, float] = {}
    for k in ks:
        for name, (source, target) in directions.items():
            q, ql = sides[source][:2]
            d, dl = sides[target][2:]
            out[f"{name}_mAP@{k}"] = map_at_k(
                q, d, ql, dl, k, exclude_self=same and source == target
            )
        out[f"avg_mAP@{k}"] = float(np.mean([out[f"{name}_mAP@{k}"] for name in DIRECTIONS]))
    return out


def class_ids(classes: Sequence[str | None]) -> np.ndarray:
    """Scene class names to ids (sorted names), -1 for none."""
    names = sorted({c for c in classes if c is not None})
    index = {name: i for i, name in enumerate(names)}
    return np.array([index.get(c, -1) if c is not None else -1 for c in classes], dtype=np.int64)
