"""The ``rsbench`` command line: the parser, the commands, and the settings they read from
flags and config files. The top floor: it may import every other package.
"""
