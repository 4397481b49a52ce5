"""``python -m toolkit`` runs the afkit CLI (same as the ``afkit`` console script)."""

from toolkit.cli.main import main

main()
