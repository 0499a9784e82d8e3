"""The bottom floor, imported by everything and importing nothing of rsbench outside it:
atomic files, cleanup of interrupted writes, the cache folder, progress, errors, YAML text.
"""
