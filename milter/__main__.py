"""``python -m milter`` is ``congvu``."""

from milter.cli import main

main()
