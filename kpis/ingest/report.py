"""What happened to one file of a batch, and its one-line summary."""

from __future__ import annotations

from dataclasses import dataclass, field

from kpis.ingest.errors import RowError


@dataclass
class FileReport:
    """What happened to one file of a batch."""

    file: str
    kind: str | None
    status: str  # loaded | skipped
    rows_read: int = 0
    inserted: int = 0  # rows written (for a keyed table, ids it did not hold before)
    updated: int = 0  # earlier rows replaced by a new version: the same id, or the same cost / prediction line
    rejected: int = 0
    removed: int = 0  # earlier rows of the replaced unit that this export no longer lists
    mode: str = "replace"  # replace | append (costs, predictions, models) | by id (keyed tables)
    message: str = ""
    errors: list[RowError] = field(default_factory=list)
    mapping: str | None = None  # the preset or mapping file that read it; None for canonical columns
    notes: list[str] = field(default_factory=list)  # what the mapping dropped, defaulted, netted
    source_rows: int | None = None  # rows (lines, records) in the file, before a mapping dropped or netted any
    dropped: dict = field(default_factory=dict)  # why rows were dropped: {reason: {"rows": n, "seen": {value: n}}}
    defaulted: dict = field(default_factory=dict)  # {canonical column: rows that got the mapping's default}
    warnings: list[str] = field(default_factory=list)  # a mapping's warn_if findings (what may mean wrong)
    hint: str = ""  # what to do when every row was dropped

    @property
    def replaced(self) -> int:
        """Earlier rows replaced by a new version (the ``updated`` count, named as the summary names it)."""
        return self.updated

    @property
    def loaded(self) -> int:
        """Rows of this file written: by id, the new ids and those replacing earlier rows; otherwise every row
        written is in ``inserted`` (``updated`` then counts the earlier rows of the restated unit they replaced,
        which are not this file's: a restated month of costs read 2 rows and said 4 loaded)."""
        return self.inserted + self.updated if self.mode == "by id" else self.inserted

    @property
    def summary(self) -> str:
        """The file in one line: what read it, rows read, loaded, dropped per reason, defaulted columns."""
        if self.status == "skipped":
            return f"{self.file}: skipped, {self.message}"
        how = f"preset {self.mapping}" if self.mapping else "canonical columns"
        read = self.source_rows if self.source_rows is not None else self.rows_read
        n_dropped = sum(d["rows"] for d in self.dropped.values())
        parts = [f"{read:,} row(s) read", f"{self.loaded:,} loaded"]
        if self.source_rows is not None and self.rows_read and self.rows_read != read - n_dropped:
            parts[-1] += f" (the {read - n_dropped:,} kept netted per day or superseded by a later version)"
        if n_dropped:
            parts.append(f"{n_dropped:,} dropped: " + "; ".join(_reason_text(r, d) for r, d in self.dropped.items()))
        if self.rejected:
            parts.append(f"{self.rejected:,} quarantined")
        if self.defaulted:
            parts.append("defaulted: " + ", ".join(f"{c} on {n:,}" for c, n in self.defaulted.items()))
        return f"{self.file} ({how}): " + ", ".join(parts)


def _reason_text(reason: str, d: dict) -> str:
    seen = d.get("seen") or {}
    shown = ", ".join(f"{v!r} {n:,}" for v, n in sorted(seen.items(), key=lambda kv: -kv[1])[:8])
    more = f", and {len(seen) - 8} more" if len(seen) > 8 else ""
    return f"{reason} ({d['rows']:,} row(s)" + (f"; seen: {shown}{more}" if shown else "") + ")"
