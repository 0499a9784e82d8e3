"""Datasets on disk: image decoding and its cache, the Karpathy annotation layout, where a
dataset's folder is found, dataset checks, and noise files.
"""
