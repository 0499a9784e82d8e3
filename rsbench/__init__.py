"""rsbench: a reproducible bench for remote-sensing image-text retrieval under noisy correspondence.

The package root stays import-light (no torch, no pandas) so that `rsbench --help`,
`rsbench list` and plugin registration are fast.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Decorator for plugin authors: mark `register_methods` / `register_datasets` /
#: `register_noise_models` / `register_executors` implementations with it.
hookimpl = pluggy.HookimplMarker("rsbench")

__all__ = ["__version__", "hookimpl"]
