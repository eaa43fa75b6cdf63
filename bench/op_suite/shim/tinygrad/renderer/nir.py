"""``tinygrad.renderer.nir``: a class the suite tests ``isinstance`` against."""


class NIRRenderer:
    """Never instantiated: tcomp is not tinygrad's NIR renderer."""
