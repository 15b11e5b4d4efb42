"""``python -m gluon_tricks``: the same CLI as the ``gluon-tricks`` console script."""
import sys

from .cli import main

sys.exit(main())
