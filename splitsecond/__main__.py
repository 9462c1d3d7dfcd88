"""``python -m splitsecond`` runs the CLI."""

from splitsecond.cli import main

main()
