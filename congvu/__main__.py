"""``python -m congvu`` is ``congvu``."""

from congvu.cli import main

main()
