"""``tinygrad.renderer``: only names the suite imports."""
