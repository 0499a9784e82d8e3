"""Deterministic matplotlib figures of a leaderboard section, as PNG and SVG bytes.

Per section (noise model, profile, validation):

- ``mr``: mR against the noise ratio, one line per method (mean over training seeds) with the
  seeds' min–max as a band;
- ``detection``: AUC and F1 of finding the noisy pairs against the ratio (methods with clean
  scores only);
- ``partitions-<method>``: for methods whose per-epoch detection history has ``groups``
  (RRSITR's clean / hard / noisy partitions), the rows in each partition and its noisy share
  over the epochs, per ratio;
- ``hashing``: for records with ``metrics_hashing``, mAP@k against the ratio, a panel per
  direction (image→text, text→image, image→image, text→text) and a line per method and k.

The same records always give the same bytes: the Agg renderer, matplotlib's default style with
fixed settings (the DejaVu Sans file inside matplotlib, never a system copy; text drawn as
paths in SVG), a fixed
SVG hash salt, and no dates or software versions in the files' metadata. Figures are drawn on
``matplotlib.figure.Figure`` directly, without pyplot's global state.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from rsbench.report.hashing_fields import DIRECTIONS, hashing_ks, hashing_values

# Okabe–Ito: distinguishable with the common colour-vision deficiencies, readable on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
PARTITION_COLOURS = ("#009E73", "#E69F00", "#D55E00", "#0072B2", "#CC79A7", "#56B4E9")
DIRECTION_TITLES = {
    "i2t": "image → text",
    "t2i": "text → image",
    "i2i": "image → image",
    "t2t": "text → text",
}

STYLE: dict[str, Any] = {
    "font.family": "rsbench DejaVu Sans",  # registered by _register_font
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.labelsize": 9.5,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.color": "#d0d0d0",
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.8,
    "lines.markersize": 5.5,
    "svg.fonttype": "path",
    "svg.hashsalt": "rsbench",
    "savefig.dpi": 110,
    "figure.dpi": 110,
}
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}


@dataclass(frozen=True)
class Plot:
    """One figure: a file stem (``<section>-<kind>``), its alt text and caption, and its bytes."""

    stem: str
    alt: str
    caption: str
    png: bytes
    svg: bytes


FONT = "rsbench DejaVu Sans"


def _register_font() -> None:
    """DejaVu Sans as shipped inside matplotlib, under a name of its own: a system copy of
    DejaVu (another version, other glyphs) can then never be picked instead."""
    from pathlib import Path

    import matplotlib
    from matplotlib import font_manager

    if any(f.name == FONT for f in font_manager.fontManager.ttflist):
        return
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for file, weight in (("DejaVuSans.ttf", 400), ("DejaVuSans-Bold.ttf", 700)):
        font_manager.fontManager.ttflist.append(
            font_manager.FontEntry(
                fname=str(folder / file),
                name=FONT,
                style="normal",
                variant="normal",
                weight=weight,
                stretch="normal",
                size="scalable",
            )
        )


def _style():
    import matplotlib

    _register_font()
    ctx = matplotlib.rc_context()
    ctx.__enter__()
    matplotlib.rcdefaults()  # nobody's matplotlibrc changes the bytes
    matplotlib.rcParams.update(STYLE)
    return ctx


def _render(fig) -> tuple[bytes, bytes]:
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", metadata=PNG_METADATA)
    fig.savefig(svg, format="svg", metadata=SVG_METADATA)
    return png.getvalue(), svg.getvalue()


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _pct_axis(ax, ratios: list[float]) -> None:
    ax.set_xticks([r * 100 for r in ratios], [f"{r * 100:g}%" for r in ratios])
    ax.set_xlabel("noise ratio (nominal)")
    if len(ratios) == 1:
        ax.set_xlim(ratios[0] * 100 - 10, ratios[0] * 100 + 10)
    else:
        span = (max(ratios) - min(ratios)) * 100
        ax.set_xlim(min(ratios) * 100 - 0.04 * span, max(ratios) * 100 + 0.04 * span)


def _series(groups, labels, value) -> dict[str, list[tuple[float, float, float, float]]]:
    """label -> [(ratio %, mean, min, max)] over the seeds that have a value."""
    out: dict[str, list[tuple[float, float, float, float]]] = {}
    for label in labels:
        points = []
        for (ratio, lab), records in sorted(groups.items()):
            if lab != label:
                continue
            values = [v for v in (value(r) for r in records) if v is not None]
            if values:
                points.append((ratio * 100, sum(values) / len(values), min(values), max(values)))
        if points:
            out[label] = points
    return out


def _draw_lines(ax, series, styles, name=None, dash=None, marker=None) -> None:
    """One line per method label (its colour and marker), with the min–max band."""
    for label, points in series.items():
        colour, own_marker, dashed, legend = styles[label]
        xs = [p[0] for p in points]
        ax.plot(
            xs,
            [p[1] for p in points],
            color=colour,
            marker=marker or own_marker,
            linestyle=dash or ("--" if dashed else "-"),
            label=name(legend) if name else legend,
            zorder=3,
        )
        if any(p[3] > p[2] for p in points):
            ax.fill_between(
                xs, [p[2] for p in points], [p[3] for p in points], color=colour, alpha=0.18, lw=0
            )


def _legend(fig, handles_from, n: int) -> None:
    handles, names = handles_from.get_legend_handles_labels()
    if handles:
        fig.legend(handles, names, loc="outside lower center", ncols=min(n, 3))


def method_styles(
    labels: list[str], oracle: set[str], notes: dict[str, str] | None = None
) -> dict[str, tuple[str, str, bool, str]]:
    """A fixed colour, marker, dash and legend entry per method label (sorted), the same in
    every figure of a section. Oracle rows are dashed; ``notes`` are added to the legend (e.g.
    "uses clean labels", "trusted clean subset")."""
    notes = notes or {}
    return {
        label: (
            PALETTE[i % len(PALETTE)],
            MARKERS[i % len(MARKERS)],
            label in oracle,
            f"{label} ({notes[label]})" if notes.get(label) else label,
        )
        for i, label in enumerate(sorted(labels))
    }


def mr_plot(stem, title, groups, styles) -> Plot:
    from matplotlib.figure import Figure

    ratios = sorted({r for r, _ in groups})
    labels = sorted({lab for _, lab in groups})
    series = _series(groups, labels, lambda r: (r.get("metrics") or {}).get("mR"))
    ctx = _style()
    try:
        fig = Figure(figsize=(6.4, 4.4), layout="constrained")
        ax = fig.add_subplot()
        _draw_lines(ax, series, styles)
        _pct_axis(ax, ratios)
        top = max((p[3] for pts in series.values() for p in pts), default=1.0)
        ax.set_ylim(0, top * 1.12 + 0.5)
        ax.set_ylabel("mR on the test split (%)")
        ax.set_title(title, loc="left")
        _legend(fig, ax, len(series))
        png, svg = _render(fig)
    finally:
        ctx.__exit__(None, None, None)
    return Plot(
        stem,
        f"mR against noise ratio: {title}",
        "mR against the nominal noise ratio; line: mean over training seeds, band: the seeds' "
        "minimum to maximum (from two seeds on).",
        png,
        svg,
    )


def _selected(r: dict, key: str) -> float | None:
    return ((r.get("detection") or {}).get("selected") or {}).get(key)


def detection_plot(stem, title, groups, styles) -> Plot | None:
    from matplotlib.figure import Figure

    with_scores = {
        lab for (_, lab), rs in groups.items() if any(_selected(r, "auc") is not None for r in rs)
    }
    with_f1 = {
        lab for (_, lab), rs in groups.items() if any(_selected(r, "f1") is not None for r in rs)
    }
    labels = sorted(with_scores | with_f1)
    if not labels:
        return None
    ratios = sorted({r for r, lab in groups if lab in labels})
    ctx = _style()
    try:
        fig = Figure(figsize=(7.6, 3.9), layout="constrained")
        axes = fig.subplots(1, 2)
        for ax, key, name, low in ((axes[0], "auc", "AUC", 0.4), (axes[1], "f1", "F1", 0.0)):
            series = _series(groups, labels, lambda r, key=key: _selected(r, key))
            _draw_lines(ax, series, styles)
            if key == "auc":
                ax.axhline(0.5, color="#777777", linewidth=0.9, linestyle=":", zorder=1)
                ax.annotate(
                    "chance",
                    (0.01, 0.5),
                    xycoords=("axes fraction", "data"),
                    xytext=(0, 3),
                    textcoords="offset points",
                    color="#555555",
                    fontsize=8,
                )
            _pct_axis(ax, ratios)
            ax.set_ylim(low, 1.02)
            ax.set_ylabel(name)
            ax.set_title(f"{name} of finding the noisy pairs", loc="left")
        fig.suptitle(
            f"Noise detection at the selected checkpoint — {title}",
            x=0.01,
            ha="left",
            fontsize=10.5,
        )
        _legend(fig, axes[0], len(labels))
        png, svg = _render(fig)
    finally:
        ctx.__exit__(None, None, None)
    return Plot(
        stem,
        f"Noise detection AUC and F1 against noise ratio: {title}",
        "Noise detection at the selected checkpoint: ROC AUC of the per-pair clean scores (left) "
        "and F1 of the method's own noisy/clean decision, noisy = positive (right); line: mean "
        "over seeds, band: min–max.",
        png,
        svg,
    )


# ---- RRSITR's partitions --------------------------------------------------------------------


def _partition_rows(entry: dict) -> dict[str, tuple[float | None, float | None]]:
    """name -> (rows, noisy share) of one detection-history entry's ``groups``."""
    groups = entry.get("groups")
    if isinstance(groups, list):
        groups = {str(g.get("name")): g for g in groups if isinstance(g, dict)}
    if not isinstance(groups, dict):
        return {}
    out = {}
    for name, g in groups.items():
        if isinstance(g, dict):
            rows = next((g[k] for k in ("rows", "size", "count") if k in g), None)
            share = next(
                (g[k] for k in ("noisy_share", "noisy_rate", "noise_rate") if k in g), None
            )
        else:
            rows, share = g, None
        out[str(name)] = (rows, share)
    return out


def partition_history(record: dict) -> dict[str, list[tuple[int, float | None, float | None]]]:
    """partition -> [(epoch, rows, noisy share)] from ``detection.history[*].groups``."""
    out: dict[str, list[tuple[int, float | None, float | None]]] = {}
    for n, entry in enumerate((record.get("detection") or {}).get("history") or []):
        if not isinstance(entry, dict):
            continue
        for name, (rows, share) in _partition_rows(entry).items():
            out.setdefault(name, []).append((int(entry.get("epoch", n + 1)), rows, share))
    return out


def first_seed_cells(groups, has) -> dict[str, list[tuple[float, dict]]]:
    """Method label → (ratio, its first-seed record) for every ratio where a record ``has``
    what a per-method figure draws; labels in order, ratios ascending."""
    out: dict[str, list[tuple[float, dict]]] = {}
    for (ratio, label), records in sorted(groups.items()):
        with_it = sorted((r for r in records if has(r)), key=lambda r: r["seed"])
        if with_it:
            out.setdefault(label, []).append((ratio, with_it[0]))
    return dict(sorted(out.items()))


def partition_plots(section_stem, title, groups) -> list[Plot]:
    from matplotlib.figure import Figure

    plots = []
    for label, cells in first_seed_cells(groups, partition_history).items():
        names: list[str] = []
        for _, r in cells:
            names += [n for n in partition_history(r) if n not in names]
        colours = {n: PARTITION_COLOURS[i % len(PARTITION_COLOURS)] for i, n in enumerate(names)}
        ctx = _style()
        try:
            ncols = len(cells)
            fig = Figure(figsize=(max(4.2, 2.7 * ncols + 0.8), 5.2), layout="constrained")
            axes = fig.subplots(2, ncols, sharex="col", squeeze=False)
            for col, (ratio, record) in enumerate(cells):
                hist = partition_history(record)
                top, bottom = axes[0][col], axes[1][col]
                epochs = sorted({e for series in hist.values() for e, _, _ in series})
                base = [0.0] * len(epochs)
                for name in names:
                    by_epoch = {e: rows for e, rows, _ in hist.get(name, [])}
                    heights = [float(by_epoch.get(e) or 0) for e in epochs]
                    top.bar(
                        epochs,
                        heights,
                        bottom=base,
                        color=colours[name],
                        width=0.8,
                        label=name,
                        linewidth=0,
                    )
                    base = [b + h for b, h in zip(base, heights, strict=True)]
                    shares = [(e, s) for e, _, s in hist.get(name, []) if s is not None]
                    if shares:
                        bottom.plot(
                            [e for e, _ in shares],
                            [s for _, s in shares],
                            color=colours[name],
                            marker="o",
                            label=name,
                        )
                top.set_title(f"{ratio * 100:g}% noise (seed {record['seed']})", loc="left")
                bottom.set_ylim(0, 1.02)
                bottom.set_xlabel("epoch")
                bottom.set_xticks(epochs)
            axes[0][0].set_ylabel("training rows")
            axes[1][0].set_ylabel("noisy share")
            fig.suptitle(
                f"{label}: partitions over epochs — {title}", x=0.01, ha="left", fontsize=10.5
            )
            _legend(fig, axes[0][0], len(names))
            png, svg = _render(fig)
        finally:
            ctx.__exit__(None, None, None)
        plots.append(
            Plot(
                f"{section_stem}-partitions-{slug(label)}",
                f"{label}: training rows per partition and their noisy share over epochs",
                f"{label}: the training rows in each partition per epoch (top, stacked) and the "
                "share of them that is noisy by the ground truth (bottom); first seed per ratio.",
                png,
                svg,
            )
        )
    return plots


def selected_histogram(record: dict) -> dict | None:
    """The clean-score histogram of a record at its selected checkpoint (None: not recorded)."""
    hist = ((record.get("detection") or {}).get("selected") or {}).get("histogram")
    return hist if isinstance(hist, dict) and hist.get("edges") else None


def histogram_plots(section_stem, title, groups) -> list[Plot]:
    """Per method that scores its training pairs: the clean scores of truly clean and truly
    noisy rows at the selected checkpoint, one panel per noise ratio (first seed)."""
    from matplotlib.figure import Figure

    plots = []
    for label, cells in first_seed_cells(groups, selected_histogram).items():
        ctx = _style()
        try:
            fig = Figure(figsize=(max(4.2, 2.7 * len(cells) + 0.8), 3.0), layout="constrained")
            axes = fig.subplots(1, len(cells), squeeze=False)[0]
            for ax, (ratio, record) in zip(axes, cells, strict=True):
                hist = selected_histogram(record)
                edges = hist["edges"]
                for name, colour in (
                    ("clean", PARTITION_COLOURS[0]),
                    ("noisy", PARTITION_COLOURS[2]),
                ):
                    ax.stairs(hist[name], edges, color=colour, label=f"truly {name}", fill=False)
                ax.set_title(f"{ratio * 100:g}% noise (seed {record['seed']})", loc="left")
                ax.set_xlabel("clean score")
            axes[0].set_ylabel("training rows")
            fig.suptitle(
                f"{label}: clean scores at the selected epoch — {title}",
                x=0.01,
                ha="left",
                fontsize=10.5,
            )
            _legend(fig, axes[0], 2)
            png, svg = _render(fig)
        finally:
            ctx.__exit__(None, None, None)
        plots.append(
            Plot(
                f"{section_stem}-scores-{slug(label)}",
                f"{label}: clean scores of truly clean and truly noisy training rows",
                f"{label}: how the method's per-pair clean score (its loss or its estimate) "
                "separates the truly clean rows from the truly noisy ones at the selected "
                "checkpoint; first seed per ratio.",
                png,
                svg,
            )
        )
    return plots


# ---- hashing --------------------------------------------------------------------------------


def hashing_plots(section_stem, title, groups, styles) -> list[Plot]:
    """One figure: a panel per direction, a line per (method, k); solid for the largest k."""
    from matplotlib.figure import Figure

    with_hashing = {g: rs for g, rs in groups.items() if any(hashing_values(r) for r in rs)}
    if not with_hashing:
        return []
    records = [r for rs in with_hashing.values() for r in rs]
    ks = hashing_ks(records)
    present = [
        d for d in DIRECTIONS if any(n.startswith(d) for r in records for n in hashing_values(r))
    ]
    labels = sorted({lab for _, lab in with_hashing})
    ratios = sorted({r for r, _ in with_hashing})
    # the method gives the colour; k the dash and the marker (solid, round: the largest k)
    dashes = dict(zip(reversed(ks), ("-", "--", ":", "-."), strict=False))
    k_markers = dict(zip(reversed(ks), ("o", "s", "^", "D"), strict=False))
    ctx = _style()
    try:
        rows = (len(present) + 1) // 2
        fig = Figure(figsize=(7.6, 2.8 * rows + 1.0), layout="constrained")
        axes = fig.subplots(rows, 2 if len(present) > 1 else 1, squeeze=False, sharey=True)
        flat = [ax for row in axes for ax in row]
        for ax, d in zip(flat, present, strict=False):
            for k in ks:
                series = _series(
                    with_hashing, labels, lambda r, n=f"{d}_mAP@{k}": hashing_values(r).get(n)
                )
                _draw_lines(
                    ax,
                    series,
                    styles,
                    name=lambda lab, k=k: f"{lab}, mAP@{k}",
                    dash=dashes.get(k, "-"),
                    marker=k_markers.get(k, "o"),
                )
            _pct_axis(ax, ratios)
            ax.set_ylim(0, 1.02)
            ax.set_title(DIRECTION_TITLES[d], loc="left")
        for ax in flat[len(present) :]:
            ax.set_visible(False)
        for row in axes:
            row[0].set_ylabel("mAP@k")
        fig.suptitle(f"Hashing retrieval — {title}", x=0.01, ha="left", fontsize=10.5)
        _legend(fig, flat[0], len(labels) * len(ks))
        png, svg = _render(fig)
    finally:
        ctx.__exit__(None, None, None)
    return [
        Plot(
            f"{section_stem}-hashing",
            f"Hashing mAP@k against noise ratio: {title}",
            "Cross-modal hashing mAP@k per retrieval direction against the nominal noise ratio "
            f"(k = {', '.join(map(str, ks))}; solid: k = {ks[-1]}); line: mean over seeds, band: "
            "min–max.",
            png,
            svg,
        )
    ]


def section_plots(
    section_stem: str,
    title: str,
    groups: dict,
    oracle: set[str],
    notes: dict[str, str] | None = None,
) -> dict[str, list[Plot]]:
    """Every figure of one section, keyed by where it goes in the Markdown
    (``mr``, ``detection``, ``hashing``). ``oracle``: labels drawn dashed (they read the clean
    flags); ``notes``: label -> what the legend adds to it."""
    styles = method_styles(sorted({lab for _, lab in groups}), oracle, notes)
    out: dict[str, list[Plot]] = {"mr": [mr_plot(f"{section_stem}-mr", title, groups, styles)]}
    detection = detection_plot(f"{section_stem}-detection", title, groups, styles)
    out["detection"] = [detection] if detection else []
    out["detection"] += partition_plots(section_stem, title, groups)
    out["detection"] += histogram_plots(section_stem, title, groups)
    out["hashing"] = hashing_plots(section_stem, title, groups, styles)
    return out
