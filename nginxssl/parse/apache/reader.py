"""Apache httpd configuration trees -> Config: sslint's own reader of apache2.conf / httpd.conf.

This module owns what httpd does with the statements of its files while it
*reads* its configuration, before any module acts on it: which files it reads
(`ServerRoot`, `Include`/`IncludeOptional` with globs and directories, each
file lexed once however often it is included, loops and the include depth),
the read-time conditionals, spliced away so that later stages see the
effective configuration (`<IfModule>` follows LoadModule, `<IfDefine>` the
Defines; `<IfVersion>`, `<IfFile>`, `<IfDirective>` and `<IfSection>` cannot
be known from the files and keep their content), mod_macro's `Use`, which is
expanded in place (the `<Macro>` template itself is not configuration), and
the Nodes built from what remains. Runtime conditionals (`<If>`, `<ElseIf>`,
`<Else>`) stay as nodes. The text of each file is lexer.py's (lines,
comments, sections, words); variables, Defines and `-D` flags are envvars.py's.

Every node names the file it was read from: the path as included (a Debian
sites-enabled/ link keeps its name), or under `--root` the resolved on-disk
path, so a later stage can open it without re-rooting symlinks itself.

Each behaviour follows httpd 2.4 (server/config.c, server/util.c, core.c) as
checked against a real `apache2 -t`; where httpd would refuse to start, a
ParseError carries its message. Nothing here ever raises for user input.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
import sys
from dataclasses import dataclass, field

from nginxssl.discover import APACHE_MAINS
from nginxssl.discover.sysroot import describe, read_text, resolve_links, to_disk
from nginxssl.model.node import Comment, Config, Node, ParseError
from nginxssl.parse.apache.envvars import MAX_EXPANDED, Envvars, ExpansionTooLong, Variables, envvars_beside
from nginxssl.parse.apache.lexer import Item, Source, lex, split_words, token
from nginxssl.parse.budget import ReadBudget

MAX_INCLUDE_DEPTH = 128  # httpd's own AP_MAX_INCLUDE_DEPTH


# Modules compiled into Debian's apache2 (`apache2 -l`): they answer <IfModule>
# without any LoadModule.
_STATIC_MODULES = frozenset(
    {
        "core.c", "core_module",
        "mod_so.c", "so_module",
        "mod_watchdog.c", "watchdog_module",
        "http_core.c", "http_module",
        "mod_log_config.c", "log_config_module",
        "mod_logio.c", "logio_module",
        "mod_version.c", "version_module",
        "mod_unixd.c", "unixd_module",
    }
)

# Sections httpd evaluates while reading: their active content is spliced into
# the parent, their inactive content dropped.
_READ_TIME_CONDITIONALS = frozenset({"ifmodule", "ifdefine", "ifversion", "iffile", "ifdirective", "ifsection"})

# No httpd directive has a name outside this shape; anything else (a path left
# where a symlink should be, a byte-order mark) makes httpd stop with "Invalid command".
_DIRECTIVE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_SSLINT_TEMPORARY = re.compile(r"\.sslint-.*\.tmp\Z", re.DOTALL)  # fix/apply.py's TEMP_PREFIX, TEMP_SUFFIX


# --------------------------------------------------------------------------- files


def _has_wildcard(component: str) -> bool:
    """apr_fnmatch_test: `*`, `?`, or a `[` closed later by `]`."""
    if "*" in component or "?" in component:
        return True
    opening = component.find("[")
    return opening != -1 and "]" in component[opening + 1 :]


def _matches(pattern: str, name: str) -> bool:
    # APR_FNM_PERIOD: a leading dot must be matched by a literal dot.
    if name.startswith(".") and not pattern.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, pattern)


def _within(path: str, directory: str) -> bool:
    real_path, real_directory = os.path.realpath(path), os.path.realpath(directory)
    return os.path.commonpath([real_path, real_directory]) == real_directory


def _byte_order(name: str) -> bytes:
    return os.fsencode(name)  # httpd sorts with strcmp


def module_names(identifier: str, filename: str = "") -> set[str]:
    """Every name `<IfModule>` accepts for a module: `ssl_module` and `mod_ssl.c`."""
    names = {identifier}
    if identifier.endswith("_module"):
        names.add(f"mod_{identifier[: -len('_module')]}.c")
    base = os.path.basename(filename)
    if base.startswith("mod_") and base.endswith(".so"):
        names.add(base[: -len(".so")] + ".c")
    return names


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class _Macro:
    """A mod_macro `<Macro name $param ...>` body, kept raw until a `Use`."""

    name: str
    params: tuple[str, ...]
    items: list[Item]
    file: str
    line: int


def _expand_macro(items: list[Item], values: dict[str, str]) -> list[Item]:
    """The body with every parameter replaced textually, as mod_macro does.

    Longer names are replaced first so `$domain` is not read as `$d` + `omain`;
    a parameter spelled with `@` is replaced by its value in double quotes.
    """
    pattern = re.compile("|".join(re.escape(name) for name in sorted(values, key=len, reverse=True)))

    def replace(text: str) -> str:
        return pattern.sub(lambda match: values[match.group(0)], text) if values else text

    return [
        Item(
            item.line,
            replace(item.text),
            None if item.children is None else _expand_macro(item.children, values),
            item.key,
            item.name,
        )
        for item in items
    ]


@dataclass
class _Pass:
    """What httpd knows at a given moment of reading: it changes line by line."""

    server_root: str
    variables: Variables
    modules: set[str] = field(default_factory=set)
    load_modules: int = 0
    files: list[str] = field(default_factory=list)
    reached: set[str] = field(default_factory=set)
    errors: list[ParseError] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)  # real paths being read
    macros: dict[str, _Macro] = field(default_factory=dict)
    expanding: list[str] = field(default_factory=list)  # macros being expanded
    budget: ReadBudget = field(default_factory=ReadBudget)  # parse/budget.py
    stopped: bool = False  # a budget ran out (and was reported)
    ended: set[str] = field(default_factory=set)  # files being read that an invalid line ended
    loops: set[str] = field(default_factory=set)  # real paths whose include loop is reported
    expansions: dict[tuple[str, str, bool], tuple[list[str], list[str]]] = field(default_factory=dict)


class _Reader:
    def __init__(
        self,
        main: str,
        *,
        root: str | None,
        fragment: bool,
        defines: tuple[str, ...],
        server_root: str | None,
        environment: dict[str, str],
        assume_modules: bool,
    ) -> None:
        self.main = main
        self.root = root
        self.fragment = fragment
        self.initial_defines = set(defines)
        self.server_root_override = server_root
        self.environment = environment
        self.assume_modules = assume_modules
        self.sources: dict[str, Source | OSError] = {}
        self.statements = 0  # in the files read
        # Every question put to the file system besides the files read (Config.consulted), in both passes.
        self.consulted: dict[tuple[str, str], None] = {}
        self.state = self._fresh()

    def _fresh(self) -> _Pass:
        start = self.server_root_override or os.path.dirname(self.main) or "."
        return _Pass(server_root=start, variables=Variables(self.environment, set(self.initial_defines)))

    # one complete read of the tree

    def run(self) -> list[Node]:
        self.state = self._fresh()
        self.state.budget.statements_in_files = self.statements  # files already lexed by an earlier pass
        return self._file(self.main, None)

    def _source(self, path: str, real: str) -> Source | OSError:
        if real in self.sources:
            return self.sources[real]
        try:
            if not self.state.budget.read(os.stat(path).st_size):
                return OSError(errno.EFBIG, "past what sslint reads of configuration files in all")
            source = lex(path, read_text(path))
        except OSError as error:
            self.sources[real] = error
            self.consulted[("file", path)] = None  # readable later, it is read
            return error
        self.sources[real] = source
        pending = [source.items]
        while pending:
            items = pending.pop()
            self.statements += len(items)
            self.state.budget.statements_in_files = self.statements
            pending.extend(item.children for item in items if item.children)
        return source

    def _file(self, path: str, site: tuple[str, int] | None) -> list[Node]:
        state = self.state
        real = os.path.realpath(path)
        if real in state.stack:
            if real in state.loops:
                return []  # reported once: a fan-out of files including each other meets it again and again
            state.loops.add(real)
            chain = " -> ".join(os.path.basename(p) for p in state.stack[state.stack.index(real) :] + [real])
            self._error(
                site,
                path,
                f"Include of {path} loops back on itself ({chain}); "
                f"httpd stops with 'Exceeded maximum include depth of {MAX_INCLUDE_DEPTH}'",
            )
            return []
        if len(state.stack) >= MAX_INCLUDE_DEPTH:
            message = f"Exceeded maximum include depth of {MAX_INCLUDE_DEPTH}, There appears to be a recursion."
            self._error(site, path, message)
            return []
        source = self._source(path, real)
        if isinstance(source, OSError):
            self._error(site, path, f"Could not open configuration file {path}: {describe(source)}")
            return []
        if real not in state.reached:
            state.reached.add(real)
            state.files.append(source.path)
            state.errors.extend(source.errors)
            state.comments.extend(source.comments)
        state.stack.append(real)
        try:
            return self._items(source.items, source.path)
        finally:
            state.stack.pop()
            state.ended.discard(source.path)  # the next Include of it reads it again, up to that line

    def _error(self, site: tuple[str, int] | None, path: str, message: str) -> None:
        file, line = site if site else (path, 1)
        self.state.errors.append(ParseError(file, line, message))

    def _over_budget(self, file: str, line: int, within: bool = True) -> bool:
        """Whether reading must stop here (`within` False: a budget just ran out); reported once."""
        state = self.state
        if within and state.budget.stopped is None:
            return False
        if not state.stopped:
            state.stopped = True
            state.errors.append(ParseError(file, line, f"Include and Use {state.budget.stopped}; sslint stops "
                                           "expanding them here"))
        return True

    def _end_file(self, file: str, line: int, message: str) -> None:
        """httpd stops at a file's first invalid line: nothing after it is read, nor quoted."""
        self.state.errors.append(ParseError(file, line, message))
        self.state.ended.add(file)

    def _items(self, items: list[Item], file: str) -> list[Node]:
        out: list[Node] = []
        state = self.state
        self._over_budget(file, items[0].line if items else 1, within=state.budget.expand(len(items)))
        for item in items:
            if file in state.ended:
                break
            try:
                words = split_words(state.variables.substitute(item.text))
            except ExpansionTooLong as error:
                self._end_file(file, item.line, f"${{{token(error.args[0])}}} and the other variables of this line "
                               f"expand to more than {MAX_EXPANDED:,} characters (a Define built from itself "
                               "over and over: httpd needs gigabytes for it); sslint stops reading the file here")
                break
            if item.children is None:
                if words:
                    out.extend(self._directive(words, file, item.line))
                continue
            name = words[0].lower() if words else item.key
            args = tuple(words[1:])
            if name in _READ_TIME_CONDITIONALS:
                if self._active(name, words[0] if words else item.name, args, file, item.line):
                    out.extend(self._items(item.children, file))
                continue
            if name == "macro":
                self._define_macro(args, item, file)  # a template, not configuration
                continue
            out.append(Node(name, args, file, item.line, tuple(self._items(item.children, file))))
        return out

    def _directive(self, words: list[str], file: str, line: int) -> list[Node]:
        state = self.state
        written = words[0]
        name = written.lower()
        args = tuple(words[1:])
        if not _DIRECTIVE_NAME.match(written):
            # The command is quoted as a short token (lexer.token): the line may be a password hash.
            if written.startswith("\ufeff"):
                quoted = f"'{token(written[1:])}' after a UTF-8 byte-order mark (save the file without one)"
            else:
                quoted = f"'{token(written)}'"
            self._end_file(file, line, f"Invalid command {quoted}, perhaps misspelled or defined by a module "
                           "not included in the server configuration")
            return []
        if name in ("include", "includeoptional"):
            if len(args) != 1:
                message = f"{written} takes one argument, Name of the config file to be included"
                state.errors.append(ParseError(file, line, message))
                return []
            return self._include(args[0], name == "includeoptional", file, line)
        if name == "define" and args:
            problem = state.variables.define(args)
            if problem:
                state.errors.append(ParseError(file, line, problem))
        elif name == "undefine" and args:
            state.variables.undefine(args[0])
        elif name == "loadmodule" and args:
            state.load_modules += 1
            state.modules |= module_names(args[0], args[1] if len(args) > 1 else "")
        elif name == "serverroot" and args:
            self._set_server_root(args[0], file, line)
        elif name == "use":
            return self._use(args, file, line)
        elif name == "undefmacro" and args:
            if state.macros.pop(args[0].lower(), None) is None:
                message = f"cannot remove undefined macro '{token(args[0].lower())}'"
                state.errors.append(ParseError(file, line, message))
        return [Node(name, args, file, line)]

    # mod_macro

    def _define_macro(self, args: tuple[str, ...], item: Item, file: str) -> None:
        state = self.state
        if not self.assume_modules and not {"macro_module", "mod_macro.c"} & state.modules:
            state.errors.append(
                ParseError(file, item.line, "Invalid command '<Macro', perhaps misspelled or defined by a module "
                           "not included in the server configuration")
            )
        if not args:
            state.errors.append(ParseError(file, item.line, "<Macro> directive requires additional arguments"))
            return
        name = args[0].lower()
        state.macros[name] = _Macro(name, args[1:], item.children or [], file, item.line)

    def _use(self, args: tuple[str, ...], file: str, line: int) -> list[Node]:
        """The nodes of a macro's body with the values of this `Use` (the `Use` itself is replaced)."""
        state = self.state
        if self._over_budget(file, line):
            return []
        if not args:
            state.errors.append(ParseError(file, line, "Use takes at least one argument"))
            return []
        name = args[0].lower()
        macro = state.macros.get(name)
        if macro is None:
            message = f"macro '{token(name)}' undefined" if state.macros else "no macro defined before Use"
            state.errors.append(ParseError(file, line, message))
            return []
        values = args[1:]
        defined_at = f"(defined on line {macro.line} of \"{macro.file}\")"
        if len(values) != len(macro.params):
            state.errors.append(
                ParseError(file, line, f"macro '{name}' {defined_at} used with {len(values)} arguments "
                           f"instead of {len(macro.params)}")
            )
            return []
        if name in state.expanding:
            state.errors.append(ParseError(file, line, f"recursive use of macro '{name}' {defined_at} is invalid"))
            return []
        substitutions = {
            param: f'"{value}"' if param.startswith("@") else value for param, value in zip(macro.params, values)
        }
        state.expanding.append(name)
        try:
            # The nodes point at the macro's body, where an edit would go.
            return self._items(_expand_macro(macro.items, substitutions), macro.file)
        finally:
            state.expanding.pop()

    def _set_server_root(self, written: str, file: str, line: int) -> None:
        if self.server_root_override or self.fragment:
            return  # the caller said where the tree lives; a fragment's is its directory
        state = self.state
        try:
            candidate = to_disk(written, state.server_root, self.root)
        except OSError as error:
            state.errors.append(ParseError(file, line, f"ServerRoot {written}: {describe(error)}"))
            return
        if self.root is not None or not os.path.isabs(written):
            state.server_root = candidate
            return
        # Without --root, an absolute ServerRoot is only trusted when the main
        # file lies under it. Otherwise the tree was copied away from where it
        # runs (a config repo, a test corpus): the copy's own directory named
        # like the ServerRoot stands in for it, else the main file's directory.
        # Never the host's directory of that name: a repo lints the same everywhere.
        main_dir = os.path.dirname(os.path.abspath(self.main))
        if _within(main_dir, candidate):
            state.server_root = candidate
            return
        wanted = os.path.basename(candidate.rstrip("/"))
        ancestor = main_dir
        while wanted:
            if os.path.basename(ancestor) == wanted:
                state.server_root = ancestor
                return
            parent = os.path.dirname(ancestor)
            if parent == ancestor:
                break
            ancestor = parent

    # conditionals

    def _active(self, name: str, written: str, args: tuple[str, ...], file: str, line: int) -> bool:
        if name in ("ifversion", "ifdirective", "ifsection") or (name == "iffile" and self.fragment):
            return True  # not knowable from the files alone: keep the content
        if not args:
            self.state.errors.append(ParseError(file, line, f"<{written}> directive requires additional arguments"))
            return True
        negated = args[0].startswith("!")
        subject = args[0][1:] if negated else args[0]
        if name == "iffile":
            # httpd tests the file at start-up, a relative path under ServerRoot (as `apache2 -t`
            # shows: an Include inside <IfFile /absent> is skipped, <IfFile !/absent> is taken).
            subject = subject.strip('"')
            tested = self._on_disk(to_disk(subject, self.state.server_root, self.root))
            self.consulted[("kind", tested)] = None
            present = os.path.exists(tested)
        elif name == "ifdefine":
            # a lone file cannot know its -D flags: keep the positive branch
            present = self.state.variables.defined(subject, flags_unknown=self.fragment)
        elif self.assume_modules:
            present = True  # every module counts as loaded
        else:
            present = subject in self.state.modules or subject in _STATIC_MODULES
        return present != negated

    # includes

    def _include(self, pattern: str, optional: bool, file: str, line: int) -> list[Node]:
        state = self.state
        if self._over_budget(file, line):
            return []
        if self.fragment:
            optional = True  # a lone file's includes live on a system we cannot see
        # Expanded once per pass for a given ServerRoot: the files do not change meanwhile, and a
        # tree that includes one directory a thousand times should not list it a thousand times.
        key = (pattern, state.server_root, optional)
        if key not in state.expansions:
            problems: list[str] = []
            state.expansions[key] = (self._expand(pattern, optional, problems), problems)
        targets, problems = state.expansions[key]
        for problem in problems:
            state.errors.append(ParseError(file, line, problem))
        if self._over_budget(file, line, within=state.budget.reach(len(targets))):
            return []
        nodes: list[Node] = []
        for target in targets:
            nodes.extend(self._file(target, (file, line)))
        return nodes

    def _expand(self, pattern: str, optional: bool, problems: list[str]) -> list[str]:
        parts = pattern.split("\x00", 1)[0].split("/")  # a NUL ends the C string httpd opens
        first_wild = next((index for index, part in enumerate(parts) if _has_wildcard(part)), None)
        try:
            if first_wild is None:
                return self._plain(to_disk(pattern, self.state.server_root, self.root), optional, problems, 0)
            fixed = "/".join(parts[:first_wild]) or ("/" if pattern.startswith("/") else ".")
            base = to_disk(fixed, self.state.server_root, self.root)
        except OSError as error:
            problems.append(f"Could not open configuration file {pattern}: {describe(error)}")
            return []
        return self._glob(base, [part for part in parts[first_wild:] if part], optional, problems, 0)

    def _on_disk(self, path: str) -> str:
        return resolve_links(path, self.root) if self.root is not None else path

    def _glob(self, directory: str, rest: list[str], optional: bool, problems: list[str], depth: int) -> list[str]:
        component, rest = rest[0], rest[1:]
        if not _has_wildcard(component):
            path = self._on_disk(os.path.join(directory, component))
            if rest:
                self.consulted[("kind", path)] = None
                return self._glob(path, rest, optional, problems, depth)
            return self._plain(path, optional, problems, depth)
        self.consulted[("listing", directory)] = None
        try:
            entries = os.listdir(directory)
            self.state.budget.list_entries(len(entries))
        except OSError as error:
            if not optional:
                problems.append(f"Include/IncludeOptional: Could not open directory {directory}: {describe(error)}")
            return []
        names = sorted((name for name in entries if _matches(component, name)), key=_byte_order)
        if rest:
            self.consulted.update((("kind", os.path.join(directory, name)), None) for name in names)
            names = [name for name in names if os.path.isdir(os.path.join(directory, name))]
        if not names:
            if not optional:
                problems.append(
                    f"Include/IncludeOptional: No matches for the wildcard '{component}' in '{directory}', failing"
                )
            return []
        found: list[str] = []
        for name in names:
            path = self._on_disk(os.path.join(directory, name))
            if rest:
                found.extend(self._glob(path, rest, optional, problems, depth))
            else:
                found.extend(self._plain(path, optional, problems, depth))
        return found

    def _plain(
        self, path: str, optional: bool, problems: list[str], depth: int, inside: tuple[str, ...] = ()
    ) -> list[str]:
        """A file is itself; a directory is every entry in it, sorted, recursively (dot files too)."""
        self.consulted[("kind", path)] = None
        try:
            info = os.stat(path)
        except OSError as error:
            if error.errno == errno.ENOENT and optional:
                return []
            problems.append(f"Could not open configuration file {path}: {describe(error)}")
            return []
        if not stat.S_ISDIR(info.st_mode):
            return [path]
        real = os.path.realpath(path)
        if real in inside or depth >= MAX_INCLUDE_DEPTH:
            problems.append(f"Directory {path} contains itself (through a symbolic link); not read again")
            return []
        self.consulted[("listing", path)] = None
        try:
            # Not the temporaries `sslint --fix` writes beside a file before renaming it into place
            # (nginxssl/fix/apply.py): one a killed run left behind is not configuration.
            entries = sorted((name for name in os.listdir(path) if not _SSLINT_TEMPORARY.match(name)), key=_byte_order)
            self.state.budget.list_entries(len(entries))
        except OSError as error:
            problems.append(f"Could not open config directory {path}: {describe(error)}")
            return []
        found: list[str] = []
        for name in entries:
            entry = self._on_disk(os.path.join(path, name))
            found.extend(self._plain(entry, optional, problems, depth + 1, (*inside, real)))
        return found


# --------------------------------------------------------------------------- public API


def parse_apache(
    main: str,
    *,
    root: str | None = None,
    fragment: bool = False,
    defines: tuple[str, ...] = (),
    server_root: str | None = None,
) -> Config:
    """Parse an Apache tree (or a lone site file with `fragment=True`).

    `defines` are the names httpd gets with `-D`; `server_root` (an on-disk
    directory) overrides both the default and any `ServerRoot` directive.
    """
    envvars = Envvars({}) if fragment else envvars_beside(main)
    errors = list(envvars.errors)

    reader = _Reader(
        main,
        root=root,
        fragment=fragment,
        defines=defines,
        server_root=server_root,
        environment=envvars.values,
        assume_modules=fragment,
    )
    try:
        nodes = reader.run()
        if not fragment and reader.state.load_modules == 0:
            # The tree loads no module at all (Debian ships mods-enabled/ empty and
            # fills it at install time): the real server certainly loads some, so
            # read it again as if every module were loaded. Files come from the cache.
            reader.assume_modules = True
            nodes = reader.run()
    except RecursionError:
        nodes = []
        errors.append(ParseError(main, 1, "sections and includes nest too deeply for sslint to read "
                                 f"(more than {sys.getrecursionlimit()} levels)"))
    state = reader.state

    unique_errors = list(dict.fromkeys(errors + state.errors))
    return Config(
        server="apache",
        main=main,
        fragment=fragment,
        prefix=state.server_root,
        nodes=tuple(nodes),
        files=(*state.files, *envvars.files),
        errors=tuple(unique_errors),
        comments=tuple(state.comments),
        root=root,
        variables=state.variables.in_effect(),
        modules=None if reader.assume_modules else frozenset(state.modules | _STATIC_MODULES),
        consulted=(*(("file", path) for path in envvars.consulted), *reader.consulted),
    )


def fragment_server_root(path: str) -> str | None:
    """The ServerRoot a lone site file most likely lives under, or None.

    The nearest ancestor (up to four levels) holding apache2.conf or httpd.conf
    (Debian's /etc/apache2 for sites-available/x.conf), or conf/httpd.conf
    (RHEL's /etc/httpd for conf.d/x.conf): httpd resolves relative Include and
    certificate paths against it, not against the site file's directory.
    """
    probe = os.path.dirname(os.path.abspath(path))
    for _ in range(4):
        if find_apache_main(probe) is not None:
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    return None


def find_apache_main(directory: str) -> str | None:
    """apache2.conf, httpd.conf or conf/httpd.conf in `directory`, if there is one."""
    for name in APACHE_MAINS:
        candidate = os.path.join(directory, name)
        try:
            if stat.S_ISREG(os.stat(candidate).st_mode):
                return candidate
        except OSError:
            continue
    return None


