"""First-party datasets."""

from rsbench import hookimpl


@hookimpl
def register_datasets(register):
    from rsbench_plugins.datasets.synthrs import SynthRS, SynthRSTiny

    register("synthrs", SynthRS)
    register("synthrs-tiny", SynthRSTiny)
