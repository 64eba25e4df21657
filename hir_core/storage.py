"""Schema-checked, atomic Parquet storage for the tables of a run.

Every table a stage writes goes through :func:`write_table`, every table a stage reads through
:func:`read_table`; both check the file against ``schemas.TABLES``. A file is written under a
temporary name in its final directory, fsynced, then renamed over the target
(:func:`atomic_write`), so a crash leaves either the previous file or the complete new one,
never a partial file under the trusted name. The same helper is meant for the run manifest
(JSON), which will live beside these functions.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from schemas import SCHEMA_VERSION, TABLES

# Keys of the Parquet key-value metadata this module stamps on every file.
VERSION_KEY = b"hir.schema_version"
TABLE_KEY = b"hir.table"

_HASH_CHUNK = 1 << 20

# ``<name>.pruned.json`` beside a removed folder ``<name>/`` lists the sha256 of the files it
# held (hir_core.rundir.prune_subfolder), e.g. a checkpoint's optimizer state.
PRUNED_SUFFIX = ".pruned.json"


class SchemaError(ValueError):
    """A table does not match its schema; the message names the file and the column."""


# errno values of a full disk or an exhausted quota.
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class DiskFullError(OSError):
    """No space left (ENOSPC, EDQUOT) while writing a file through :func:`atomic_write`:
    nothing was published under its name, and a previous version of it is intact."""


# Writers in C++ and Rust report a write that failed for want of space without an errno,
# as a bare RuntimeError or Exception with one of these texts (found by
# benchmarks/disk_full_drill.py on a real full tmpfs): torch.save (DeepSpeed's model and
# optimizer states), Hugging Face tokenizers' save and safetensors (Rust's io::Error).
NATIVE_WRITE_FAILURES = (
    "basic_ios::clear: iostream error",
    "PytorchStreamWriter failed writing",
    "(os error 28)",
    "(os error 122)",
    "StorageFull",
    "QuotaExceeded",
)


def disk_full_cause(exc: BaseException | None) -> BaseException | None:
    """The exception of ``exc``'s chain (itself, what it was raised from or during) that says
    the disk or quota is full: a :class:`DiskFullError` first, else an ENOSPC/EDQUOT
    OSError, else a native writer's failure (NATIVE_WRITE_FAILURES); None when there is
    none."""
    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    tests = (
        lambda e: isinstance(e, DiskFullError),
        lambda e: isinstance(e, OSError) and e.errno in NO_SPACE_ERRNOS,
        lambda e: not isinstance(e, OSError) and any(m in str(e) for m in NATIVE_WRITE_FAILURES),
    )
    for test in tests:
        for candidate in chain:
            if test(candidate):
                return candidate
    return None


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an exception it was raised from, is a full disk or quota."""
    return disk_full_cause(exc) is not None


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (files may be larger than memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for binary writing; publish it only on success.

    On a clean exit the data is flushed and fsynced, the file renamed over ``path`` with
    ``os.replace`` (atomic on POSIX within one filesystem, hence the same directory) and the
    directory fsynced so the rename itself survives a crash. On an exception the temporary
    file is removed and ``path`` is left as it was; a full disk is a :class:`DiskFullError`
    naming ``path``.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        _raise_if_disk_full(err, target)
        raise
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        _raise_if_disk_full(err, target)
        raise
    _fsync_dir(target.parent)


def _raise_if_disk_full(err: BaseException, target: Path) -> None:
    if isinstance(err, DiskFullError) or not is_disk_full(err):
        return
    code = err.errno if isinstance(err, OSError) and err.errno else errno.ENOSPC
    raise DiskFullError(
        code,
        f"{target}: no space left on the device while writing it ({os.strerror(code)}); "
        "nothing was published under this name (a previous version is intact). Free some "
        "space and rerun: the finished stages are kept",
    ) from err


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _schema_of(table: str) -> pa.Schema:
    try:
        return TABLES[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; known tables: {sorted(TABLES)}") from None


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether ``source`` may be cast to ``target`` on write without changing meaning.

    Allowed: representation changes that polars and numpy produce (large_string vs string,
    large_list vs list, int64 vs int32, float64 vs float32, int to float) and all-null
    columns. Not allowed: anything that reinterprets data (string to number, bool to int).
    """
    if source.equals(target) or pa.types.is_null(source):
        return True
    if _is_string(source) and _is_string(target):
        return True
    if pa.types.is_integer(source) and (
        pa.types.is_integer(target) or pa.types.is_floating(target)
    ):
        return True
    if pa.types.is_floating(source) and pa.types.is_floating(target):
        return True
    if _is_list(source) and _is_list(target):
        return _castable(source.value_type, target.value_type)
    if pa.types.is_struct(source) and pa.types.is_struct(target):
        names = [source.field(i).name for i in range(source.num_fields)]
        wanted = [target.field(i).name for i in range(target.num_fields)]
        return names == wanted and all(
            _castable(source.field(i).type, target.field(i).type) for i in range(target.num_fields)
        )
    return False


def _is_string(dtype: pa.DataType) -> bool:
    return pa.types.is_string(dtype) or pa.types.is_large_string(dtype)


def _is_list(dtype: pa.DataType) -> bool:
    return pa.types.is_list(dtype) or pa.types.is_large_list(dtype)


def _null_path(array: pa.Array, field: pa.Field, where: str) -> str | None:
    """Dotted name of the first non-nullable (sub)field holding a null, or None."""
    if not field.nullable and array.null_count:
        return where
    dtype = field.type
    if _is_list(dtype):
        return _null_path(array.flatten(), dtype.value_field, f"{where}[]")
    if pa.types.is_struct(dtype):
        for i in range(dtype.num_fields):
            child = dtype.field(i)
            found = _null_path(array.field(i), child, f"{where}.{child.name}")
            if found:
                return found
    return None


def conform(data: pl.DataFrame | pa.Table, table: str, *, source: str = "<table>") -> pa.Table:
    """Return ``data`` as a pyarrow Table with exactly the schema of ``table``.

    Columns are selected and ordered as in the schema; extra columns, missing columns,
    incompatible types and nulls in non-nullable fields raise :class:`SchemaError` naming
    ``source`` and the column.
    """
    schema = _schema_of(table)
    arrow = data.to_arrow() if isinstance(data, pl.DataFrame) else data
    extra = sorted(set(arrow.column_names) - set(schema.names))
    if extra:
        raise SchemaError(f"{source}: columns {extra} are not in the {table!r} schema")
    columns = []
    for field in schema:
        if field.name not in arrow.column_names:
            raise SchemaError(f"{source}: column {field.name!r} of table {table!r} is missing")
        column = arrow.column(field.name)
        if not _castable(column.type, field.type):
            raise SchemaError(
                f"{source}: column {field.name!r} has type {column.type}, expected {field.type}"
            )
        # Checked before the cast: a cast to an identical type checks nothing.
        bad = _null_path(column.combine_chunks(), field, field.name)
        if bad:
            raise SchemaError(f"{source}: column {bad!r} holds nulls but is not nullable")
        try:
            column = column.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise SchemaError(f"{source}: column {field.name!r} cannot be cast: {err}") from err
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def write_table(data: pl.DataFrame | pa.Table, path: str | os.PathLike, table: str) -> str:
    """Validate ``data`` against the schema of ``table``, write it atomically, return its sha256.

    The file's Parquet metadata records the schema version and the table name, which
    :func:`read_table` checks.
    """
    arrow = conform(data, table, source=str(path))
    arrow = arrow.replace_schema_metadata(
        {VERSION_KEY: str(SCHEMA_VERSION).encode(), TABLE_KEY: table.encode()}
    )
    with atomic_write(path) as handle:
        pq.write_table(arrow, handle)
    return file_sha256(path)


def read_table(path: str | os.PathLike, table: str) -> pl.DataFrame:
    """Read a Parquet file written by :func:`write_table`, checking it against its schema.

    Raises :class:`SchemaError` naming the file (and the column where one is at fault) when
    the file is unreadable, records another table or schema version, lacks a column, or
    holds a column of another type. Extra columns are ignored.
    """
    schema = _schema_of(table)
    try:
        found = pq.read_schema(path)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError) as err:
        raise SchemaError(f"{path}: not a readable Parquet file: {err}") from err
    _check_metadata(found, table, path)
    for field in schema:
        index = found.get_field_index(field.name)
        if index < 0:
            raise SchemaError(f"{path}: column {field.name!r} of table {table!r} is missing")
        actual = found.field(index).type
        if not actual.equals(field.type):
            raise SchemaError(
                f"{path}: column {field.name!r} has type {actual}, expected {field.type}"
            )
    try:
        arrow = pq.read_table(path, columns=schema.names)
    except (pa.ArrowException, OSError) as err:
        raise SchemaError(f"{path}: not a readable Parquet file: {err}") from err
    return pl.from_arrow(arrow)


def _check_metadata(found: pa.Schema, table: str, path: str | os.PathLike) -> None:
    metadata = found.metadata or {}
    version = metadata.get(VERSION_KEY)
    if version is None:
        raise SchemaError(
            f"{path}: no {VERSION_KEY.decode()} in the Parquet metadata: not written by hir storage"
        )
    if version != str(SCHEMA_VERSION).encode():
        raise SchemaError(
            f"{path}: schema version {version.decode()}, this code reads version {SCHEMA_VERSION}"
        )
    recorded = metadata.get(TABLE_KEY, b"").decode()
    if recorded != table:
        raise SchemaError(f"{path}: holds table {recorded!r}, expected {table!r}")
