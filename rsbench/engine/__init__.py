"""The training engine (torch): one loop for every method, and the blocks methods build from.

- `TrainableMethod` (`trainer`): the loop and its hooks; `DualEncoderMethod` (`dual_encoder`):
  the baselines' CLIP / from-scratch dual encoders on top of it;
- `Features` (`features`), `RetrievalModel` and the CLIP wrapper (`models`);
- `TextBatch`, `WordTokenizer`, `HFTokenizer` (`text`); `ImagePipeline` (`pipeline`);
- `Schedule`, `decay_groups`, `make_optimizer` (`optim`); `Precision` (`precision`);
- `ModelRetriever`, `ModelScorer` (`scoring`): evaluation through ``model.score`` in tiles;
- offline transformers checkpoints (`hf`);
- `same_image_mask` (`losses`) and `check_finite` (`trainer`), which most losses use.

Method plugins import from here first; the submodules named above are public too, for the
rest of what they hold (`rsbench.api` holds everything else a plugin uses).

Importing this package imports torch, so registration code must not import it (use lazy
``"module:Class"`` targets).
"""

from rsbench.engine.dual_encoder import DualEncoderMethod
from rsbench.engine.features import Features
from rsbench.engine.losses import same_image_mask
from rsbench.engine.models import CLIPDualEncoder, RetrievalModel, ScratchDualEncoder
from rsbench.engine.pipeline import ImagePipeline
from rsbench.engine.runtime import resolve_device, seed_everything
from rsbench.engine.scoring import ModelRetriever, ModelScorer
from rsbench.engine.state import Batch, EngineState, LossOutput, Optim
from rsbench.engine.text import HFTokenizer, TextBatch, WordTokenizer
from rsbench.engine.trainer import TrainableMethod, check_finite

__all__ = [
    "Batch",
    "CLIPDualEncoder",
    "DualEncoderMethod",
    "EngineState",
    "Features",
    "HFTokenizer",
    "ImagePipeline",
    "LossOutput",
    "ModelRetriever",
    "ModelScorer",
    "Optim",
    "RetrievalModel",
    "ScratchDualEncoder",
    "TextBatch",
    "TrainableMethod",
    "WordTokenizer",
    "check_finite",
    "resolve_device",
    "same_image_mask",
    "seed_everything",
]
