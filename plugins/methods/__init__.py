"""First-party training methods."""

from rsbench import hookimpl


@hookimpl
def register_methods(register):
    register(
        "chnr",
        "rsbench_plugins.methods.chnr:CHNR",
        version="1",
        description="CHNR (ICIP 2022): hashing on frozen ResNet/BERT features, pairs weighted by a noise detector meta-trained on a trusted clean subset",
    )
    register(
        "clip_filter",
        "rsbench_plugins.methods.clip_filter:CLIPFilter",
        version="1",
        description="Reference filter: keep the pairs the frozen pretrained CLIP scores highest (1 - nominal ratio, or a 2-GMM), fine-tune with InfoNCE on them",
    )
    register(
        "duch",
        "rsbench_plugins.methods.chnr:DUCH",
        version="1",
        description="DUCH as CHNR's baseline: CHNR's hashing without the meta phase, every pair weight 1",
    )
    register(
        "gsc",
        "rsbench_plugins.methods.gsc:GSC",
        version="1",
        description="GSC (CVPR 2024): pairs weighted by the consistency of their intra-image and intra-text similarity structure (a GMM per epoch), contrastive + topology InfoNCE",
    )
    register(
        "infonce",
        "rsbench_plugins.methods.infonce:InfoNCE",
        version="1",
        description="Symmetric contrastive (CLIP-style) loss with a temperature: the plain fine-tune reference row",
    )
    register(
        "infonce_gmm",
        "rsbench_plugins.methods.infonce_gmm:InfoNCEGMM",
        version="2",
        description="InfoNCE on the pairs a 2-GMM of per-pair losses calls clean (NCR-style detector)",
    )
    register(
        "ncr",
        "rsbench_plugins.methods.ncr:NCR",
        version="1",
        description="NCR (NeurIPS 2021): two networks, each trained on the other's 2-GMM split of per-pair losses, soft-margin triplet with refurbished labels; evaluation averages both",
    )
    register(
        "npc",
        "rsbench_plugins.methods.npc:NPC",
        version="1",
        description="NPC (AAAI 2024): CLIP fine-tuned with each pair weighted by how a siamese copy's step on it changes the loss of its clean memory-bank neighbours",
    )
    register(
        "rrsitr",
        "rsbench_plugins.methods.rrsitr:RRSITR",
        version="1",
        description="RRSITR (CVPR 2026): self-paced clean / ambiguous / noisy split of per-pair losses, robust triplet on the noisy part, global + local CLIP scores",
    )
    register(
        "vse",
        "rsbench_plugins.methods.vse:VSE",
        version="1",
        description="VSE++ hinge triplet loss with the hardest negative (margin 0.2), after a sum-of-hinges warm-up",
    )
    register(
        "msa",
        "rsbench_plugins.methods.msa:MSA",
        version="1",
        description="MSA (TGRS 2024): ResNet-50 stages + BERT, multi-scale cross-modal alignment transformer, triplet + MSCMA + CSMMC losses",
    )
    register(
        "amfmn",
        "rsbench_plugins.methods.amfmn:AMFMN",
        version="1",
        description="AMFMN (TGRS 2022): ResNet-18 multi-scale features gated by MVSA, a BiGRU sentence guided by the image (asymmetric score), and the dynamic-margin triplet loss from caption prior similarity",
    )
