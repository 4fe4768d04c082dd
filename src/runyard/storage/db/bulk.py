"""Loading many rows at once (benchmarks, tests, imports): Core ``insert()`` compiled once for the
dialect and sent with the driver's ``executemany``, batch by batch, each value through its column's own
bind processor (the conversions an ORM insert makes), constants converted once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Engine, Table, insert

BATCH = 10_000


def insert_rows(engine: Engine, table: Table, constant: Mapping[str, Any], rows: Iterable[Mapping[str, Any]], *,
                batch: int = BATCH, progress: Callable[[int], None] | None = None) -> int:
    """Insert one row per item of ``rows`` (the columns that vary) on top of ``constant`` (those that do
    not); every column of ``table`` must be given by one or the other. One transaction per batch;
    ``progress`` gets the number of rows inserted so far after each. Returns that number."""
    dialect = engine.dialect
    names = [c.name for c in table.columns]
    compiled = insert(table).compile(dialect=dialect, column_keys=names)
    processors = {c.name: c.type._cached_bind_processor(dialect) for c in table.columns}

    def bound(name: str, value: Any) -> Any:
        process = processors[name]
        return process(value) if process is not None and value is not None else value

    fixed = {name: bound(name, value) for name, value in constant.items() if name in processors}
    order = list(compiled.positiontup) if compiled.positional else None
    sql = str(compiled)
    done = 0
    pending: list[Any] = []

    def flush() -> None:
        nonlocal done, pending
        with engine.begin() as conn:
            conn.exec_driver_sql(sql, pending)  # type: ignore[arg-type]
        done += len(pending)
        pending = []
        if progress is not None:
            progress(done)

    for row in rows:
        values = dict(fixed)
        for name, value in row.items():
            values[name] = bound(name, value)
        if order is not None:
            try:
                pending.append(tuple(values[k] for k in order))
            except KeyError as exc:
                raise ValueError(f"no value for the column {exc.args[0]!r} of {table.name}") from None
        else:
            absent = [n for n in names if n not in values]
            if absent:
                raise ValueError(f"no value for the columns {absent} of {table.name}")
            pending.append(values)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return done
