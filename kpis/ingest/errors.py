"""What a rejected batch reports: one RowError per problem (file, row, column, reason)."""

from __future__ import annotations

from dataclasses import dataclass

MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class RowError:
    """One problem in one file: where it is and what is wrong."""

    file: str
    row: int | None  # 1-based data row (the header is not counted); None for the whole file
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.reason}"


class IngestError(Exception):
    """A batch was rejected; nothing was written. ``errors`` lists what was wrong."""

    def __init__(self, errors: list[RowError], total: int | None = None):
        self.errors = errors
        self.total = total if total is not None else len(errors)
        super().__init__(self._message())

    def _message(self) -> str:
        lines = [f"rejected: {self.total} problem(s); nothing was written"]
        lines += [f"  {e}" for e in self.errors[:MAX_REPORTED_ERRORS]]
        if self.total > MAX_REPORTED_ERRORS:
            lines.append(f"  ... and {self.total - MAX_REPORTED_ERRORS} more")
        return "\n".join(lines)
