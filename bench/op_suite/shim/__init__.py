"""Folder put on ``sys.path`` by the runner only: it holds the fake ``tinygrad``."""
