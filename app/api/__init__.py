"""HTTP routes and middleware outside Chainlit's own: health, files, upload limits, offline page."""
