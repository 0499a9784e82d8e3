"""rsbench-example-method: the method example-method for rsbench.

rsbench finds this module through the ``rsbench`` entry point in pyproject.toml and calls its
hook. Registration stays light: the class is named by a lazy ``"module:Class"`` string, so
``rsbench list`` and ``rsbench plugins`` never import torch for it. Bump ``version`` whenever
a change can change results: it is part of every cell id, so old and new results never mix.
"""

from rsbench import hookimpl


@hookimpl
def register_methods(register):
    register(
        "example-method",
        "rsbench_example_method.method:ExampleMethod",
        version="1",
        description="ExampleMethod: describe the method in one line",
    )
