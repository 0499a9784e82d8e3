"""The plugin contract and its loading: the components plugins register, their hooks, options
and names, the registry, the plugin manager, and the splits a dataset returns.
"""
