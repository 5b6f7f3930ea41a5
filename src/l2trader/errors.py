"""The one exception tree of l2trader.

Normal outcomes (a risk rejection, a repaired row) are results, never exceptions.
Exceptions are for bad input and misuse, and their message names the parameter,
value and location::

    L2TraderError
    ├── ConfigError (ValueError)        invalid or unknown config keys/values
    │   └── BundleError                 a deploy bundle cannot be built, read or verified
    ├── DataError                       bad market data; carries source, line, seq
    │   ├── ParseError                  a row/message that cannot be parsed
    │   ├── InvalidValueError           NaN/negative size, price off the tick grid, bad enum
    │   ├── OutOfOrderError             ts or seq going backwards
    │   ├── DuplicateError              a repeated seq / message
    │   ├── SequenceGapError            missing updates between two messages
    │   ├── CrossedBookError            best bid >= best ask after a LAST record
    │   ├── EmptySideError              a side of the book is empty where it must not be
    │   ├── SnapshotSyncError           no snapshot to synchronise a diff stream with
    ├── CatalogError                    catalog layout, manifest or partition problems
    │   └── PartitionNotFoundError      the requested venue/symbol/date has no data
    ├── BookError                       book kernel misuse (e.g. price range overflow)
    ├── ModelError                      a model used before fit, or a corrupt/mismatched artifact
    │   └── ArtifactError               checksum mismatch or missing features in a model file
    └── AlertDeliveryError              an alert sink could not deliver an alert
"""

from __future__ import annotations

__all__ = [
    "AlertDeliveryError",
    "ArtifactError",
    "BookError",
    "BundleError",
    "CatalogError",
    "ChecksumError",
    "ConfigError",
    "CrossedBookError",
    "DataError",
    "DuplicateError",
    "EmptySideError",
    "InvalidValueError",
    "JournalCorruptError",
    "JournalError",
    "L2TraderError",
    "ModelError",
    "OutOfOrderError",
    "ParseError",
    "PartitionNotFoundError",
    "SequenceGapError",
    "SnapshotSyncError",
]


class L2TraderError(Exception):
    """Base class of every exception raised on purpose by l2trader."""


class ConfigError(L2TraderError, ValueError):
    """A config value or key is invalid; the message names the key and the value."""


class BundleError(ConfigError):
    """A bundle cannot be built, read, verified or extracted; the message says which file."""


class DataError(L2TraderError):
    """Bad market data at a known place.

    Parameters
    ----------
    message
        What is wrong, with the offending value.
    source
        File name or feed URL the data came from.
    line
        1-based line (or record) number in ``source``; -1 if unknown.
    seq
        Venue sequence / update id of the offending message; -1 if unknown.
    """

    code: str = "data_error"

    def __init__(self, message: str, *, source: str = "", line: int = -1, seq: int = -1) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.seq = seq
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.source or "<unknown source>"
        if self.line >= 0:
            where += f":{self.line}"
        if self.seq >= 0:
            where += f" (seq {self.seq})"
        return f"{where}: {self.code}: {self.message}"


class ParseError(DataError):
    """A row or message cannot be parsed."""

    code = "parse_error"


class InvalidValueError(DataError):
    """A parsed value is invalid: NaN or negative size, price off the tick grid, bad enum."""

    code = "invalid_value"


class OutOfOrderError(DataError):
    """A timestamp or sequence number goes backwards."""

    code = "out_of_order"


class DuplicateError(DataError):
    """A sequence number or message is repeated."""

    code = "duplicate"


class SequenceGapError(DataError):
    """Updates are missing between two messages of a sequenced stream."""

    code = "sequence_gap"


class CrossedBookError(DataError):
    """Best bid >= best ask after a LAST record (the book is not consistent)."""

    code = "crossed_book"


class EmptySideError(DataError):
    """A side of the book is empty where the source guarantees it is not."""

    code = "empty_side"


class SnapshotSyncError(DataError):
    """A diff-depth stream cannot be synchronised: no usable snapshot."""

    code = "snapshot_sync"


class ChecksumError(DataError):
    """The book rebuilt from the stream disagrees with the checksum the venue sent with it."""


class CatalogError(L2TraderError):
    """The catalog layout, manifest or a partition is invalid."""


class PartitionNotFoundError(CatalogError, LookupError):
    """No partition matches the requested venue/symbol/date range."""


class BookError(L2TraderError):
    """The book kernel was misused (e.g. a price outside the representable range)."""


class ModelError(L2TraderError):
    """A signal model misused (predict before fit, too few rows to fit, wrong features)."""


class ArtifactError(ModelError):
    """A model artifact whose checksum, format version or feature spec does not match."""


class JournalError(L2TraderError):
    """A paper journal cannot be opened or written (not SQLite, other session, rejected row)."""


class JournalCorruptError(JournalError):
    """A journal breaks an invariant (seq gap, partial commit, duplicated or orphan fill)."""

    def __init__(self, message: str, issues: tuple[str, ...] = ()) -> None:
        self.issues = issues
        super().__init__(message)


class AlertDeliveryError(L2TraderError):
    """A sink could not deliver an alert (after its retries); the message holds no secret."""
