"""First-party rsbench plugins, registered through the ``rsbench`` entry-point group.

Each family package (`datasets`, `methods`, `noise`, `executors`) has a light ``__init__``
that registers its components by lazy ``"module:Class"`` targets, so listing them imports no
torch.
"""
