"""Scoring a fit: retrieval metrics (R@K, mR), hashing mAP@k, noise-detection quality and the
statistics that compare methods, on numpy arrays (a model reaches them through a `Scorer`).
"""
