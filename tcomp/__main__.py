"""``python -m tcomp ...``: the same as the ``tcomp`` command."""

import sys

from tcomp.cli import main

if __name__ == "__main__":
    sys.exit(main())
