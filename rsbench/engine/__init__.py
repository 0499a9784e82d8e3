"""Shared training machinery (torch): vocabulary, small encoders, the dual-encoder trainer.

Method plugins build on `DualEncoderMethod`; importing this package imports torch, so
registration code must not import it (use lazy ``"module:Class"`` targets).
"""

from rsbench.engine.dual_encoder import Batch, DualEncoderMethod, EngineState
from rsbench.engine.retriever import EmbeddingRetriever
from rsbench.engine.runtime import resolve_device, seed_everything

__all__ = [
    "Batch",
    "DualEncoderMethod",
    "EmbeddingRetriever",
    "EngineState",
    "resolve_device",
    "seed_everything",
]
