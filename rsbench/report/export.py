"""CSV, JSON and LaTeX exports of a dataset's leaderboard.

All three are built from the same measured rows: one per (section, noise ratio, method
configuration), with the mean and sample std over training seeds of every metric, the number
of seeds, the effective noise rate, and the optional fields (backbone, trusted clean subset,
detection, hashing, multi-positive metrics) as columns only where some record has them.

- CSV: the measured rows only (published numbers never share a table with them);
- JSON: per section the protocol, the measured rows, the figures and, apart, the published
  block with its sources and any Δ;
- LaTeX: per section a booktabs table of the measured rows (best mean per column and ratio in
  bold) and, as separate tables captioned as published, the published numbers with sources.

Output is sorted and rounded (6 decimals in CSV/JSON), so the same records give the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rsbench.evaluate.retrieval import METRIC_NAMES
from rsbench.records.read import error_message
from rsbench.report.fields import backbone, trusted_subset
from rsbench.report.hashing_fields import hashing_values


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    from rsbench.report.tables import _mean_std as mean_std

    if not values:
        return None, None
    return mean_std(values)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _options(options: dict) -> str:
    from rsbench.report.tables import _fmt_options

    return _fmt_options(options, "")


def protocol(section) -> dict[str, Any]:
    first = section.records[0]
    noise, method, dataset = first["noise"], first["method"], first["dataset"]
    return {
        "title": section.title,
        "noise_model": noise["model"],
        "noise_version": noise["version"],
        "noise_level": noise.get("level"),
        "noise_options": noise.get("params", {}),
        "noise_seed": sorted({r["noise"]["seed"] for r in section.records}),
        "profile": method.get("profile", "small"),
        "validation": first.get("validation", "clean"),
        "dataset_version": dataset.get("version"),
        "split": dataset.get("split"),
    }


def measured_rows(board) -> list[dict[str, Any]]:
    """One row per (section, ratio, method configuration), in table order."""
    rows = []
    for section in board.sections:
        proto = protocol(section)
        for (ratio, label), records in sorted(section.groups.items()):
            first = records[0]
            row: dict[str, Any] = {
                "dataset": board.dataset,
                "section": section.stem,
                "noise_model": proto["noise_model"],
                "noise_options": _options(proto["noise_options"]),
                "profile": proto["profile"],
                "validation": proto["validation"],
                "split": proto["split"],
                "ratio": ratio,
                "effective_rate": _round(
                    sum(r["noise"]["effective_rate"] for r in records) / len(records)
                ),
                "method": label,
                "method_name": first["method"]["name"],
                "method_version": first["method"]["version"],
                "uses_clean_labels": any(r.get("used_ground_truth") for r in records),
                "seeds": len(records),
                "training_seeds": " ".join(str(s) for s in sorted(r["seed"] for r in records)),
            }
            if any(backbone(r) is not None for r in section.ok):
                row["backbone"] = backbone(first)
            if any(trusted_subset(r) is not None for r in section.ok):
                row["trusted_subset"] = trusted_subset(first) or "no"
            for m in METRIC_NAMES:
                mean, std = _mean_std([r["metrics"][m] for r in records])
                row[f"{m}_mean"], row[f"{m}_std"] = _round(mean), _round(std)
            if all(r.get("metrics_multi") for r in section.ok):
                for m in METRIC_NAMES:
                    mean, std = _mean_std([r["metrics_multi"][m] for r in records])
                    row[f"multi_{m}_mean"], row[f"multi_{m}_std"] = _round(mean), _round(std)
            if any((r.get("detection") or {}).get("selected") for r in section.ok):
                for key in ("auc", "f1", "precision", "recall"):
                    values = [
                        ((r.get("detection") or {}).get("selected") or {}).get(key) for r in records
                    ]
                    mean, _ = _mean_std([v for v in values if v is not None])
                    row[f"detection_{key}_mean"] = _round(mean)
            names = sorted({n for r in section.ok for n in hashing_values(r)})
            for name in names:
                mean, std = _mean_std(
                    [hashing_values(r)[name] for r in records if name in hashing_values(r)]
                )
                row[f"{name}_mean"], row[f"{name}_std"] = _round(mean), _round(std)
            rows.append(row)
    return rows


def to_csv(board) -> str:
    rows = measured_rows(board)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def significance(groups) -> list[dict[str, Any]]:
    """Each method against the next one in mR per ratio (`rsbench.evaluate.statistics.leads`)."""
    from rsbench.evaluate.statistics import leads

    return [
        {
            "ratio": ratio,
            "method": c.better,
            "next": c.worse,
            "delta_mR": _round(c.delta),
            "test": c.test,
            "n": c.n,
            "p": None if c.p is None else round(c.p, 4),
            "significant": c.significant,
            "not_tested_because": c.why_untested or None,
        }
        for ratio, items in sorted(leads(groups).items())
        for c in items
    ]


def to_json(board) -> str:
    from rsbench.report import published

    rows = measured_rows(board)
    sections = []
    for section in board.sections:
        failed = [r for r in section.records if r.get("status") != "ok"]
        sections.append(
            {
                "section": section.stem,
                "protocol": protocol(section),
                "measured": [r for r in rows if r["section"] == section.stem],
                "failed_cells": [
                    {
                        "cell_id": r["cell_id"],
                        "method": r["method"]["name"],
                        "ratio": r["noise"]["ratio"],
                        "seed": r["seed"],
                        "error": error_message(r, "").splitlines()[:1],
                    }
                    for r in failed
                ],
                "figures": sorted(
                    f"{board.plot_dir}/{p.stem}.{ext}"
                    for plots in section.plots.values()
                    for p in plots
                    for ext in ("png", "svg")
                ),
                "published": None
                if section.published is None
                else published.as_json(section.published),
                "significance": significance(section.groups),
            }
        )
    doc = {
        "dataset": board.dataset,
        "generated_by": "rsbench leaderboard",
        "note": "measured rows were measured by rsbench; published numbers are kept apart, "
        "each with its source",
        "rsbench_versions": sorted({r["environment"].get("rsbench", "?") for r in board.records}),
        "records": f"records/{board.dataset}.jsonl",
        "sections": sections,
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


# ---- LaTeX ----------------------------------------------------------------------------------

_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "→": r"$\to$",
    "Δ": r"$\Delta$",
    "–": "--",
    "—": "---",
}


def tex(text: Any) -> str:
    return "".join(_LATEX.get(c, c) for c in str(text))


def _latex_table(caption: str, label: str, header: list[str], body: list[list[str]], align: str):
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{caption}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    for row in body:
        lines.append(r"\midrule" if row == ["MIDRULE"] else " & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return lines


def to_latex(board) -> str:
    from rsbench.report.tables import COLUMN_TITLES, _mean_std

    lines = [
        f"% {board.dataset} leaderboard, generated by `rsbench leaderboard --format latex` from "
        "the cell records.",
        r"% Needs \usepackage{booktabs}. Values in percent: mean $\pm$ std over training seeds.",
        "",
    ]
    for section in board.sections:
        if not section.groups:
            continue
        ratios = sorted({r for r, _ in section.groups})
        body: list[list[str]] = []
        for i, ratio in enumerate(ratios):
            labels = sorted(lab for r, lab in section.groups if r == ratio)
            stats = {
                lab: {
                    m: _mean_std([r["metrics"][m] for r in section.groups[(ratio, lab)]])
                    for m in METRIC_NAMES
                }
                for lab in labels
            }
            best = {m: max(stats[lab][m][0] for lab in labels) for m in METRIC_NAMES}
            if i:
                body.append(["MIDRULE"])
            for j, lab in enumerate(labels):
                cells = []
                for m in METRIC_NAMES:
                    mean, std = stats[lab][m]
                    text = f"{mean:.2f}" if std is None else f"{mean:.2f} $\\pm$ {std:.2f}"
                    bold = len(labels) > 1 and mean == best[m]
                    cells.append(rf"\textbf{{{text}}}" if bold else text)
                notes = section.notes().get(lab, "")
                oracle = r"$^\dagger$" if "clean labels" in notes else ""
                oracle += r"$^\ddagger$" if "trusted" in notes else ""
                body.append(
                    [
                        tex(f"{ratio * 100:g}%") if j == 0 else "",
                        tex(lab) + oracle,
                        *cells,
                        str(len(section.groups[(ratio, lab)])),
                    ]
                )
        header = ["Noise", "Method", *[tex(COLUMN_TITLES[m]) for m in METRIC_NAMES], "Seeds"]
        caption = (
            f"{tex(section.title)}: retrieval under noise (\\%, mean $\\pm$ std over training "
            "seeds; best mean per column and noise ratio in bold"
            + ("; $^\\dagger$ uses clean labels" if section.oracle else "")
            + (
                "; $^\\ddagger$ used a trusted clean subset"
                if any("trusted" in n for n in section.notes().values())
                else ""
            )
            + "). Measured by rsbench."
        )
        lines += _latex_table(
            caption,
            f"tab:{board.dataset}-{section.stem}",
            header,
            body,
            "rl" + "r" * (len(METRIC_NAMES) + 1),
        )
        lines += _latex_published(board, section)
    return "\n".join(lines).rstrip() + "\n"


def _latex_published(board, section) -> list[str]:
    from rsbench.report.published import metric_title

    selection = section.published
    if selection is None:
        return []
    lines: list[str] = []
    for n, ps in enumerate(selection.sets, 1):
        header = [
            "Dataset",
            "Noise",
            "Method (as published)",
            *[tex(metric_title(c)) for c in ps.columns],
        ]
        body = [
            [
                tex(ps.dataset),
                tex(f"{r.ratio * 100:g}%"),
                tex(r.method),
                *[tex(r.values[c].text) if c in r.values else "--" for c in ps.columns],
            ]
            for r in ps.rows
        ]
        where = (
            ""
            if selection.same_dataset
            else " Other dataset: not comparable with the measured table."
        )
        caption = (
            f"Published, not measured by rsbench: {tex(ps.source.citation)}, {tex(ps.source.table)} "
            f"(read from {tex(ps.source.read_from)})."
            + ("" if ps.source.verified else " Not verified against the paper.")
            + where
        )
        lines += _latex_table(
            caption,
            f"tab:{board.dataset}-{section.stem}-published-{n}",
            header,
            body,
            "lrl" + "r" * len(ps.columns),
        )
    return lines
