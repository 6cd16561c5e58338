"""The Delta lakehouse: day-partitioned Delta tables on local disk or S3.

``Lakehouse`` reads and writes whole days of a table; ``DeltaIOManager`` uses it so every
daily-partitioned asset is stored at ``<root>/<asset_name>``, partitioned by ``partition_date``
(``pl.Date``). Writing days ``[start, end]`` replaces exactly those days (a delta-rs overwrite with
a partition predicate) in one commit; reading a day range scans only those partitions; new columns
merge into the table schema, old partitions read them as nulls.
"""


import logging
from datetime import date, datetime, timedelta

import dagster as dg
import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from bitbybit_base import settings

PARTITION_COLUMN = "partition_date"
log = logging.getLogger(__name__)


class LakehouseError(RuntimeError):
    """A write that would break the partition contract, or a storage failure."""


class Lakehouse(dg.ConfigurableResource):
    """Day-partitioned Delta tables under one root URI.

    ``root`` defaults to ``settings.lakehouse_root()`` (``BITBYBIT_LAKEHOUSE_ROOT`` or
    ``data/lakehouse``), resolved at call time; S3 credentials come from the standard AWS variables.
    """

    root: str | None = None

    def root_uri(self) -> str:
        return (self.root or settings.lakehouse_root()).rstrip("/")

    def table_uri(self, table: str) -> str:
        if not table or ".." in table or table.startswith("/"):
            raise LakehouseError(f"bad table name {table!r}")
        return f"{self.root_uri()}/{table}"

    def storage_options(self) -> dict[str, str]:
        return settings.storage_options(self.root_uri())

    def delta_table(self, table: str) -> DeltaTable | None:
        try:
            return DeltaTable(self.table_uri(table), storage_options=self.storage_options() or None)
        except TableNotFoundError:
            return None

    def exists(self, table: str) -> bool:
        return self.delta_table(table) is not None

    # ------------------------------------------------------------------ writes

    def write_days(self, table: str, df: pl.DataFrame, start: date, end: date) -> dict:
        """Replace days ``start..end`` (inclusive) of ``table`` with ``df`` in one Delta commit.

        Every row must carry a ``partition_date`` inside the range; rows of other days are refused
        so a run can never touch days it does not own. An empty frame clears those days.
        """
        if PARTITION_COLUMN not in df.columns:
            raise LakehouseError(f"{table}: frame has no {PARTITION_COLUMN} column")
        if df.schema[PARTITION_COLUMN] != pl.Date:
            raise LakehouseError(
                f"{table}: {PARTITION_COLUMN} must be pl.Date, got {df.schema[PARTITION_COLUMN]}"
            )
        if start > end:
            raise LakehouseError(f"{table}: empty day range {start}..{end}")
        outside = df.filter(~pl.col(PARTITION_COLUMN).is_between(start, end) | pl.col(PARTITION_COLUMN).is_null())
        if outside.height:
            bad = sorted({str(d) for d in outside[PARTITION_COLUMN].to_list()})[:5]
            raise LakehouseError(f"{table}: rows for days outside {start}..{end}: {bad}")
        null_typed = [c for c, t in df.schema.items() if t == pl.Null]
        if null_typed:
            df = df.with_columns(pl.col(c).cast(pl.String) for c in null_typed)
        predicate = (
            f"{PARTITION_COLUMN} = '{start.isoformat()}'"
            if start == end
            else f"{PARTITION_COLUMN} >= '{start.isoformat()}' AND {PARTITION_COLUMN} <= '{end.isoformat()}'"
        )
        df.write_delta(
            self.table_uri(table),
            mode="overwrite",
            storage_options=self.storage_options() or None,
            delta_write_options={
                "partition_by": [PARTITION_COLUMN],
                "predicate": predicate,
                "schema_mode": "merge",
            },
        )
        dt = self.delta_table(table)
        return {"table_uri": self.table_uri(table), "version": dt.version() if dt else None, "rows": df.height}

    def append_rows(self, table: str, df: pl.DataFrame, *, attempts: int = 8) -> dict:
        """Add ``df`` to ``table`` in one blind-append Delta commit (partitioned by day).

        Appends never rewrite existing files, so two writers appending at once both keep every row:
        the loser of a commit race re-reads the log and commits at the next version. A conflict that
        still surfaces (e.g. both creating the table, or a concurrent schema change) is retried up to
        ``attempts`` times with a short random pause; nothing is ever overwritten."""
        import random
        import time

        from deltalake.exceptions import CommitFailedError

        if PARTITION_COLUMN not in df.columns or df.schema[PARTITION_COLUMN] != pl.Date:
            raise LakehouseError(f"{table}: append needs a pl.Date {PARTITION_COLUMN} column")
        if df.is_empty():
            return {"table_uri": self.table_uri(table), "version": None, "rows": 0}
        null_typed = [c for c, t in df.schema.items() if t == pl.Null]
        if null_typed:
            df = df.with_columns(pl.col(c).cast(pl.String) for c in null_typed)
        for attempt in range(1, attempts + 1):
            try:
                df.write_delta(
                    self.table_uri(table),
                    mode="append",
                    storage_options=self.storage_options() or None,
                    delta_write_options={"partition_by": [PARTITION_COLUMN], "schema_mode": "merge"},
                )
                break
            except CommitFailedError as exc:
                if attempt >= attempts:
                    raise LakehouseError(f"{table}: append failed after {attempts} attempts: {exc}") from exc
                log.warning("%s: append conflicted (%s); retrying", table, str(exc).splitlines()[0])
                time.sleep(random.uniform(0.05, 0.25) * attempt)
        dt = self.delta_table(table)
        return {"table_uri": self.table_uri(table), "version": dt.version() if dt else None, "rows": df.height}

    # ------------------------------------------------------------------ reads

    def scan_days(self, table: str, start: date, end: date) -> pl.LazyFrame | None:
        """Lazy scan of days ``start..end``: the partition filter prunes files before any read."""
        if not self.exists(table):
            return None
        return pl.scan_delta(self.table_uri(table), storage_options=self.storage_options() or None).filter(
            pl.col(PARTITION_COLUMN).is_between(start, end)
        )

    def read_days(
        self, table: str, start: date, end: date, columns: list[str] | None = None
    ) -> pl.DataFrame:
        """Rows of days ``start..end`` (inclusive); an empty frame when the table does not exist."""
        lf = self.scan_days(table, start, end)
        if lf is None:
            return pl.DataFrame()
        if columns:
            available = lf.collect_schema().names()
            lf = lf.select([c for c in columns if c in available])
        return lf.collect()

    def days_present(self, table: str, start: date, end: date) -> set[date]:
        """Days in ``start..end`` that have at least one row."""
        lf = self.scan_days(table, start, end)
        if lf is None:
            return set()
        return set(lf.select(PARTITION_COLUMN).unique().collect()[PARTITION_COLUMN].to_list())


def window_days(window: dg.TimeWindow | tuple[datetime, datetime]) -> tuple[date, date]:
    """A Dagster time window [start, end) → inclusive (first day, last day)."""
    start, end = (window.start, window.end) if isinstance(window, dg.TimeWindow) else window
    return start.date(), (end - timedelta(days=1)).date()


class DeltaIOManager(dg.ConfigurableIOManager):
    """Stores each asset as a Delta table named after its key; partitioned assets write only the
    days of their partition window; unpartitioned assets replace the whole table."""

    lakehouse: Lakehouse

    def _table(self, context: dg.InputContext | dg.OutputContext) -> str:
        return "/".join(context.asset_key.path)

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | None) -> None:
        if obj is None:
            return
        if not isinstance(obj, pl.DataFrame):
            raise LakehouseError(f"{context.asset_key.to_user_string()}: expected a polars DataFrame, got {type(obj)}")
        table = self._table(context)
        if context.has_asset_partitions:
            start, end = window_days(context.asset_partitions_time_window)
            info = self.lakehouse.write_days(table, obj, start, end)
        else:
            info = self._write_unpartitioned(table, obj)
        context.add_output_metadata(
            {
                "table_uri": dg.MetadataValue.path(info["table_uri"]),
                "delta_version": info["version"],
                "dagster/row_count": info["rows"],
            }
        )

    def _write_unpartitioned(self, table: str, df: pl.DataFrame) -> dict:
        uri = self.lakehouse.table_uri(table)
        df.write_delta(
            uri,
            mode="overwrite",
            storage_options=self.lakehouse.storage_options() or None,
            delta_write_options={"schema_mode": "overwrite"},
        )
        dt = self.lakehouse.delta_table(table)
        return {"table_uri": uri, "version": dt.version() if dt else None, "rows": df.height}

    def load_input(self, context: dg.InputContext) -> pl.DataFrame | pl.LazyFrame:
        """Eager frame of the input's days; a lazy scan when the input is annotated ``pl.LazyFrame``
        (wide windows: the asset then selects only the columns and days it needs)."""
        table = self._table(context)
        lazy = context.dagster_type.typing_type is pl.LazyFrame
        if context.has_asset_partitions:
            start, end = window_days(context.asset_partitions_time_window)
            if lazy:
                scan = self.lakehouse.scan_days(table, start, end)
                return scan if scan is not None else pl.LazyFrame()
            return self.lakehouse.read_days(table, start, end)
        if not self.lakehouse.exists(table):
            return pl.DataFrame()
        return pl.read_delta(self.lakehouse.table_uri(table), storage_options=self.lakehouse.storage_options() or None)
