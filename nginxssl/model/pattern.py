"""The regular expressions a configuration holds, run on a linear-time engine.

nginx matches `server_name ~regex` and `map` keys `~regex` / `~*regex` with
PCRE; httpd its `=~` expressions the same way. Anyone who can write a config
(a pull request to a config repository) chooses these patterns, and a
backtracking engine lets a pattern such as `^(a+)+$` take time that doubles
with each character of the subject: Python's `re` took 0.67 s for a
24-character host name, and twice that for each more character. So sslint
never runs a config's regex on a backtracking engine: it runs it on RE2
(google-re2), whose time is linear in the subject and whose memory is
bounded (`max_mem`) whatever the pattern.

RE2 reads the PCRE syntax configs use, after one rewrite: PCRE's named
groups `(?<name>...)` and `(?'name'...)` become `(?P<name>...)`. What RE2
cannot express (backreferences `\\1`, lookaround `(?=` `(?!` `(?<=` `(?<!`,
atomic groups, possessive quantifiers) is not run anywhere: `search` answers
None, "cannot judge", and `problem` says why, for a message at info level.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

# PCRE's spellings of a named group that RE2 may not read, with an even number of
# backslashes before the parenthesis (an escaped `\(` is a literal, not a group).
_PCRE_NAMED_GROUP = re.compile(r"(?<!\\)((?:\\\\)*)\(\?(?:<([A-Za-z_][A-Za-z0-9_]*)>|'([A-Za-z_][A-Za-z0-9_]*)')")
# RE2's budget for one compiled pattern; past it compiling fails ("pattern too large"), never the run.
_MAX_MEMORY = 8 << 20


def _engine() -> Any:
    """google-re2, imported by the first config regex: loading it took 2 ms of every run, most of which
    meet none."""
    import re2

    return re2


def _options(ignore_case: bool) -> re2.Options:
    options = _engine().Options()
    options.case_sensitive = not ignore_case
    options.log_errors = False  # RE2 would write every refused pattern to stderr
    options.max_mem = _MAX_MEMORY
    return options


@dataclass(frozen=True)
class ConfigRegex:
    """One regex as a config wrote it (without nginx's `~` / `~*` prefix), ready to search."""

    written: str
    ignore_case: bool = False
    problem: str | None = field(default=None, init=False, compare=False)
    _compiled: object = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rewritten = _PCRE_NAMED_GROUP.sub(lambda match: f"{match[1]}(?P<{match[2] or match[3]}>", self.written)
        re2 = _engine()
        try:
            compiled = re2.compile(rewritten, _options(self.ignore_case))
        except re2.error as error:
            reason = error.args[0].decode("utf-8", "replace") if error.args and isinstance(error.args[0], bytes) \
                else str(error)
            object.__setattr__(self, "problem", f"RE2, the linear-time engine sslint runs config regexes on, "
                                                f"cannot read it ({reason})")
            return
        except UnicodeError:
            object.__setattr__(self, "problem", "it holds bytes that are not UTF-8")
            return
        object.__setattr__(self, "_compiled", compiled)

    @classmethod
    def from_nginx(cls, key: str) -> ConfigRegex:
        """An nginx `~regex` (case-sensitive) or `~*regex` (case-insensitive) as written in the config."""
        if key.startswith("~*"):
            return cls(key[2:], ignore_case=True)
        return cls(key.removeprefix("~"))

    @classmethod
    def from_server_name(cls, name: str) -> ConfigRegex:
        """An nginx `server_name ~regex` as ngx_http_core_server_name compiles it: caseless when the
        pattern holds a capital letter, else as written (nginx matches the lowercased host either way;
        judged with the real nginx in tests/test_routing.py)."""
        body = name.removeprefix("~")
        return cls(body, ignore_case=any("A" <= char <= "Z" for char in body))

    def search(self, subject: str) -> bool | None:
        """Whether the regex matches anywhere in `subject`; None when sslint cannot judge (see `problem`)."""
        if self._compiled is None:
            return None
        try:
            return self._compiled.search(subject) is not None  # type: ignore[attr-defined]
        except UnicodeError:
            return None  # a subject with bytes that are not UTF-8 (surrogate escapes)
