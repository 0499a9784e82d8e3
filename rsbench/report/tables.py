"""The tables and blocks of a leaderboard section, each from a list of records: noise files,
retrieval, mR by ratio with significance and health marks, detection, methods and options, and
the YAML that re-runs the section. `rsbench.report.markdown` lays them out per section.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rsbench.evaluate.retrieval import METRIC_NAMES
from rsbench.evaluate.statistics import ALPHA, RESAMPLES, Comparison
from rsbench.io.files import canonical_json

if TYPE_CHECKING:
    from rsbench.report.tracks import Track


NOT_SIGNIFICANT, NOT_TESTED = "†", "‡"


def _method_key(r: dict) -> str:
    m = r["method"]
    return canonical_json({"name": m["name"], "version": m["version"], "params": m["params"]})


COLUMN_TITLES = {
    "i2t_R@1": "I→T R@1",
    "i2t_R@5": "I→T R@5",
    "i2t_R@10": "I→T R@10",
    "t2i_R@1": "T→I R@1",
    "t2i_R@5": "T→I R@5",
    "t2i_R@10": "T→I R@10",
    "mR": "mR",
}


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else canonical_json(value)


def _fmt_options(options: dict[str, Any], empty: str = "–") -> str:
    if not options:
        return empty
    return ", ".join(f"{k}={_plain(v)}" for k, v in sorted(options.items()))


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _cell(mean: float, std: float | None, bold: bool, digits: int = 2) -> str:
    text = f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"
    return f"**{text}**" if bold else text


def _pct(ratio: float) -> str:
    return f"{ratio * 100:g}%"


def _table(header: list[str], rows: list[list[str]], align: list[str]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=header, tablefmt="pipe", colalign=align, disable_numparse=True)


def noise_table(ok: list[dict]) -> str:
    rows = {}
    for r in ok:
        n = r["noise"]
        same = (n.get("stats") or {}).get("same_class_rate")
        rows[(n["ratio"], n["seed"], n["file_hash"])] = [
            _pct(n["ratio"]),
            str(n["seed"]),
            f"{n['effective_rate'] * 100:.2f}%",
            "–" if same is None else f"{same * 100:.1f}%",
            f"`{n['file_hash'][:16]}`",
        ]
    return _table(
        ["Nominal", "Noise seed", "Effective", "Same class", "sha256"],
        [rows[k] for k in sorted(rows)],
        ["right", "right", "right", "right", "left"],
    )


def retrieval_table(
    groups: dict[tuple[float, str], list[dict]], key: str, marks: dict | None = None
) -> str:
    stats = {
        g: {m: _mean_std([r[key][m] for r in rs]) for m in METRIC_NAMES} for g, rs in groups.items()
    }
    rows = []
    for ratio in sorted({r for r, _ in groups}):
        members = sorted(label for r, label in groups if r == ratio)
        best = {m: max(stats[(ratio, lab)][m][0] for lab in members) for m in METRIC_NAMES}
        for label in members:
            s, rs = stats[(ratio, label)], groups[(ratio, label)]
            cells = [
                _cell(*s[m], bold=len(members) > 1 and s[m][0] == best[m]) for m in METRIC_NAMES
            ]
            cells[-1] += _mark(marks, ratio, label)
            eff = sum(r["noise"]["effective_rate"] for r in rs) / len(rs)
            rows.append([_pct(ratio), f"{eff * 100:.2f}%", label, *cells, str(len(rs))])
    header = ["Noise", "Effective", "Method", *[COLUMN_TITLES[m] for m in METRIC_NAMES], "Seeds"]
    return _table(header, rows, ["right", "right", "left", *["right"] * len(METRIC_NAMES), "right"])


def mr_table(groups: dict[tuple[float, str], list[dict]], marks: dict | None = None) -> str:
    ratios = sorted({r for r, _ in groups})
    labels = sorted({label for _, label in groups})
    stats = {g: _mean_std([r["metrics"]["mR"] for r in rs]) for g, rs in groups.items()}
    best = {r: max(stats[g][0] for g in stats if g[0] == r) for r in ratios}
    rows = []
    for label in labels:
        row = [label]
        for r in ratios:
            if (r, label) in stats:
                mean, std = stats[(r, label)]
                cell = _cell(mean, std, bold=len(labels) > 1 and mean == best[r])
                row.append(cell + _mark(marks, r, label))
            else:
                row.append("–")
        rows.append(row)
    return _table(["Method", *map(_pct, ratios)], rows, ["left", *["right"] * len(ratios)])


MARK_MEANINGS = {
    NOT_SIGNIFICANT: f"its lead in mR over the next method at that noise ratio is not "
    f"significant (p ≥ {ALPHA:g})",
    NOT_TESTED: "its lead over the next method could not be tested",
}


SIGNIFICANCE_TEXT = (
    "Each method against the next one below it in mean mR at the same noise ratio, on the cells "
    "both ran (the same noise file and training seed). With two shared seeds or more: a paired "
    "t-test on the per-seed mR differences (two-sided). With one: a paired bootstrap over the "
    f"test images ({RESAMPLES:,} resamples, each image drawn with its captions), which measures "
    "how much the lead depends on the test images drawn, not on the training seed. A lead is "
    f"significant at p < {ALPHA:g}."
)


HEALTH_MARK = "⚠"


HEALTH_TEXT = (
    f"{HEALTH_MARK} marks a result with a health warning in at least one of its cells: the "
    "number may say more about the method's setting (a threshold made for another loss scale, "
    "a learning rate, the budget) than about the method. The checks (`rsbench.records.health`): one "
    "group holding ≥ 95 % of the training rows at every epoch against the truth (degenerate "
    "partition), the best validation mR within 2× of chance, a non-finite loss, no validation "
    "gain after epoch 1, a validation mR still rising by ≥ 5 % over the last half of the epochs "
    "when training stopped (the budget set the number), collapsed test scores."
)


def health_notes(groups: dict[tuple[float, str], list[dict]]) -> dict[tuple[float, str], list[str]]:
    """(ratio, label) → the Markdown lines naming its cells' health warnings (healthy: absent)."""
    from rsbench.records.health import CHECKS, warnings_of

    notes = {}
    for (ratio, label), records in groups.items():
        found: dict[str, tuple[list[int], str]] = {}
        for r in sorted(records, key=lambda r: r["seed"]):
            for w in warnings_of(r):
                seeds, _ = found.setdefault(w["check"], ([], w.get("detail", "")))
                seeds.append(r["seed"])
        if found:
            parts = [
                f"{CHECKS.get(check, check)} ("
                + (f"seeds {', '.join(map(str, seeds))}; " if len(seeds) > 1 else "")
                + f"seed {seeds[0]}: {detail})"
                for check, (seeds, detail) in found.items()
            ]
            notes[(ratio, label)] = [
                f"- {HEALTH_MARK} {label} at {_pct(ratio)}: " + "; ".join(parts)
            ]
    return notes


def join_marks(marks: dict, warned: dict) -> dict[tuple[float, str], str]:
    """The significance marks with the health mark added where a result has a warning."""
    keys = set(marks) | set(warned)
    return {
        k: " ".join(m for m in (marks.get(k), HEALTH_MARK if k in warned else None) if m)
        for k in keys
    }


def lead_marks(comparisons: dict[float, list[Comparison]]) -> dict[tuple[float, str], str]:
    """(ratio, label) → the mark of a method whose lead over the next is not significant
    (or could not be tested)."""
    marks = {}
    for ratio, items in comparisons.items():
        for c in items:
            if c.significant is False:
                marks[(ratio, c.better)] = NOT_SIGNIFICANT
            elif c.significant is None:
                marks[(ratio, c.better)] = NOT_TESTED
    return marks


def _mark(marks: dict | None, ratio: float, label: str) -> str:
    mark = (marks or {}).get((ratio, label))
    return f" {mark}" if mark else ""


def significance_table(comparisons: dict[float, list[Comparison]]) -> str | None:
    rows = []
    for ratio, items in sorted(comparisons.items()):
        for c in items:
            if c.test is None:
                n, p, verdict = "–", "–", f"not tested ({c.why_untested})"
            else:
                unit = "seeds" if c.test == "paired t-test" else "test images"
                n = f"{c.n} {unit}"
                p = "< 0.001" if c.p < 0.001 else f"{c.p:.3f}"
                verdict = "yes" if c.significant else "no"
            rows.append(
                [_pct(ratio), c.better, c.worse, f"{c.delta:+.2f}", c.test or "–", n, p, verdict]
            )
    if not rows:
        return None
    header = ["Noise", "Method", "Next", "Δ mR", "Test", "n", "p", "Significant"]
    return _table(
        header, rows, ["right", "left", "left", "right", "left", "right", "right", "left"]
    )


def detection_table(groups: dict[tuple[float, str], list[dict]]) -> str | None:
    """Rows: methods with clean scores; columns: ratios; cells: AUC / F1 (None if no method has any)."""

    def selected(r: dict) -> dict | None:
        return (r.get("detection") or {}).get("selected")

    ratios = sorted({r for r, _ in groups})
    labels = sorted({label for (_, label), rs in groups.items() if any(selected(r) for r in rs)})
    if not labels:
        return None
    rows = []
    for label in labels:
        row = [label]
        for ratio in ratios:
            found = [selected(r) for r in groups.get((ratio, label), []) if selected(r)]
            parts = []
            for metric in ("auc", "f1"):
                values = [d[metric] for d in found if d.get(metric) is not None]
                parts.append(f"{sum(values) / len(values):.3f}" if values else "–")
            row.append(" / ".join(parts) if found else "–")
        rows.append(row)
    return _table(
        ["Method (AUC / F1)", *map(_pct, ratios)], rows, ["left", *["right"] * len(ratios)]
    )


def methods_table(ok: list[dict], labels: dict[str, str], track: Track | None = None) -> str:
    """Each method configuration: version, plugin, oracle use, the options set, then all options;
    on a tuned track, also each method's search budget and choice."""
    from rsbench.report.fields import backbone, trusted_subset
    from rsbench.report.tracks import chosen_columns

    # Columns for optional record fields appear only when some record has them.
    show_backbone = any(backbone(r) is not None for r in ok)
    show_trusted = any(trusted_subset(r) not in (None, "no") for r in ok)
    rows, full = {}, {}
    for r in ok:
        label = labels[_method_key(r)]
        m = r["method"]
        given = _fmt_options(m.get("given_options", m["params"]), "defaults")
        row = rows.setdefault(label, [label, m["version"], m.get("plugin", "?"), "no", given])
        full[label] = _fmt_options(m["params"])
        if r.get("used_ground_truth"):
            row[3] = "yes"
        if show_backbone and len(row) == 5:
            row.append(backbone(r) or "–")
        if show_trusted and len(row) == 5 + show_backbone:
            row.append(trusted_subset(r) or "no")
        chosen = chosen_columns(track, m["name"])
        if chosen and len(row) == 5 + show_backbone + show_trusted:
            row.extend(chosen)
    header = ["Method", "Version", "Plugin", "Uses clean labels", "Options set"]
    header += ["Backbone"] * show_backbone + ["Trusted clean subset"] * show_trusted
    header += ["Search spent", "Chosen (validation mR)"] * bool(chosen_columns(track, ""))
    table = _table(header, [rows[k] for k in sorted(rows)], ["left"] * len(header))
    return "\n".join([table, "", "All options:", "", *(f"- {k}: {full[k]}" for k in sorted(full))])


def reproduce_config(records: list[dict]) -> str | None:
    """A grid config that re-runs these records' cells, or None if no single grid does."""
    import yaml

    def unique(values: list) -> Any:
        spelled = {canonical_json(v) for v in values}
        return values[0] if len(spelled) == 1 else None

    methods: dict[str, dict[str, Any]] = {}  # name -> spelled options -> options
    for r in records:
        given = r["method"].get("given_options")
        if given is None:
            return None
        methods.setdefault(r["method"]["name"], {})[canonical_json(given)] = given
    dataset = unique(
        [[r["dataset"]["name"], r["dataset"].get("given_options", {})] for r in records]
    )
    noise = unique([[r["noise"]["model"], r["noise"].get("given_options", {})] for r in records])
    noise_seed = unique([r["noise"]["seed"] for r in records])
    if dataset is None or noise is None or noise_seed is None:
        return None
    if any(len(configs) > 1 for configs in methods.values()):  # a list keeps both configurations
        method_list: Any = [
            {name: methods[name][k]} for name in sorted(methods) for k in sorted(methods[name])
        ]
    else:
        method_list = {
            name: next(iter(configs.values())) for name, configs in sorted(methods.items())
        }
    config = {
        "methods": method_list,
        "datasets": {dataset[0]: dataset[1]} if dataset[1] else [dataset[0]],
        "noise_models": {noise[0]: noise[1]} if noise[1] else [noise[0]],
        "noise": sorted({r["noise"]["ratio"] for r in records}),
        "seeds": sorted({r["seed"] for r in records}),
        "noise_seed": noise_seed,
        "validation": records[0].get("validation", "clean"),
    }
    profile = unique([r["method"].get("profile", "small") for r in records])
    if profile is not None:
        config["profile"] = profile
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
