"""`python -m app` is the `cadre` command."""

from app.cli.main import main

main()
