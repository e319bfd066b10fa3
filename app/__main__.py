"""`python -m app` is the `cadre` command."""

from app.cli import main

main()
