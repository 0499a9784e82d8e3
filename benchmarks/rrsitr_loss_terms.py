"""Which term of RRSITR's per-pair loss ℓ separates clean from noisy pairs, at each local scale.

    python benchmarks/rrsitr_loss_terms.py [--ratio 0.4] [--profile small] [--threads 1]

RRSITR splits its rows by ℓ = CE_global(i→t) + CE_global(t→i) + CE_local(i→t) + CE_local(t→i).
This scores every training pair of synthrs at ``--ratio`` caption noise with the method's model
as built (the pretrained CLIP, before any step: what the first epoch's split sees), in random
batches of the method's batch size, and prints per term its mean and the ROC AUC of −term
against the noise file's truth (1 = every clean pair ranks above every noisy one; 0.5 = no
signal), with the training local score at the code's scale (κ‖T̂V̂ᵀ‖_F) and at the ``unit``
scale (divided by √(text tokens × patches)); then ℓ in both forms and its quantiles in units of
the chance loss 4 ln B (the unit of ``threshold_scale: chance``) for clean and noisy pairs.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def auc(clean: np.ndarray, loss: np.ndarray) -> float:
    """ROC AUC of −loss as a clean score: the bench's own detection AUC."""
    from rsbench.evaluate.detection import roc_auc

    return roc_auc(-loss, clean)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratio", type=float, default=0.4)
    parser.add_argument("--profile", default="small")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, os.path.dirname(__file__))
    from nc_family_epoch import task_for

    from rsbench.plugin.manager import get_plugins
    from rsbench_plugins.methods.rrsitr import KAPPA, chance_loss, local_scores

    torch.set_num_threads(args.threads)
    task = task_for(10**9, args.ratio)
    method = get_plugins().methods.get("rrsitr").create({"profile": args.profile})
    state = method.prepare(task, torch.Generator().manual_seed(0))
    state.model.eval()
    with torch.no_grad():
        images, texts = state.encode_rows()
    clean = task.clean_flags.astype(bool)
    n, batch = len(texts), method.options.batch_size
    order = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    terms = {
        k: np.full(n, np.nan)
        for k in ("global i→t", "global t→i", "local i→t", "local t→i", "unit i→t", "unit t→i")
    }
    target = torch.arange(batch)
    divisor = (texts.tokens.shape[1] * images.tokens.shape[1]) ** 0.5
    with torch.no_grad():
        for start in range(0, n - batch + 1, batch):
            rows = order[start : start + batch]
            image, text = images[rows], texts[rows]
            global_logits = KAPPA * (text.emb.float() @ image.emb.float().T)
            local = local_scores(text.tokens, image.tokens, KAPPA)
            for name, logits in (
                ("global", global_logits),
                ("local", local),
                ("unit", local / divisor),
            ):
                at = rows.numpy()
                terms[f"{name} i→t"][at] = F.cross_entropy(logits, target, reduction="none")
                terms[f"{name} t→i"][at] = F.cross_entropy(logits.T, target, reduction="none")
    seen = ~np.isnan(terms["global i→t"])
    clean = clean[seen]
    print(f"rrsitr ({args.profile}) on synthrs, {args.ratio:.0%} caption noise, {seen.sum()} pairs")
    print(f"{'term':<14}{'mean':>9}{'AUC':>8}")
    for name, values in terms.items():
        values = values[seen]
        print(f"{name:<14}{values.mean():>9.2f}{auc(clean, values):>8.3f}")
    unit = chance_loss(batch)
    for form, local_name in (("code", "local"), ("unit", "unit")):
        ell = sum(terms[k][seen] for k in ("global i→t", "global t→i"))
        ell = ell + terms[f"{local_name} i→t"][seen] + terms[f"{local_name} t→i"][seen]
        q = lambda x: "/".join(f"{v / unit:.2f}" for v in np.quantile(x, [0.1, 0.5, 0.9]))  # noqa: E731
        print(
            f"ℓ, train_local_scale {form}: mean {ell.mean():.1f}, AUC {auc(clean, ell):.3f}; "
            f"quantiles 10/50/90 % in chance units ({unit:.1f}): clean {q(ell[clean])}, "
            f"noisy {q(ell[~clean])}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
