"""The test kit for plugin authors (and rsbench's own tests): conformance checks and fixtures.

Run the checks against your components in your own test suite::

    from rsbench.testing import (
        check_dataset, check_method, check_noise_model, check_registered, write_tiny_dataset
    )

    def test_the_entry_point_registers_it():
        check_registered("my-method", "method")

    def test_my_method():
        check_method(MyMethod(epochs=1))          # trains on synthrs-tiny: a few seconds

    def test_my_search_space():
        check_search_space(MyMethod)              # every draw of SEARCH_SPACES is valid

    def test_my_noise_model():
        check_noise_model(MyNoise())

    def test_my_dataset(tmp_path):
        check_dataset(MyData(data_root=str(write_tiny_dataset(tmp_path / "data"))))

A broken rule raises `ConformanceError` (an ``AssertionError``) naming the component and the
rule. Fixtures: `tiny_split` (a fake training split without image files, for noise models),
`write_tiny_dataset` (a tiny dataset folder in the Karpathy layout), `write_distribution` and
`entry_point` (an installed-looking plugin distribution, to test entry points in a
subprocess). ``docs/plugins.md`` describes the contract these checks hold a plugin to.
"""

from rsbench.testing.dataset_check import check_dataset
from rsbench.testing.fixtures import entry_point, tiny_split, write_distribution, write_tiny_dataset
from rsbench.testing.method_check import check_method
from rsbench.testing.noise_check import check_noise_model
from rsbench.testing.registration import check_registered
from rsbench.testing.rules import ConformanceError, check_options
from rsbench.testing.search_check import check_search_space

__all__ = [
    "ConformanceError",
    "check_dataset",
    "check_method",
    "check_noise_model",
    "check_options",
    "check_registered",
    "check_search_space",
    "entry_point",
    "tiny_split",
    "write_distribution",
    "write_tiny_dataset",
]
