"""Per-epoch checkpoints of a fit: all a fit needs to go on as if it had never stopped.

`TrainableMethod.fit` writes one after every epoch to ``task.checkpoint_path`` (the runner
puts it in the cell's folder, ``<out>/work/<cell_id>/checkpoint.pt``) and, when it starts and
finds one of the same fit, continues after its epoch. A cell killed or preempted mid-training
then loses at most the epoch in progress, and on the CPU the resumed fit ends exactly where an
uninterrupted one does (same weights, history, selected epoch and clean estimates).

A checkpoint holds:

- the model's ``state_dict``, every optimiser's (`Optim.optimizer`, with its groups' base and
  current learning rates: the schedule itself is a pure function of the step), the fp16
  gradient scaler's;
- the random states: torch's CPU and CUDA generators, the engine's data-order generator
  (``state.generator``), numpy's and python's global ones;
- ``epoch`` (epochs completed), ``step``, the history so far, the best epoch, its score and
  its weights;
- ``state.buffers``: what a method keeps across epochs. Values must be tensors, numpy arrays
  (numbers, booleans or strings), `CleanEstimate`, numbers, strings, None, or lists, tuples
  and dicts of these. Caches that are recomputed on demand are named in the method's
  ``transient_buffers`` and left out. An object with ``state_dict()`` and
  ``load_state_dict(saved)`` (a dataclass of per-row codes, say) is saved as its
  ``state_dict()`` and, on resume, loaded into the object of the same name that
  ``on_fit_start`` built again; what it leaves out of ``state_dict()`` is rebuilt there (features
  from a cache). A method that keeps other objects gets a warning and no checkpoint (its cell
  still runs, it only cannot resume);
- from the task: whether the method read the clean labels, the trusted subset it was given,
  and ``task.resume_state`` (the runner's per-epoch detection metrics).

Files are written atomically (`rsbench.io.files.atomic_save`) with ``torch.save`` of plain
containers and tensors only, and read with ``torch.load(..., weights_only=True)``, which
refuses anything but those: a checkpoint cannot run code. A checkpoint of another fit (other
options, seed, training pairs or device type), of another format, or that cannot be read is
ignored with a warning and the fit starts from the beginning.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rsbench.io import progress
from rsbench.io.files import atomic_save, canonical_json
from rsbench.plugin.components import CleanEstimate

if TYPE_CHECKING:
    from rsbench.engine.state import EngineState

FORMAT = 1
TAG = "__rsbench__"


class NotCheckpointable(TypeError):
    """A value in ``state.buffers`` that a checkpoint cannot hold."""


# ---- values <-> plain containers and tensors -----------------------------------------------


def pack(value: Any, where: str) -> Any:
    """``value`` as containers, numbers, strings and CPU tensors (what weights_only reads)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        return {
            TAG: "tensor",
            "data": value.detach().cpu().clone(),
            "cpu": value.device.type == "cpu",
        }
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return {TAG: "ndarray", "data": torch.from_numpy(np.ascontiguousarray(value).copy())}
        if value.dtype.kind == "U":
            return {TAG: "strings", "data": value.tolist()}
        raise NotCheckpointable(f"{where} is a numpy array of dtype {value.dtype}")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, CleanEstimate):
        return {
            TAG: "clean_estimate",
            "scores": pack(value.scores, where),
            "decisions": pack(value.decisions, where),
            "groups": pack(value.groups, where),
            "group_names": list(value.group_names),
        }
    if isinstance(value, dict):
        if TAG in value:
            raise NotCheckpointable(f"{where} uses the reserved key {TAG!r}")
        return {k: pack(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list):
        return [pack(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(pack(v, f"{where}[{i}]") for i, v in enumerate(value))
    raise NotCheckpointable(
        f"{where} holds a {type(value).__module__}.{type(value).__qualname__}; checkpoints hold "
        "tensors, numpy arrays, CleanEstimate, numbers, strings and lists, tuples, dicts of them"
    )


def unpack(value: Any, device: str) -> Any:
    """The inverse of `pack`; tensors that were on the device go back to ``device``."""
    if isinstance(value, dict):
        kind = value.get(TAG)
        if kind == "tensor":
            return value["data"] if value["cpu"] else value["data"].to(device)
        if kind == "ndarray":
            return value["data"].numpy()
        if kind == "strings":
            return np.array(value["data"])
        if kind == "clean_estimate":
            return CleanEstimate(
                unpack(value["scores"], device),
                unpack(value["decisions"], device),
                unpack(value["groups"], device),
                tuple(value["group_names"]),
            )
        return {k: unpack(v, device) for k, v in value.items()}
    if isinstance(value, list):
        return [unpack(v, device) for v in value]
    if isinstance(value, tuple):
        return tuple(unpack(v, device) for v in value)
    return value


def stateful(value: Any) -> bool:
    """Whether ``value`` saves and loads itself (``state_dict`` / ``load_state_dict``)."""
    return callable(getattr(value, "state_dict", None)) and callable(
        getattr(value, "load_state_dict", None)
    )


def pack_buffers(buffers: dict[str, Any], transient: frozenset[str]) -> dict[str, Any]:
    """``state.buffers`` less the transient ones; a stateful value as its ``state_dict()``."""
    packed = {}
    for key, value in buffers.items():
        if key in transient:
            continue
        where = f"state.buffers[{key!r}]"
        if stateful(value):
            packed[key] = {TAG: "stateful", "state": pack(value.state_dict(), where)}
        else:
            packed[key] = pack(value, where)
    return packed


def saved_state(value: Any) -> bool:
    return isinstance(value, dict) and value.get(TAG) == "stateful"


# ---- random states ---------------------------------------------------------------------------


def rng_states(generator: torch.Generator) -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "generator": generator.get_state(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"][: torch.cuda.device_count()])
    generator.set_state(states["generator"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(states["python"])


# ---- one fit's checkpoints -------------------------------------------------------------------


class Checkpoints:
    """Saving and restoring one fit's state at epoch ends (see the module docstring)."""

    def __init__(self, path: Path, fingerprint: str, transient: frozenset[str] = frozenset()):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.transient = transient
        self.warned = False

    @classmethod
    def for_fit(cls, method, state: EngineState) -> Checkpoints | None:
        """The checkpoints of this fit, or None when the task asks for none."""
        path = getattr(state.task, "checkpoint_path", None)
        if path is None:
            return None
        key = {
            "method": getattr(method, "name", "") or type(method).__qualname__,
            "version": getattr(method, "version", ""),
            "options": method.identity_params(),
            "seed": state.task.seed,
            "pairs": state.task.fingerprint,
            "rows": state.n_rows,
            "device": state.precision.device_type,
            "precision": state.precision.mode,
        }
        fingerprint = hashlib.sha256(canonical_json(key).encode()).hexdigest()
        return cls(path, fingerprint, frozenset(getattr(method, "transient_buffers", ())))

    def save(self, state: EngineState, history: list[dict], best: dict[str, Any]) -> bool:
        """Write the state after epoch ``state.epoch`` (0-based); False when it cannot be."""
        try:
            buffers = pack_buffers(state.buffers, self.transient)
            extra = pack(state.task.resume_state, "task.resume_state")
            trusted = pack(state.task.trusted_subset, "task.trusted_subset")
            history_packed = pack(history, "history")
        except NotCheckpointable as exc:
            if not self.warned:
                progress.say(
                    f"rsbench: warning: no checkpoint for this cell ({exc}); it runs to the end "
                    "but cannot resume if interrupted"
                )
                self.warned = True
            return False
        checkpoint = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "epoch": state.epoch + 1,
            "step": state.step,
            "history": history_packed,
            "best": {"score": best["score"], "epoch": best["epoch"], "model": best["state"]},
            "model": state.model.state_dict(),
            "optimizers": [optim.optimizer.state_dict() for optim in state.optimizers],
            "scaler": state.precision.state_dict()["scaler"],
            "rng": rng_states(state.generator),
            "buffers": buffers,
            "task": {
                "used_ground_truth": bool(state.task.used_ground_truth),
                "trusted_subset": trusted,
                "resume_state": extra,
            },
        }
        atomic_save(self.path, lambda fh: torch.save(checkpoint, fh))
        return True

    def load(self) -> dict[str, Any] | None:
        """This fit's last checkpoint, or None (none, unreadable, or of another fit)."""
        if not self.path.is_file():
            return None
        try:
            checkpoint = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a damaged file, or one with objects weights_only refuses
            progress.say(
                f"rsbench: warning: ignoring unreadable checkpoint {self.path} "
                f"({type(exc).__name__}); the cell starts from its first epoch"
            )
            return None
        if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
            progress.say(f"rsbench: warning: ignoring checkpoint {self.path} of another format")
            return None
        if checkpoint.get("fingerprint") != self.fingerprint:
            progress.say(
                f"rsbench: warning: ignoring checkpoint {self.path}: it belongs to another fit "
                "(options, seed, training pairs or device differ)"
            )
            return None
        return checkpoint

    def restore(self, state: EngineState, history: list[dict], best: dict[str, Any]) -> int:
        """Load the last checkpoint into ``state``, ``history`` and ``best``; return the number
        of epochs it completed (0: nothing to resume)."""
        checkpoint = self.load()
        if checkpoint is None:
            return 0
        device = state.device
        if len(checkpoint["optimizers"]) != len(state.optimizers):
            progress.say(f"rsbench: warning: ignoring checkpoint {self.path}: optimisers differ")
            return 0
        saved_buffers = checkpoint["buffers"]
        unbuilt = [
            k
            for k, v in saved_buffers.items()
            if saved_state(v) and not stateful(state.buffers.get(k))
        ]
        if unbuilt:  # nothing is loaded yet: the fit starts from its first epoch as it is
            progress.say(
                f"rsbench: warning: ignoring checkpoint {self.path}: on_fit_start did not build "
                f"state.buffers {', '.join(map(repr, unbuilt))} to load the saved state into"
            )
            return 0
        state.model.load_state_dict(checkpoint["model"])
        for optim, saved in zip(state.optimizers, checkpoint["optimizers"], strict=True):
            optim.optimizer.load_state_dict(saved)
        if state.precision.scaler is not None and checkpoint["scaler"] is not None:
            state.precision.scaler.load_state_dict(checkpoint["scaler"])
        state.step = checkpoint["step"]
        state.epoch = checkpoint["epoch"] - 1
        for key, value in saved_buffers.items():
            if saved_state(value):
                state.buffers[key].load_state_dict(unpack(value["state"], device))
            else:
                state.buffers[key] = unpack(value, device)
        saved_best = checkpoint["best"]
        best.update(score=saved_best["score"], epoch=saved_best["epoch"], state=saved_best["model"])
        history[:] = unpack(checkpoint["history"], device)
        task = checkpoint["task"]
        state.task.used_ground_truth = state.task.used_ground_truth or task["used_ground_truth"]
        if task["trusted_subset"] is not None:
            state.task.trusted_subset = unpack(task["trusted_subset"], device)
        state.task.resume_state.clear()
        state.task.resume_state.update(unpack(task["resume_state"], device))
        set_rng_states(checkpoint["rng"], state.generator)
        state.task.resumed_from_epoch = checkpoint["epoch"]
        return checkpoint["epoch"]
