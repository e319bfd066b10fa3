"""Chainlit's data layer on Cadre's database: threads, steps, elements, feedback, files.

The only part of `app.db` that imports Chainlit: it implements Chainlit's `BaseDataLayer`
and `BaseStorageClient`, whose calls carry no caller, so it also reads who is asking from
the request (`actor.py`). The rest of `app.db` is plain SQLAlchemy.
"""

from app.db.chainlit_data.layer import CadreDataLayer

__all__ = ["CadreDataLayer"]
