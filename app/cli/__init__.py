"""The `cadre` command (Typer): serve, chat, doctor, users, db, ingest, search, documents."""
