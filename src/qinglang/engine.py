"""Engines: where the event table lives and the detectors' SQL runs. Nothing else knows which.

Every query in qinglang is written once, in DuckDB's SQL dialect. The DuckDB engine runs it as is;
the Spark engine transpiles it with SQLGlot (``read="duckdb", write="spark"``). So each query has one
source of truth, and the report can print exactly what ran.

The `events` table has the contract's columns plus ``rid``, an integer row id in input order
(0, 1, ...): detectors, findings and labels join on it, because joining millions of rows on the
string ``event_id`` costs several times more. ``event_id`` stays the key every output shows.

The interface is deliberately narrow::

    load_events(reader)          the `events` table from an Arrow stream of EVENT_SCHEMA batches
    attach_events(sql)           DuckDB only: `events` as a view (ingest.native's SELECT)
    register(name, table)        a small lookup table (from Arrow)
    materialize(name, sql)       a named intermediate result (table in DuckDB, cached view in Spark)
    create_view(name, sql)       a named query, computed where it is used
    query(sql) -> pa.Table       a result back in Arrow
    write_parquet(sql, path)     a result to a Parquet file
    map_batches(name, sql, fn, schema)   a Python function over a result's Arrow batches (DuckDB
                                 streams them; Spark runs it as an Arrow UDF, `mapInArrow`)
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from qinglang.errors import ConfigError, EngineError

# A function from record batches to record batches (the engines' way to run Python per batch).
BatchFn = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]

ROW_ID = "rid"


def sql_string(value: object) -> str:
    """A SQL string literal (single quotes doubled): how a data value enters query text."""
    return "'" + str(value).replace("'", "''") + "'"


def with_row_ids(reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """The same batches with ``rid`` appended: 0, 1, 2, ... in stream order."""
    schema = reader.schema.append(pa.field(ROW_ID, pa.int64()))

    def batches() -> Iterator[pa.RecordBatch]:
        start = 0
        for batch in reader:
            rid = pa.array(np.arange(start, start + batch.num_rows, dtype=np.int64))
            yield pa.RecordBatch.from_arrays([*batch.columns, rid], schema=schema)
            start += batch.num_rows

    return pa.RecordBatchReader.from_batches(schema, batches())


class _Guarded:
    """A record batch stream whose Python errors are kept: DuckDB reports an error raised while
    it reads a Python stream as its own "Invalid Input Error ... Python exception: Traceback",
    so the engine raises the original instead (the reader's own clear message)."""

    def __init__(self, reader: pa.RecordBatchReader) -> None:
        self.error: BaseException | None = None
        self._reader = reader
        self.reader = pa.RecordBatchReader.from_batches(reader.schema, self._batches())

    def _batches(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._reader
        except BaseException as exc:
            self.error = exc
            raise

    def reraise(self, exc: BaseException) -> None:
        if self.error is not None:
            raise self.error from None
        raise exc


class Engine(Protocol):
    name: str
    statements: list[str]  # every statement that made a table, in run order

    def load_events(self, reader: pa.RecordBatchReader) -> int: ...
    def attach_events(self, sql: str) -> int: ...
    def keep_events(self, condition: str) -> int: ...
    def register(self, name: str, table: pa.Table) -> None: ...
    def materialize(self, name: str, sql: str) -> None: ...
    def drop(self, name: str) -> None: ...  # a table no later statement reads: its memory back
    def create_view(self, name: str, sql: str) -> None: ...
    def query(self, sql: str) -> pa.Table: ...
    def write_parquet(self, sql: str, path: Path) -> None: ...
    def map_batches(self, name: str, sql: str, fn: BatchFn, schema: pa.Schema) -> None: ...
    def close(self) -> None: ...


def default_memory_limit() -> str:
    """Half the machine's memory (QINGLANG_DUCKDB_MEMORY overrides, e.g. ``8GB``).

    DuckDB's own default (80%) leaves little for the rest of the machine; above the limit it
    spills tables and intermediate results to a temporary directory instead of failing.
    """
    override = os.environ.get("QINGLANG_DUCKDB_MEMORY")
    if override:
        return override
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "80%"
    return f"{max(total // 2 // 2**20, 256)}MB"


class DuckDBEngine:
    """The embedded default: an in-memory database, or a file given with ``--db``.

    Memory is capped (:func:`default_memory_limit`); beyond the cap DuckDB spills to a temporary
    directory that is removed on close, so a 36M-event audit fits a 24 GB machine.
    """

    name = "duckdb"

    def __init__(self, database: str | Path = ":memory:", threads: int | None = None) -> None:
        self.con = duckdb.connect(str(database))
        self.statements: list[str] = []  # every table the audit made, in run order (the method)
        self._spill = tempfile.TemporaryDirectory(prefix="qinglang-duckdb-")
        try:
            self.con.execute(f"SET memory_limit = {sql_string(default_memory_limit())}")
            self.con.execute(f"SET temp_directory = {sql_string(self._spill.name)}")
        except duckdb.Error as exc:
            self.close()
            raise EngineError(f"DuckDB refused its memory settings: {exc}") from exc
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")
        # No statement relies on a table's row order (every output that is listed is ordered by
        # its own ORDER BY): tables built without keeping it are cheaper to build in parallel.
        self.con.execute("SET preserve_insertion_order = false")
        for fname, (params, body, _spark) in PORTABLE_FUNCTIONS.items():
            self.con.execute(f"CREATE OR REPLACE MACRO {fname}({params}) AS {body}")

    def _run(self, sql: str) -> list[tuple]:
        try:
            return self.con.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise EngineError(f"DuckDB failed: {exc}\n--- query ---\n{sql}") from exc

    def load_events(self, reader: pa.RecordBatchReader) -> int:
        guarded = _Guarded(with_row_ids(reader))
        self.con.register("_events_stream", guarded.reader)
        self.statements.append("-- events: the inputs, read by qinglang's readers (rid: row order)")
        try:
            self._run("CREATE OR REPLACE TABLE events AS SELECT * FROM _events_stream")
        except EngineError as exc:
            guarded.reraise(exc)
        finally:
            self.con.unregister("_events_stream")
        return int(self._run("SELECT count(*) FROM events")[0][0])

    def attach_events(self, sql: str) -> int:
        self.statements.append(f"CREATE OR REPLACE VIEW events AS {sql}")
        self._run(f"CREATE OR REPLACE VIEW events AS {sql}")
        return int(self._run("SELECT count(*) FROM events")[0][0])

    def keep_events(self, condition: str) -> int:
        """Keep only the events where `condition` holds (a SQL expression over `events`);
        returns how many are left."""
        kind = self._run(
            "SELECT table_type FROM information_schema.tables WHERE table_name = 'events'"
        )
        self.statements.append(f"-- keep only: {condition}")
        if kind and kind[0][0] == "BASE TABLE":
            self._run(f"DELETE FROM events WHERE NOT coalesce({condition}, FALSE)")
        else:  # Parquet read in place: a view over the files
            self._run("ALTER VIEW events RENAME TO events_read")
            self._run(
                f"CREATE VIEW events AS SELECT * FROM events_read WHERE coalesce({condition}, FALSE)"
            )
        return int(self._run("SELECT count(*) FROM events")[0][0])

    def register(self, name: str, table: pa.Table) -> None:
        self.statements.append(
            f"-- {name}: {table.num_rows} rows computed in Python (see its module)"
        )
        self.con.register(f"_{name}_arrow", table)
        self._run(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _{name}_arrow")
        self.con.unregister(f"_{name}_arrow")

    def materialize(self, name: str, sql: str) -> None:
        self.statements.append(f"CREATE OR REPLACE TABLE {name} AS {sql}")
        self._run(f"CREATE OR REPLACE TABLE {name} AS {sql}")

    def drop(self, name: str) -> None:
        self.statements.append(f"DROP TABLE IF EXISTS {name}")
        self._run(f"DROP TABLE IF EXISTS {name}")

    def create_view(self, name: str, sql: str) -> None:
        self.statements.append(f"CREATE OR REPLACE VIEW {name} AS {sql}")
        self._run(f"CREATE OR REPLACE VIEW {name} AS {sql}")

    def query(self, sql: str) -> pa.Table:
        try:
            return self.con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise EngineError(f"DuckDB failed: {exc}\n--- query ---\n{sql}") from exc

    def write_parquet(self, sql: str, path: Path) -> None:
        target = str(path).replace("'", "''")
        self._run(f"COPY ({sql}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")

    def map_batches(self, name: str, sql: str, fn: BatchFn, schema: pa.Schema) -> None:
        """Table `name` := `fn` over the Arrow record batches of `sql` (Python code, such as a
        model's scoring, in the pipeline; Spark runs the same `fn` as an Arrow UDF)."""
        try:
            # a second connection streams the input while the first writes the output
            relation = self.con.cursor().sql(sql)
            reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
            source = reader(batch_size=65_536)
        except duckdb.Error as exc:
            raise EngineError(f"DuckDB failed: {exc}\n--- query ---\n{sql}") from exc
        self.statements.append(f"-- {name}: Python over the batches of: {sql}")
        guarded = _Guarded(pa.RecordBatchReader.from_batches(schema, fn(source)))
        self.con.register(f"_{name}_mapped", guarded.reader)
        try:
            self._run(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _{name}_mapped")
        except EngineError as exc:
            guarded.reraise(exc)
        finally:
            self.con.unregister(f"_{name}_mapped")

    def close(self) -> None:
        self.con.close()
        self._spill.cleanup()


# Functions whose DuckDB and Spark spellings SQLGlot cannot map (name -> (DuckDB macro, Spark)).
# Queries call them by the portable name; DuckDB gets a macro, Spark a rewrite of the call.
PORTABLE_FUNCTIONS: dict[str, tuple[str, str, str]] = {
    # name: (parameters, DuckDB body, Spark function)
    "ts_ms": ("x", "epoch_ms(x)", "unix_millis"),  # timestamp -> ms since the epoch (BIGINT)
    "list_size": ("x", "len(x)", "size"),  # number of elements of a list
    "list_common": ("a, b", "list_intersect(a, b)", "array_intersect"),  # distinct shared items
    "list_any": ("a, b", "list_has_any(a, b)", "arrays_overlap"),  # do two lists share an item
    # a 64-bit hash of a string, to compare many long strings cheaply (equal strings, equal
    # hashes; the engines hash differently, so it is compared, never shown or stored)
    "text_hash": ("x", "hash(x)", "xxhash64"),
}


def to_spark_sql(sql: str) -> str:
    """The one translation step: DuckDB dialect in, Spark SQL out."""
    tree = sqlglot.parse_one(sql, read="duckdb")

    for node in list(tree.find_all(exp.Anonymous)):
        if node.name.lower() in PORTABLE_FUNCTIONS:
            node.set("this", PORTABLE_FUNCTIONS[node.name.lower()][2])
    # Spark reads 1.0 as a DECIMAL, and its averages of decimals stay decimals (rounded to 5
    # places); DuckDB's are doubles. A fractional literal is a double in both.
    for lit in list(tree.find_all(exp.Literal)):
        if lit.is_number and any(c in lit.this for c in ".eE"):
            lit.replace(exp.cast(lit.copy(), exp.DataType.build("DOUBLE")))
    return tree.sql(dialect="spark")


class SparkEngine:
    """PySpark (local mode in tests, a cluster in production): same queries, transpiled."""

    name = "spark"

    def __init__(self, spark: object | None = None, workdir: str | Path | None = None) -> None:
        from pyspark.sql import SparkSession

        master = os.environ.get("QINGLANG_SPARK_MASTER", "local[2]")
        if master.startswith("local"):
            # local workers run this interpreter (qinglang, lightgbm and pyarrow are here), not
            # whatever `python3` is first on PATH
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        self.spark = spark or (
            SparkSession.builder.master(master)
            .appName("qinglang")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .getOrCreate()
        )
        self.spark.conf.set("spark.sql.session.timeZone", "UTC")  # type: ignore[attr-defined]
        # A checkpointed table keeps the constraints Spark inferred from the query that built it,
        # and rewriting them through a UNION of such tables fails ("key not found: reason#...")
        # when the pipeline combines its detectors' findings. The constraints only serve the
        # optimizer (inferred filters), so they are not inferred at all.
        self.spark.conf.set(  # type: ignore[attr-defined]
            "spark.sql.constraintPropagation.enabled", "false"
        )
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="qinglang-spark-"))
        self._cached: list[object] = []
        self._tables: dict[str, object] = {}  # materialized tables by name, for drop
        self.statements: list[str] = []  # as DuckDB's: in DuckDB's dialect, as written

    def _stage(self, table: pa.Table | pa.RecordBatchReader, name: str) -> str:
        path = self.workdir / f"{name}-{uuid.uuid4().hex}.parquet"
        if isinstance(table, pa.RecordBatchReader):
            with pq.ParquetWriter(path, table.schema) as writer:
                for batch in table:
                    writer.write_batch(batch)
        else:
            pq.write_table(table, path)
        return str(path)

    def attach_events(self, sql: str) -> int:
        raise EngineError("Spark reads events through the readers (load_events), not in place")

    def load_events(self, reader: pa.RecordBatchReader) -> int:
        path = self._stage(with_row_ids(reader), "events")
        df = self.spark.read.parquet(path)  # type: ignore[attr-defined]
        df.createOrReplaceTempView("events")
        return int(df.count())

    def keep_events(self, condition: str) -> int:
        df = self._sql(f"SELECT * FROM events WHERE coalesce({condition}, FALSE)")
        df = df.localCheckpoint(eager=True)  # type: ignore[attr-defined]
        df.createOrReplaceTempView("events")
        self._cached.append(df)
        return int(df.count())

    def register(self, name: str, table: pa.Table) -> None:
        df = self.spark.read.parquet(self._stage(table, name))  # type: ignore[attr-defined]
        df.createOrReplaceTempView(name)

    def _sql(self, sql: str) -> object:
        spark_sql = to_spark_sql(sql)
        try:
            return self.spark.sql(spark_sql)  # type: ignore[attr-defined]
        except Exception as exc:  # pyspark raises many unrelated types
            raise EngineError(f"Spark failed: {exc}\n--- query ---\n{spark_sql}") from exc

    def materialize(self, name: str, sql: str) -> None:
        # a local checkpoint, not just cache(): iterative detectors (batch peeling) build each
        # round on the last, and a lineage that grows every round makes Spark's plans explode
        self.statements.append(f"CREATE OR REPLACE TABLE {name} AS {sql}")
        df = self._sql(sql).localCheckpoint(eager=True)  # type: ignore[attr-defined]
        df.createOrReplaceTempView(name)
        self._cached.append(df)
        self._tables[name] = df

    def drop(self, name: str) -> None:
        self.statements.append(f"DROP TABLE IF EXISTS {name}")
        self.spark.catalog.dropTempView(name)  # type: ignore[attr-defined]
        df = self._tables.pop(name, None)
        if df is not None:
            self._cached.remove(df)
            df.unpersist()  # type: ignore[attr-defined]

    def create_view(self, name: str, sql: str) -> None:
        self.statements.append(f"CREATE OR REPLACE VIEW {name} AS {sql}")
        self._sql(sql).createOrReplaceTempView(name)  # type: ignore[attr-defined]

    def query(self, sql: str) -> pa.Table:
        return self._sql(sql).toArrow()  # type: ignore[attr-defined,no-any-return]

    def write_parquet(self, sql: str, path: Path) -> None:
        pq.write_table(self.query(sql), path, compression="zstd")

    def map_batches(self, name: str, sql: str, fn: BatchFn, schema: pa.Schema) -> None:
        """The same as DuckDB's, as an Arrow UDF (`mapInArrow`) on the executors."""
        from pyspark.sql.pandas.types import from_arrow_schema

        df = self._sql(sql).mapInArrow(fn, from_arrow_schema(schema))  # type: ignore[attr-defined]
        df = df.localCheckpoint(eager=True)
        df.createOrReplaceTempView(name)
        self._cached.append(df)

    def close(self) -> None:
        for df in self._cached:
            df.unpersist()  # type: ignore[attr-defined]


def connect(kind: str = "duckdb", database: str | Path = ":memory:") -> Engine:
    if kind == "duckdb":
        return DuckDBEngine(database)
    if kind == "spark":
        try:
            import pyspark  # noqa: F401
        except ImportError:
            raise ConfigError(
                "--engine spark needs PySpark and Java 17+: pip install 'qinglang[spark]' "
                "(or use the default engine, duckdb)"
            ) from None
        return SparkEngine()
    raise ConfigError(f"unknown engine {kind!r}: use duckdb or spark")
