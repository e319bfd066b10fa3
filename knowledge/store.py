"""The LanceDB store of chunk vectors and text, one row per chunk, filtered by owner.

Layout. One table, `chunks`, holds every committed chunk of every user with its vector; the
embedder that made the vectors is written in the table's schema metadata and in each row, and
a store opened with another embedder refuses to touch it (run `reindex()`).

Visibility. A document is written batch by batch into a second table, `chunks_staging`,
tagged with an ingestion id. `StagedDocument.commit()` copies the staged rows into `chunks`
in ONE append, which LanceDB commits atomically, so readers see all of a document or none of
it; then the staged rows are deleted. A crash before the append leaves only staging rows,
a crash after it a complete document plus staging rows; either way the staged rows of that
ingestion are deleted (`remove_staged`) once its catalog record shows that no process runs it
any more (`knowledge.leases`). Queries never read `chunks_staging`.

Isolation. Every query carries `owner = <literal>` inside LanceDB, built with LanceDB's typed
expressions, so an owner id is a value and never SQL text. The filter is applied before
ranking, except for an owner who holds nearly all the table (`_POSTFILTER_SHARE`): there it is
applied to a slightly longer ranked list, which gives the same passages without building a
mask of the owner's rows on every query (that mask was the largest single cost of a search at
100,000 chunks, docs/benchmarks.md "Retrieval latency"); if the other owners' rows leave too
few, the query is run again filtered first.
The few calls that take SQL strings get a literal with its quotes doubled (LanceDB's SQL has no
backslash escapes) from an id that `check_owner()` has validated.

Indexes. A native (non-tantivy) full-text index on `text` and a BTREE index on `owner` are made
with the first commit; rows added later are searched too (LanceDB scans what an index has not
absorbed yet), and `optimize()` folds them in once enough accumulate. The full-text index is
kept closer: LanceDB ranks the rows an FTS index holds by BM25 statistics of those rows alone
and the rows it has not absorbed by statistics of the whole table, so an index far behind the
table (the one made at the first commit covers only the first document) scores the rows it
holds with deflated IDFs, and that first upload falls out of keyword and hybrid results. The
index is therefore brought up to date whenever it lags by more than a tenth of what it holds
(`_TEXT_INDEX_LAG`): every commit while a base is a few documents, geometrically rarer as it
grows, so the cost per added row stays constant. Past
`StoreOptions.vector_index_rows` rows an IVF_PQ index is built in a background thread (searches
stay exact until it lands) and rebuilt whenever the table has doubled since; it is queried with
`refine_factor`. An owner with fewer rows than the threshold is searched exactly instead,
because a pre-filtered ANN search only sees the owner's rows inside the probed partitions.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.expr import Expr, col, lit
from lancedb.index import FTS, BTree, IvfPq

from knowledge.documents import Chunk, Passage
from knowledge.embedder import Embedder, Vectors
from knowledge.errors import KnowledgeError

_log = logging.getLogger(__name__)

TABLE = "chunks"
STAGING = "chunks_staging"
_REBUILD = "chunks_rebuild"
_META_EMBEDDER = b"cadre.embedder_id"
_META_COMPLETE = "cadre.complete"
_META_IVF_ROWS = "cadre.ivf_pq_rows"
_MAX_OWNER = 256
_TEXT_INDEX_LAG = 0.1
"""Unindexed/indexed row ratio past which the FTS index is brought up to date (see above).
Indexed and unindexed rows are then scored against corpora that differ by at most a tenth.
An update (`optimize()`) costs O(table), about 40 ms per 1,000 rows of 384-dim chunks, and
comes once per 10% of growth: under half a millisecond per committed row, amortized."""
_POSTFILTER_SHARE = 0.9
"""Share of the table's rows past which an owner's searches filter after ranking (see above)."""


class EmbedderMismatchError(KnowledgeError):
    """The store was built with another embedder; its vectors cannot be compared."""

    code = "embedder_mismatch"

    def __init__(self, uri: str, stored: str, wanted: str) -> None:
        super().__init__(
            f"The knowledge store at {uri} was built with the embedder {stored!r}, not "
            f"{wanted!r}; open it with {stored!r}, or re-embed every chunk with "
            f"`KnowledgeStore.reindex()` (the `cadre reindex` command) to switch."
        )
        self.stored = stored
        self.wanted = wanted


class InvalidOwnerError(KnowledgeError):
    """An owner id that is empty, too long, or holds control characters."""

    code = "invalid_owner"

    def __init__(self, owner: str) -> None:
        super().__init__(
            f"{owner[:40]!r} is not a valid owner id: use 1 to {_MAX_OWNER} printable "
            "characters (a user id or name)."
        )


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """Tuning of a `KnowledgeStore`; the defaults suit a laptop up to a few million chunks."""

    vector_index_rows: int = 50_000
    """Rows past which an IVF_PQ index is built (below it exact search is fast enough)."""
    refine_factor: int = 20
    """IVF_PQ candidates re-ranked with full vectors, per result wanted (at least 10)."""
    refine_budget: int = 400
    """Cap on re-ranked candidates (k x factor) for large k; the factor never drops below 10."""
    nprobes: int = 24
    """IVF partitions searched per query."""
    optimize_after_rows: int = 5_000
    """Rows that indexes may lag behind before `optimize()` folds them in after a write (the
    full-text index is folded in sooner while the table is small, see `_TEXT_INDEX_LAG`)."""
    consistency_interval: timedelta | None = timedelta(seconds=1)
    """How long another process's writes may go unseen (this store's own are seen at once)."""
    storage_options: tuple[tuple[str, str], ...] = ()
    """Object-store settings passed to LanceDB for `s3://` and similar URIs."""

    def __post_init__(self) -> None:
        if self.refine_factor < 10:
            raise ValueError("StoreOptions.refine_factor must be at least 10")
        if self.vector_index_rows < 256:
            raise ValueError("StoreOptions.vector_index_rows must be at least 256 (IVF training)")


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A committed document as the store knows it."""

    document_id: str
    name: str
    chunks: int
    pages: int | None


def check_owner(owner: str) -> str:
    """Return `owner` if it is a usable owner id, else raise `InvalidOwnerError`."""
    if (
        not isinstance(owner, str)
        or not owner
        or len(owner) > _MAX_OWNER
        or any(ch < " " or ch == "\x7f" for ch in owner)
    ):
        raise InvalidOwnerError(str(owner))
    return owner


def sql_literal(value: str) -> str:
    """A SQL string literal for LanceDB: quotes doubled, no other escapes exist."""
    if "\x00" in value:
        raise ValueError("NUL cannot appear in a filter value")
    return "'" + value.replace("'", "''") + "'"


def _schema(dimension: int, embedder_id: str, *, staging: bool) -> pa.Schema:
    fields = [
        pa.field("owner", pa.string(), nullable=False),
        pa.field("document_id", pa.string(), nullable=False),
        pa.field("document_name", pa.string(), nullable=False),
        pa.field("chunk_index", pa.int32(), nullable=False),
        pa.field("page", pa.int32()),
        pa.field("section", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("vector", pa.list_(pa.float32(), dimension)),
        pa.field("embedder_id", pa.string(), nullable=False),
        pa.field("meta", pa.string()),
    ]
    if staging:
        fields.append(pa.field("ingestion_id", pa.string(), nullable=False))
    return pa.schema(fields, metadata={_META_EMBEDDER: embedder_id.encode()})


_COLUMNS = [
    "owner", "document_id", "document_name", "chunk_index", "page", "section", "text", "meta"
]  # fmt: skip
_META = "meta"
"""Column of a chunk's citation facts (`Chunk.meta`) as JSON; stores made before it existed
gain it, empty, when opened (`_with_meta_column`)."""


class KnowledgeStore:
    """Chunks, vectors and full text of every user's documents, in LanceDB."""

    def __init__(
        self,
        uri: str | Path,
        *,
        embedder_id: str,
        dimension: int,
        options: StoreOptions | None = None,
    ) -> None:
        self.uri = str(uri)
        self.embedder_id = embedder_id
        self.dimension = dimension
        self.options = options or StoreOptions()
        self._db = lancedb.connect(
            self.uri,
            read_consistency_interval=self.options.consistency_interval,
            storage_options=dict(self.options.storage_options) or None,
        )
        self._lock = threading.RLock()
        self._owner_rows: dict[str, int] = {}
        self._counted: tuple[int, int] = (-1, 0)  # (table version, rows) the counts are for
        self._index_thread: threading.Thread | None = None
        self._vector_indexed: bool | None = None  # cached: listing indexes costs a round trip
        self._finish_interrupted_rebuild()
        self._table = self._open_or_create(TABLE, staging=False)
        self._staging = self._open_or_create(STAGING, staging=True)

    @classmethod
    def for_embedder(
        cls, uri: str | Path, embedder: Embedder, options: StoreOptions | None = None
    ) -> KnowledgeStore:
        """Open (or create) the store for vectors made by `embedder`."""
        return cls(uri, embedder_id=embedder.id, dimension=embedder.dimension, options=options)

    # ---- opening -------------------------------------------------------------------------

    def _open_or_create(self, name: str, *, staging: bool) -> Any:
        if name not in self._table_names():
            schema = _schema(self.dimension, self.embedder_id, staging=staging)
            return self._db.create_table(name, schema=schema, exist_ok=True)
        table = self._db.open_table(name)
        stored = (table.schema.metadata or {}).get(_META_EMBEDDER, b"").decode()
        if stored != self.embedder_id:
            raise EmbedderMismatchError(self.uri, stored or "unknown", self.embedder_id)
        return self._with_meta_column(table)

    @staticmethod
    def _with_meta_column(table: Any) -> Any:
        """Add the `meta` column (empty) to a table written before it existed."""
        if _META not in table.schema.names:
            table.add_columns({_META: "CAST(NULL AS STRING)"})
            _log.info("added the %s column to the %s table", _META, table.name)
        return table

    def _table_names(self) -> list[str]:
        names: list[str] = []
        token: str | None = None
        while True:
            page = self._db.list_tables(page_token=token, limit=1000)
            names.extend(page.tables)
            token = page.page_token
            if not token:
                return names

    # ---- writing -------------------------------------------------------------------------

    def stage(
        self, owner: str, document_id: str, document_name: str, ingestion_id: str | None = None
    ) -> StagedDocument:
        """Start writing a document; its rows stay invisible until `commit()`. Its staged rows
        carry `ingestion_id` (a fresh one if not given)."""
        return StagedDocument(self, check_owner(owner), document_id, document_name, ingestion_id)

    def _stage_rows(self, rows: pa.Table) -> None:
        with self._lock:
            self._staging.add(rows)

    def _commit(self, ingestion_id: str, owner: str, document_id: str) -> int:
        with self._lock:
            staged = self._ingestion_filter(ingestion_id)
            if self.has_document(owner, document_id):
                # Same owner, same content: the earlier copy stands; nothing is duplicated.
                self._staging.delete(staged)
                return 0
            rows = self._staging.search().where(staged).limit(None).to_arrow()
            rows = rows.drop_columns(["ingestion_id"]).cast(self._table.schema)
            if rows.num_rows:
                self._table.add(rows)  # one commit: the whole document appears at once
            self._staging.delete(staged)
            self._owner_rows.pop(owner, None)
            self._maintain_indexes()
            return int(rows.num_rows)

    def _abort(self, ingestion_id: str) -> None:
        with self._lock:
            self._staging.delete(self._ingestion_filter(ingestion_id))

    @staticmethod
    def _ingestion_filter(ingestion_id: str) -> str:
        return f"ingestion_id = {sql_literal(ingestion_id)}"

    def delete_document(self, owner: str, document_id: str) -> int:
        """Remove a document's chunks; searches stop returning them immediately."""
        where = self._document_filter(owner, document_id)
        with self._lock:
            before = self._table.count_rows(where)
            if before:
                self._table.delete(where)
            self._owner_rows.pop(owner, None)
        return int(before)

    def staged_ingestions(self) -> dict[str, int]:
        """Staged rows per ingestion id: ingestions in progress, or interrupted ones."""
        ids = self._staging.search().select(["ingestion_id"]).limit(None).to_arrow()["ingestion_id"]
        counts: dict[str, int] = {}
        for ingestion_id in ids.to_pylist():
            counts[ingestion_id] = counts.get(ingestion_id, 0) + 1
        return counts

    def remove_staged(self, ingestion_ids: Sequence[str]) -> int:
        """Delete the staged rows of these ingestions (no process runs them); their count."""
        removed = 0
        with self._lock:
            for start in range(0, len(ingestion_ids), 200):
                some = ", ".join(sql_literal(i) for i in ingestion_ids[start : start + 200])
                where = f"ingestion_id IN ({some})"
                count = int(self._staging.count_rows(where))
                if count:
                    self._staging.delete(where)
                    removed += count
        if removed:
            _log.info("removed %d staged chunks of interrupted ingestions", removed)
        return removed

    def recover(self) -> int:
        """Delete every staged row, of any ingestion; returns their count. Only for a store no
        other process writes to (re-indexing): a shared store uses `remove_staged`."""
        with self._lock:
            stale = int(self._staging.count_rows())
            if stale:
                self._staging.delete("true")
                _log.info("removed %d chunks of interrupted ingestions", stale)
            return stale

    def _maintain_indexes(self) -> None:
        indexed = {tuple(index.columns): index for index in self._table.list_indices()}
        total = int(self._table.count_rows())
        if not total:
            return
        if ("text",) not in indexed:
            self._table.create_index("text", config=FTS(with_position=False), replace=True)
        if ("owner",) not in indexed:
            self._table.create_index("owner", config=BTree(), replace=True)
        building = self._index_thread is not None and self._index_thread.is_alive()
        if building:
            return  # the build in progress indexes these rows, or the next one will
        if self._indexes_lag(indexed):
            self._table.optimize()
        if self._vector_index_due(total, has_index=("vector",) in indexed):
            self._index_thread = threading.Thread(
                target=self._build_vector_index, name="cadre-ivf-pq", daemon=True
            )
            self._index_thread.start()

    def _indexes_lag(self, indexed: dict[tuple[str, ...], Any]) -> bool:
        """Whether `optimize()` is due: an index lags too many rows, or the FTS index too many
        for its BM25 statistics to stand for the table (see the module docstring)."""
        lagging = 0
        for columns, index in indexed.items():
            stats = self._table.index_stats(index.name)
            if stats is None:
                continue
            unindexed = int(stats.num_unindexed_rows)
            if columns == ("text",) and unindexed > _TEXT_INDEX_LAG * int(stats.num_indexed_rows):
                return True
            lagging = max(lagging, unindexed)
        return lagging >= self.options.optimize_after_rows

    def _vector_index_due(self, total: int, *, has_index: bool) -> bool:
        if total < self.options.vector_index_rows:
            return False
        if not has_index:
            return True
        # Rows added after a build go into delta segments searched one by one; once the
        # table has doubled, a fresh index (retrained centroids, one segment) is faster.
        built = (self._table.schema.field("vector").metadata or {}).get(_META_IVF_ROWS.encode())
        return built is not None and total >= 2 * int(built)

    def _build_vector_index(self) -> None:
        """Build (or rebuild) the IVF_PQ index; runs in a background thread."""
        try:
            rows = int(self._table.count_rows())
            # ~sqrt(n) partitions keeps both the centroid search and each partition small;
            # 8-dim sub-vectors is the usual PQ trade-off for 384-dim sentence embeddings.
            partitions = max(1, min(int(math.sqrt(rows)), rows // 256))
            sub_vectors = next(
                d for d in (self.dimension // 8, 16, 8, 4, 2, 1) if self.dimension % d == 0
            )
            self._table.create_index(
                "vector",
                config=IvfPq(
                    distance_type="cosine", num_partitions=partitions, num_sub_vectors=sub_vectors
                ),
                replace=True,
            )
            self._table.update_field_metadata(
                {"path": "vector", "metadata": {_META_IVF_ROWS: str(rows)}}
            )
            self._vector_indexed = True
            _log.info("built IVF_PQ index over %d chunks (%d partitions)", rows, partitions)
        except Exception:
            # Searches stay correct without the index (exact scan), only slower; the next
            # commit tries again.
            _log.exception("building the IVF_PQ vector index failed")

    def wait_for_indexes(self, timeout: float | None = None) -> None:
        """Block until a background vector-index build (if any) has finished."""
        thread = self._index_thread
        if thread is not None:
            thread.join(timeout)

    def optimize(self) -> None:
        """Compact files and fold recent rows into every index (also done automatically)."""
        with self._lock:
            self._table.optimize()

    # ---- reading -------------------------------------------------------------------------

    def vector_search(
        self, owner: str, vector: Vectors, k: int, documents: Sequence[str] | None = None
    ) -> list[Passage]:
        """The owner's `k` chunks nearest to `vector` (score: cosine similarity).

        `documents` limits the search to those document ids (an operator's knowledge scope).
        """
        if documents is not None and not documents:
            return []
        indexed = self._vector_indexed
        if indexed is None:
            indexed = self._vector_indexed = self.has_vector_index()
        approximate = indexed and self._rows_of(owner) >= self.options.vector_index_rows
        query_vector = np.asarray(vector, dtype=np.float32)

        def ranked(limit: int) -> Any:
            query = (
                self._table.search(query_vector, vector_column_name="vector")
                .distance_type("cosine")
                .select([*_COLUMNS, "_distance"])
                .limit(limit)
            )
            if not approximate:
                return query.bypass_vector_index()
            refine = max(10, min(self.options.refine_factor, self.options.refine_budget // limit))
            return query.nprobes(self.options.nprobes).refine_factor(refine)

        rows = self._scoped(ranked, owner, k, documents)
        return [_passage(row, 1.0 - float(row["_distance"])) for row in rows]

    def text_search(
        self, owner: str, text: str, k: int, documents: Sequence[str] | None = None
    ) -> list[Passage]:
        """The owner's `k` best full-text (BM25) matches for `text`, within `documents` if given."""
        if not text.strip() or (documents is not None and not documents):
            return []

        def ranked(limit: int) -> Any:
            return (
                self._table.search(text, query_type="fts", fts_columns="text")
                .select([*_COLUMNS, "_score"])
                .limit(limit)
            )

        rows = self._scoped(ranked, owner, k, documents)
        return [_passage(row, float(row["_score"])) for row in rows]

    def _scoped(
        self,
        ranked: Callable[[int], Any],
        owner: str,
        k: int,
        documents: Sequence[str] | None,
    ) -> list[dict[str, Any]]:
        """The first `k` rows of `ranked(limit)` that are the owner's (and in `documents`).

        The filter always runs inside LanceDB; whether before or after ranking is chosen by the
        owner's share of the table (module docstring, "Isolation"). Both give the same rows.
        """
        scope = self._scope_expr(owner, documents)
        if documents is None:
            mine, total = self._row_counts(owner)
            share = mine / total if total else 0.0
            if share >= _POSTFILTER_SHARE:
                alone = mine == total
                # Room for the other owners' rows a ranked list of this length holds, thrice
                # over; if they still leave fewer than k, the owner-first query below decides.
                limit = k if alone else k + math.ceil(3 * k * (1 - share)) + 2
                rows: list[dict[str, Any]] = ranked(limit).where(scope, prefilter=False).to_list()
                if alone or len(rows) >= k:
                    return rows[:k]
        return list(ranked(k).where(scope, prefilter=True).to_list())

    def read_document(self, owner: str, document_id: str) -> list[Passage]:
        """Every chunk of one document in reading order (empty if it is not the owner's)."""
        rows = (
            self._table.search()
            .where(self._document_expr(owner, document_id))
            .select(_COLUMNS)
            .limit(None)
            .to_list()
        )
        rows.sort(key=lambda row: int(row["chunk_index"]))
        return [_passage(row, 1.0) for row in rows]

    def documents(self, owner: str) -> list[StoredDocument]:
        """The owner's committed documents, by name."""
        table = (
            self._table.search()
            .where(self._owner_expr(owner))
            .select(["document_id", "document_name", "page"])
            .limit(None)
            .to_arrow()
        )
        found: dict[str, tuple[str, int, int | None]] = {}
        for doc, name, page in zip(
            table["document_id"].to_pylist(),
            table["document_name"].to_pylist(),
            table["page"].to_pylist(),
            strict=True,
        ):
            _, count, pages = found.get(doc, (name, 0, None))
            if page is not None:
                pages = max(pages or 0, int(page))
            found[doc] = (name, count + 1, pages)
        return sorted(
            (StoredDocument(doc, name, n, pages) for doc, (name, n, pages) in found.items()),
            key=lambda d: (d.name.lower(), d.document_id),
        )

    def attachments_of(self, owner: str, document_id: str) -> list[str]:
        """Ids of the owner's documents stored as attachments of this one (an e-mail's)."""
        # `meta` is JSON written with sorted keys and ", "/": " separators (`_meta_json`).
        pattern = sql_literal(f'%"attached_to": {json.dumps(document_id)}%')
        rows = (
            self._table.search()
            .where(f"owner = {sql_literal(check_owner(owner))} AND meta LIKE {pattern}")
            .select(["document_id"])
            .limit(None)
            .to_arrow()
        )
        return sorted(set(rows["document_id"].to_pylist()) - {document_id})

    def has_document(self, owner: str, document_id: str) -> bool:
        """Whether the owner has a committed document with this id."""
        return bool(self._table.count_rows(self._document_filter(owner, document_id)))

    def count(self, owner: str | None = None) -> int:
        """Committed chunks, of one owner or of everyone."""
        if owner is None:
            return int(self._table.count_rows())
        return int(self._table.count_rows(f"owner = {sql_literal(check_owner(owner))}"))

    def staged_count(self) -> int:
        """Rows of ingestions in progress (or interrupted, before `recover()`)."""
        return int(self._staging.count_rows())

    def has_vector_index(self) -> bool:
        """Whether the IVF_PQ index exists yet."""
        return any(tuple(index.columns) == ("vector",) for index in self._table.list_indices())

    def _rows_of(self, owner: str) -> int:
        return self._row_counts(owner)[0]

    def _row_counts(self, owner: str) -> tuple[int, int]:
        """(the owner's rows, all rows), counted once per table version (any process's write
        makes a new version, so the counts follow other processes' commits too)."""
        version = int(self._table.version)
        counted_version, total = self._counted
        if version != counted_version:
            self._owner_rows = {}
            total = self.count()
            self._counted = (version, total)
        rows = self._owner_rows.get(owner)
        if rows is None:
            rows = self._owner_rows[owner] = self.count(owner)
        return rows, total

    @staticmethod
    def _owner_expr(owner: str) -> Expr:
        return col("owner") == lit(check_owner(owner))

    @staticmethod
    def _scope_expr(owner: str, documents: Sequence[str] | None) -> Expr:
        owned = col("owner") == lit(check_owner(owner))
        return owned if documents is None else owned & col("document_id").isin(list(documents))

    @staticmethod
    def _document_expr(owner: str, document_id: str) -> Expr:
        return (col("owner") == lit(check_owner(owner))) & (col("document_id") == lit(document_id))

    @staticmethod
    def _document_filter(owner: str, document_id: str) -> str:
        return (
            f"owner = {sql_literal(check_owner(owner))} "
            f"AND document_id = {sql_literal(document_id)}"
        )

    # ---- re-embedding --------------------------------------------------------------------

    def reindex(self, embedder: Embedder, *, batch_size: int = 256) -> KnowledgeStore:
        """Re-embed every chunk with `embedder` and return the store opened for it.

        The new vectors are built in a side table; the live table is replaced only once that
        table is complete, and a crash mid-way is finished or discarded on the next open.
        """
        with self._lock:
            self.recover()
            if _REBUILD in self._table_names():
                self._db.drop_table(_REBUILD)
            schema = _schema(embedder.dimension, embedder.id, staging=False)
            rebuild = self._db.create_table(_REBUILD, schema=schema)
            for batch in self._iter_rows(batch_size):
                vectors = embedder.embed(batch["text"].to_pylist())
                batch = batch.set_column(
                    batch.schema.get_field_index("vector"),
                    schema.field("vector"),
                    _vector_array(vectors, embedder.dimension),
                )
                batch = batch.set_column(
                    batch.schema.get_field_index("embedder_id"),
                    schema.field("embedder_id"),
                    pa.array([embedder.id] * batch.num_rows, pa.string()),
                )
                rebuild.add(batch.cast(schema))
            rebuild.update_field_metadata({"path": "vector", "metadata": {_META_COMPLETE: "1"}})
            self._swap_in_rebuild()
        return KnowledgeStore(
            self.uri, embedder_id=embedder.id, dimension=embedder.dimension, options=self.options
        )

    def _iter_rows(self, batch_size: int) -> Iterator[pa.Table]:
        rows = self._table.to_arrow()
        for start in range(0, rows.num_rows, batch_size):
            yield rows.slice(start, batch_size)

    def _finish_interrupted_rebuild(self) -> None:
        if _REBUILD not in self._table_names():
            return
        rebuild = self._db.open_table(_REBUILD)
        complete = (rebuild.schema.field("vector").metadata or {}).get(
            _META_COMPLETE.encode()
        ) == b"1"
        if complete:
            self._swap_in_rebuild()  # the re-embedding finished; only the swap was cut short
        else:
            self._db.drop_table(_REBUILD)  # a half-embedded side table is worth nothing

    def _swap_in_rebuild(self) -> None:
        rebuild = self._db.open_table(_REBUILD)
        rows = rebuild.to_arrow()
        metadata = dict(rows.schema.metadata or {})
        schema = pa.schema(
            [field.remove_metadata() for field in rows.schema], metadata=metadata or None
        )
        if TABLE in self._table_names():
            self._db.drop_table(TABLE)
        for name in (STAGING,):
            if name in self._table_names():
                self._db.drop_table(name)
        self._db.create_table(TABLE, data=rows.cast(schema), schema=schema)
        self._db.drop_table(_REBUILD)


class StagedDocument:
    """A document being written: batches accumulate unseen until `commit()`."""

    def __init__(
        self,
        store: KnowledgeStore,
        owner: str,
        document_id: str,
        name: str,
        ingestion_id: str | None = None,
    ) -> None:
        self._store = store
        self.owner = owner
        self.document_id = document_id
        self.name = name
        self.ingestion_id = ingestion_id or uuid.uuid4().hex
        self.rows = 0

    def add(self, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Stage one batch of chunks with their vectors."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if not chunks:
            return
        store = self._store
        if vectors.shape[1] != store.dimension:
            raise ValueError(f"vectors have {vectors.shape[1]} dims, the store {store.dimension}")
        n = len(chunks)
        table = pa.table(
            {
                "owner": pa.array([self.owner] * n, pa.string()),
                "document_id": pa.array([self.document_id] * n, pa.string()),
                "document_name": pa.array([self.name] * n, pa.string()),
                "chunk_index": pa.array([c.index for c in chunks], pa.int32()),
                "page": pa.array([c.page for c in chunks], pa.int32()),
                "section": pa.array([c.section for c in chunks], pa.string()),
                "text": pa.array([c.text for c in chunks], pa.string()),
                "vector": _vector_array(vectors, store.dimension),
                "embedder_id": pa.array([store.embedder_id] * n, pa.string()),
                "meta": pa.array([_meta_json(c.meta) for c in chunks], pa.string()),
                "ingestion_id": pa.array([self.ingestion_id] * n, pa.string()),
            },
            schema=_schema(store.dimension, store.embedder_id, staging=True),
        )
        store._stage_rows(table)
        self.rows += n

    def commit(self) -> int:
        """Make the whole document visible at once; returns rows added (0 if a duplicate)."""
        return self._store._commit(self.ingestion_id, self.owner, self.document_id)

    def abort(self) -> None:
        """Throw away what was staged."""
        self._store._abort(self.ingestion_id)


def _vector_array(vectors: Vectors, dimension: int) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, dimension)


def _meta_json(meta: Any) -> str | None:
    return json.dumps(dict(meta), ensure_ascii=False, sort_keys=True) if meta else None


def _meta_of(raw: Any) -> dict[str, str]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _passage(row: dict[str, Any], score: float) -> Passage:
    return Passage(
        text=str(row["text"]),
        document_id=str(row["document_id"]),
        document_name=str(row["document_name"]),
        chunk_index=int(row["chunk_index"]),
        score=score,
        page=None if row["page"] is None else int(row["page"]),
        section=row["section"],
        meta=_meta_of(row.get(_META)),
    )
