"""The Chainlit chat: handlers, how a turn's events are shown, uploads, citations, documents.

`handlers.py` is Chainlit's entry file (mounted by app/server.py). Chainlit puts this folder
first on `sys.path`, so no module here may share a name with an installed package.
"""
