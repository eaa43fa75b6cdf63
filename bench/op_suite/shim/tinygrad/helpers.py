"""``tinygrad.helpers``: the environment switches the suite reads."""

from bench.op_suite.device import DEBUG, DEV, IMAGE, Context, getenv

__all__ = ["DEBUG", "DEV", "IMAGE", "Context", "getenv"]
