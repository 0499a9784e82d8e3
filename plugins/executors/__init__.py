"""First-party executors: how a grid's cells run (`rsbench.run.executors`)."""

from rsbench import hookimpl


@hookimpl
def register_executors(register):
    register(
        "local",
        "rsbench_plugins.executors.local:LocalExecutor",
        version="1",
        description="This machine: a worker process per GPU (--gpus, --cells-per-gpu) or CPU "
        "workers (--workers); one cell after another by default on a CPU",
    )
    register(
        "slurm",
        "rsbench_plugins.executors.slurm:SlurmExecutor",
        version="1",
        description="A Slurm job array through submitit, one task per cell, requeued when "
        "preempted",
    )
