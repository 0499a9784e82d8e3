"""YAML as users write it: PyYAML's safe loader, with ``1e-4`` read as a number.

PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-4``), so ``lr: 1e-4`` in a config
arrived as the string ``"1e-4"`` and failed the options check. Every config, option and
``KEY=VALUE`` flag is read here, so the exponent form means the same number everywhere.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

#: a number with an exponent and no dot (``1e-4``, ``-2E3``), a float in YAML 1.2
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$")


class Loader(yaml.SafeLoader):
    """The safe loader, reading ``1e-4`` as a float."""


Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


def load(text: str) -> Any:
    """The YAML document ``text`` (raises ``yaml.YAMLError`` as ``yaml.safe_load``)."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader subclass)
