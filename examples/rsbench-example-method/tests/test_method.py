"""rsbench-example-method against rsbench's plugin contract (``rsbench.testing``): run ``pytest``."""

from rsbench.testing import check_method, check_registered

from rsbench_example_method.method import ExampleMethod


def test_the_entry_point_registers_the_method():
    assert check_registered("example-method", "method").resolve() is ExampleMethod


def test_the_method_trains_and_conforms():
    # one epoch on synthrs-tiny, twice (the second checks determinism): seconds on a CPU
    metrics = check_method(ExampleMethod(epochs=1), clean_estimates=False)
    assert 0 <= metrics["mR"] <= 100
