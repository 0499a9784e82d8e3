"""First-party datasets."""

from rsbench import hookimpl


@hookimpl
def register_datasets(register):
    from rsbench_plugins.datasets.nwpu import NWPUCaptions
    from rsbench_plugins.datasets.rsicd import RSICD
    from rsbench_plugins.datasets.rsitmd import RSITMD
    from rsbench_plugins.datasets.sydney import SydneyCaptions
    from rsbench_plugins.datasets.synthrs import SynthRS, SynthRSPretrain, SynthRSTiny
    from rsbench_plugins.datasets.ucm import UCMCaptions

    register("synthrs", SynthRS)
    register("synthrs-tiny", SynthRSTiny)
    register("synthrs-pretrain", SynthRSPretrain)
    register("rsitmd", RSITMD)
    register("rsicd", RSICD)
    register("nwpu", NWPUCaptions)
    register("ucm", UCMCaptions)
    register("sydney", SydneyCaptions)
