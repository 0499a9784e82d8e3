"""rsbench-example-method: RCL's complementary contrastive loss as a third-party rsbench method.

rsbench finds this module through the ``rsbench`` entry point in pyproject.toml and calls its
hook. Registration stays light: the class is named by a lazy ``"module:Class"`` string, so
``rsbench list`` and ``rsbench plugins`` never import torch for it. Bump ``version`` whenever
a change can change results: it is part of every cell id, so old and new results never mix.
"""

from rsbench import hookimpl


@hookimpl
def register_methods(register):
    register(
        "rcl",
        "rsbench_example_method.method:RCL",
        version="1",
        description="RCL (TPAMI 2023): complementary contrastive loss, robust to mismatched pairs",
    )
