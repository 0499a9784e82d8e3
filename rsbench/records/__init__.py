"""The records a run writes (one JSON file per cell) and the leaderboard's record exports:
reading, writing and checking them, their health checks, and their portable paths.
"""
