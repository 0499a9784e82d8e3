"""Running a grid: the grid and its settings, the runner that trains and scores each cell,
the executors and workers that run cells, their locks and state, and the tuner.
"""
