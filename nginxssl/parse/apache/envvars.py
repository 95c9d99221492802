"""What httpd knows of variables while it reads: Debian's envvars, `Define`, `${VAR}`, `-D` flags.

This module owns the names and values a configuration may refer to:

- Debian's /etc/apache2/envvars, a shell file apache2ctl sources before
  starting httpd (`export APACHE_LOG_DIR=...`): its plain assignments are read,
  nothing is executed;
- `Define NAME [VALUE]` and `UnDefine NAME`, which change, line by line, what
  `<IfDefine>` answers and what `${NAME}` stands for;
- `${VAR}` substitution in a statement's text, before it is split into words
  (httpd keeps an unknown `${VAR}` literally, with a warning);
- the `-D NAME` flags a distribution's service passes to httpd (Gentoo's
  /etc/conf.d/apache2, RHEL's /etc/sysconfig/httpd).

The variables of the process running sslint are never consulted: a tree lints
the same on every machine. reader.py decides when a Define is reached and
what an `<IfDefine>` encloses.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from nginxssl.discover.sysroot import describe, read_text
from nginxssl.model.node import ParseError

_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True, slots=True)
class Envvars:
    """What the envvars file beside the main config exports, the file if one was read, and why not."""

    values: dict[str, str]
    files: tuple[str, ...] = ()
    errors: tuple[ParseError, ...] = ()
    consulted: tuple[str, ...] = ()  # the file looked for, whether or not it was there


def envvars_beside(main: str) -> Envvars:
    """Debian's envvars in the main config's directory (apache2ctl sources it before httpd starts)."""
    path = os.path.join(os.path.dirname(main) or ".", "envvars")
    if not os.path.lexists(path):
        return Envvars({}, consulted=(path,))
    try:
        return Envvars(read_envvars(read_text(path)), (path,), consulted=(path,))
    except OSError as error:
        return Envvars({}, (), (ParseError(path, 1, f"cannot read {path}: {describe(error)}"),), (path,))


def read_envvars(text: str) -> dict[str, str]:
    """Simple `export NAME=value` assignments of a Debian envvars shell file.

    Nothing is executed: `$NAME` and `${NAME}` expand from earlier exports
    (unknown names expand to nothing, as in the shell); values containing
    command substitution are skipped.
    """
    values: dict[str, str] = {}
    for raw in text.split("\n"):
        match = re.match(r"\s*export\s+([A-Za-z_][A-Za-z0-9_]*)=(.*)", raw)
        if not match:
            continue
        value = _shell_value(match.group(2), values)
        if value is not None:
            values[match.group(1)] = value
    return values


# What a backslash escapes inside "..." (POSIX); unquoted it escapes any character, inside '...' none.
_DOUBLE_QUOTED_ESCAPES = frozenset('"\\$`')


def _shell_value(text: str, known: dict[str, str]) -> str | None:
    out = []
    index = 0
    quote = ""

    def expand(at: int) -> int:
        braced = re.match(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", text[at:])
        if not braced:
            out.append("$")
            return at + 1
        out.append(known.get(braced.group(1) or braced.group(2), ""))
        return at + braced.end()

    while index < len(text):
        char = text[index]
        if (char == "`" or text.startswith("$(", index)) and quote != "'":
            return None
        if quote == "'":
            if char == "'":
                quote = ""
            else:
                out.append(char)
            index += 1
            continue
        # Unquoted or inside "...": the same but for where the word ends and what a backslash escapes.
        if not quote and (char.isspace() or char in ";&|"):
            break  # (a `#` inside a word, `A=a#b`, is the shell's `#` too: a comment only starts a word)
        following = text[index + 1 : index + 2]
        if char == '"' or (char == "'" and not quote):
            quote = "" if quote else char
            index += 1
        elif char == "\\" and following and (not quote or following in _DOUBLE_QUOTED_ESCAPES):
            out.append(following)
            index += 2
        elif char == "$":
            index = expand(index)
        else:
            out.append(char)
            index += 1
    return "".join(out)


# The longest text a line may grow to by `${NAME}` substitution. httpd has no such limit: a Define
# built from itself (`Define A ${A}${A}`, 24 times over) took it 3.3 s and 1.5 GB, 26 times over more
# than 30 s and 4.9 GB (apache2 -t, measured); no real line comes near a mebibyte.
MAX_EXPANDED = 1024 * 1024


class ExpansionTooLong(ValueError):
    """A line whose `${NAME}` substitutions grow past MAX_EXPANDED characters."""


@dataclass
class Variables:
    """The names defined and the values known at a given line of reading: Define and UnDefine
    change them as httpd reaches each one, so a reader keeps one per pass over the tree."""

    environment: dict[str, str]  # the envvars file's exports, fixed before reading starts
    defines: set[str]  # `-D` flags, then every Define reached
    values: dict[str, str] = field(default_factory=dict)  # `Define NAME VALUE`
    undefined: set[str] = field(default_factory=set)  # names an UnDefine removed

    def define(self, args: tuple[str, ...]) -> str | None:
        """`Define NAME [VALUE]` (at least a NAME); httpd's complaint about extra arguments, if any
        (it defines the name all the same)."""
        name = args[0]
        self.defines.add(name)
        self.undefined.discard(name)
        if len(args) >= 2:
            self.values[name] = args[1]
        return "Define takes one or two arguments" if len(args) > 2 else None

    def undefine(self, name: str) -> None:
        self.defines.discard(name)
        self.values.pop(name, None)
        self.undefined.add(name)

    def defined(self, name: str, *, flags_unknown: bool) -> bool:
        """Whether `<IfDefine name>` holds. With `flags_unknown` (a lone file: nobody can know the
        `-D` flags its server gets) every name counts as defined unless an UnDefine removed it."""
        if name in self.defines:
            return True
        return flags_unknown and name not in self.undefined

    def substitute(self, text: str) -> str:
        """`${NAME}` replaced by a Define's value, else the envvars export; an unknown one stays.
        Raises ExpansionTooLong rather than build a line longer than MAX_EXPANDED."""
        if "${" not in text:
            return text
        grown = [len(text)]

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in self.values:
                found = self.values[name]
            elif name in self.environment:
                found = self.environment[name]
            else:
                return match.group(0)  # httpd warns and keeps it literally
            grown[0] += len(found)
            if grown[0] > MAX_EXPANDED:
                raise ExpansionTooLong(name)
            return found

        return _VARIABLE.sub(value, text)

    def in_effect(self) -> dict[str, str]:
        """Every value a `${NAME}` could take at this point of reading."""
        return {**self.environment, **self.values}


# Where distributions keep the `-D NAME` flags their service passes to httpd,
# relative to the main config's directory, and the variable that holds them.
_SERVICE_FLAGS = (
    (os.path.join("..", "conf.d", "apache2"), "APACHE2_OPTS"),  # Gentoo: /etc/conf.d/apache2
    (os.path.join("..", "..", "sysconfig", "httpd"), "OPTIONS"),  # RHEL/CentOS: /etc/sysconfig/httpd
)
_DEFINE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def service_flag_files(main: str) -> tuple[str, ...]:
    """Every file service_defines may read for `main`, whether or not it is there (what a cached
    result of the tree watches: one that appears may switch an <IfDefine> on)."""
    directory = os.path.dirname(os.path.abspath(main))
    return tuple(os.path.normpath(os.path.join(directory, relative)) for relative, _variable in _SERVICE_FLAGS)


def service_defines(main: str) -> tuple[tuple[str, ...], str | None]:
    """The `-D NAME` flags the distribution's service file gives httpd, and that file.

    Gentoo hides its SSL virtual hosts behind `<IfDefine SSL>`, switched on by
    APACHE2_OPTS in /etc/conf.d/apache2; RHEL reads OPTIONS from
    /etc/sysconfig/httpd. Only plain assignments are read, nothing is
    executed, and only `-D NAME` / `-DNAME` words with a plain name count.
    """
    directory = os.path.dirname(os.path.abspath(main))
    for relative, variable in _SERVICE_FLAGS:
        path = os.path.normpath(os.path.join(directory, relative))
        try:
            text = read_text(path, limit=1024 * 1024)
        except OSError:
            continue
        value = None
        for raw in text.split("\n"):
            match = re.match(rf"\s*(?:export\s+)?{variable}=(.*)", raw)
            if match:
                value = _shell_value(match.group(1), {})  # the last assignment wins, as in the shell
        if value is None:
            continue
        words = value.split()
        names = []
        for index, word in enumerate(words):
            if word == "-D" and index + 1 < len(words):
                name = words[index + 1]
            elif word.startswith("-D") and len(word) > 2:
                name = word[2:]
            else:
                continue
            if _DEFINE_NAME.match(name):
                names.append(name)
        return tuple(dict.fromkeys(names)), path
    return (), None
