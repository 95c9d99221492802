"""What one read of a configuration tree may cost, for nginx's reader and httpd's alike.

A config is input anyone with a pull request can write, and a few small files
can ask for unbounded work: files that each include a directory twice (60
files of 36 bytes took 70 s and 1.9 GB), an IncludeOptional fan-out over 40
files (over 90 s), a Define that doubles itself (gigabytes). The servers
themselves do not survive most of these (nginx -t crashes on the first, httpd
stops at its include depth or needs gigabytes for the last), so a verdict is
not lost by stopping: past a budget the reader stops expanding, says so once
as a parse error (SSL001), and the run goes on with what it read.

Each budget grows with what the tree really holds, so that the largest real
trees (the 5,000-site benchmark) stay far below every limit: what is counted
is the work the files ask for beyond reading each of them once.
"""

from __future__ import annotations

from dataclasses import dataclass

# Statements produced while expanding includes (and Apache's `Use`): this many plus a hundred
# times the statements the files hold.
EXPANDED_STATEMENTS = 50_000
EXPANDED_TIMES = 100
# Files an include reaches, each time it does (repeats and include cycles count): this many plus
# ten times the statements the files hold. A tree reaches each of its files once or a few times.
INCLUDE_TARGETS = 10_000
TARGETS_TIMES = 10
# Directory entries read to expand wildcards and directories, each time (a glob over a directory
# of 100,000 files, written 1,000 times, would be 10^8 entries).
DIRECTORY_ENTRIES = 1_000_000
# Bytes of configuration read in all (each file at most MAX_CONFIG_BYTES, discover/sysroot.py).
CONFIG_BYTES = 256 * 1024 * 1024


@dataclass
class ReadBudget:
    """The work spent so far on one read of a tree; `stopped` holds the first budget that ran out."""

    statements_in_files: int = 0  # statements of every file read, once each
    expanded: int = 0
    targets: int = 0
    entries: int = 0
    bytes_read: int = 0
    stopped: str | None = None

    def _over(self, message: str) -> bool:
        if self.stopped is None:
            self.stopped = message
        return True

    def expand(self, statements: int) -> bool:
        """Count statements produced by an expansion; False once past the budget."""
        self.expanded += statements
        limit = EXPANDED_STATEMENTS + EXPANDED_TIMES * self.statements_in_files
        if self.expanded <= limit:
            return True
        return not self._over(f"expand to more than {limit:,} statements (files or macros used over and over)")

    def reach(self, targets: int) -> bool:
        """Count files an include reaches; False once past the budget."""
        self.targets += targets
        limit = INCLUDE_TARGETS + TARGETS_TIMES * self.statements_in_files
        if self.targets <= limit:
            return True
        return not self._over(f"reach files more than {limit:,} times (files included over and over, "
                              "or including each other)")

    def list_entries(self, entries: int) -> bool:
        """Count directory entries read for a wildcard or a directory; False once past the budget."""
        self.entries += entries
        if self.entries <= DIRECTORY_ENTRIES:
            return True
        return not self._over(f"read more than {DIRECTORY_ENTRIES:,} directory entries to expand wildcards")

    def read(self, size: int) -> bool:
        """Count bytes of a file about to be read; False (and nothing read) once past the budget."""
        if self.bytes_read + size > CONFIG_BYTES:
            return not self._over(f"name more than {CONFIG_BYTES // (1024 * 1024)} MiB of configuration files")
        self.bytes_read += size
        return True
