"""`rsbench noise show`: what a noise model does to a dataset's training split, before training.

Builds the noise file exactly as a grid cell would (same hash), then prints its statistics
(nominal and effective rate, the share of corrupted pairs that stay in their scene class) and
sample corrupted pairs: the image, its true caption for that row, and the caption it gets.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from rsbench.data.noise_file import NoiseFile
from rsbench.plugin.split import Split


def noise_summary(
    dataset: str, split: Split, nf: NoiseFile, model: Any, n: int, width: int = 60
) -> str:
    stats = nf.stats
    options = ", ".join(f"{k}={v}" for k, v in sorted(model.params().items())) or "none"
    lines = [
        f"{dataset}: training split {split.name!r}, {len(split.images)} images, {len(split.texts)} caption rows",
        f"noise model {model.name} v{model.version} ({model.level}-level), options: {options}",
        f"ratio {nf.spec['ratio']:g}, noise seed {nf.spec['seed']}, noise file sha256 {nf.content_hash[:16]}",
        "",
        f"  rows changed:          {stats.get('changed_rate', 0) * 100:6.2f}%",
        f"  effective noise rate:  {nf.effective_rate * 100:6.2f}%  ({int((~nf.clean).sum())} noisy rows)",
    ]
    same = stats.get("same_class_rate")
    if same is not None:
        same_text = f"{same * 100:.1f}%"
    elif any(item.scene_class for item in split.images):
        same_text = "n/a (no caption moved to another image)"
    else:
        same_text = "n/a (no scene classes)"
    lines.append(f"  noisy pairs within the same scene class: {same_text}")
    extra = {
        k: v
        for k, v in stats.items()
        if k
        not in {
            "rows",
            "images",
            "changed_rate",
            "effective_rate",
            "same_class_rate",
            "nominal_rate",
        }
    }
    if extra:
        lines.append("  " + ", ".join(f"{k}: {v}" for k, v in sorted(extra.items())))
    noisy = np.flatnonzero(~nf.clean)
    if len(noisy) and n > 0:
        picks = np.sort(
            np.random.default_rng(0).choice(noisy, size=min(n, len(noisy)), replace=False)
        )
        assigned = nf.row_texts(split)
        lines += ["", f"sample corrupted pairs ({len(picks)} of {len(noisy)}):"]
        for row in picks.tolist():
            image_index = int(nf.image[row])
            item = split.images[image_index]
            lines.append(
                f"- row {row}: {item.id}" + (f" [{item.scene_class}]" if item.scene_class else "")
            )
            same_image = image_index == int(split.caption_image[row])
            true_caption = (
                split.texts[row] if same_image else (item.captions[0] if item.captions else "")
            )
            lines.append("    true caption:     " + _wrap(true_caption, width))
            if row in nf.texts:
                source = "edited"
            else:
                origin = split.images[int(split.caption_image[int(nf.caption[row])])]
                source = f"caption of {origin.id}" + (
                    f" [{origin.scene_class}]" if origin.scene_class else ""
                )
            text = assigned[row] if assigned[row].strip() else repr(assigned[row])
            lines.append("    assigned caption: " + _wrap(text, width) + f"  ({source})")
    return "\n".join(lines)


def _wrap(text: str, width: int) -> str:
    return "\n                      ".join(textwrap.wrap(text, width) or [""])
