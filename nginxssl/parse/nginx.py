"""nginx configuration files -> Config, through crossplane.

Each file is parsed once on its own (crossplane `single=True`, no context or
argument checks, so new directives such as `http2 on;` or `quic` are accepted
and fragments parse), and includes are expanded here rather than by crossplane:
we resolve them like nginx (relative to the main config's directory, globs
sorted, a missing explicit file is fatal), under a `--root` sysroot when one is
given, with cycle detection. crossplane's `combine=True` is not used: it
mislabels the file of statements after an include. Files in the plain grammar
every ordinary config uses are read by parse/nginx_plain.py instead, which
gives crossplane's statements five times faster (proven identical on the
corpus); everything else, and every error message, is crossplane's.
"""

from __future__ import annotations

import glob
import os
import re
from typing import NotRequired, TypedDict

from nginxssl.discover.sysroot import (
    MAX_CONFIG_BYTES,
    SymlinkLoop,
    read_nonblocking,
    readable_regular_file,
    resolve_links,
    to_disk,
)
from nginxssl.model.node import Comment, Config, Node, ParseError
from nginxssl.parse.budget import ReadBudget
from nginxssl.parse.nginx_plain import parse_plain

# Plain files are read by nginx_plain (five times faster, identical statements; see its docstring),
# the rest by crossplane. SSLINT_NGINX_READER=crossplane sends every file to crossplane.
PLAIN_READER = os.environ.get("SSLINT_NGINX_READER", "") != "crossplane"
_MAIN_CONTEXTS = {"http", "events", "stream", "mail"}
_WHERE = re.compile(r" in \S+:\d+$| in \S+$")


class _Statement(TypedDict):
    """One statement of crossplane's payload (`parsed` of each file), as its README documents it."""

    directive: str  # "#" for a comment
    line: int
    args: list[str]
    block: NotRequired[list[_Statement]]
    comment: NotRequired[str]


class _FileParse:
    __slots__ = ("nodes", "errors", "comments")

    def __init__(self, nodes: tuple[Node, ...], errors: list[ParseError], comments: list[Comment]) -> None:
        self.nodes = nodes
        self.errors = errors
        self.comments = comments


def _to_nodes(statements: list[_Statement], file: str, comments: list[Comment]) -> tuple[Node, ...]:
    nodes = []
    for statement in statements:
        if statement["directive"] == "#":
            comments.append(Comment(file, statement["line"], statement.get("comment", "")))
            continue
        block = statement.get("block")
        nodes.append(
            Node(
                statement["directive"],
                tuple(statement["args"]),
                file,
                statement["line"],
                None if block is None else _to_nodes(block, file, comments),
            )
        )
    return tuple(nodes)


def _parse_one(path: str, words: dict[str, str] | None = None) -> _FileParse:
    problem = readable_regular_file(path)
    if problem:
        return _FileParse((), [ParseError(path, 1, f"cannot read {path}: {problem}")], [])
    try:
        if os.stat(path).st_size == 0:
            # Empty. Kernel interfaces (/proc/kmsg) say 0 too, and a read of them can block forever.
            return _FileParse((), [], [])
    except OSError:
        pass
    if PLAIN_READER:
        try:
            # Not open(): a FIFO swapped in since the stat above would block it forever.
            data = read_nonblocking(path, MAX_CONFIG_BYTES)
        except OSError as error:
            return _FileParse((), [ParseError(path, 1, f"cannot read {path}: {error.strerror or error}")], [])
        plain = parse_plain(data, path, words)
        if plain is not None:
            return _FileParse(plain[0], [], plain[1])
    # Only for files the plain reader declines (most runs never import it). crossplane opens the
    # file itself, a moment after the read above proved it regular.
    import crossplane  # type: ignore[import-untyped]  # crossplane ships no type information (no py.typed)

    try:
        payload = crossplane.parse(
            path, single=True, comments=True, check_ctx=False, check_args=False, catch_errors=True
        )
    except (OSError, UnicodeError, RecursionError) as error:
        return _FileParse((), [ParseError(path, 1, f"cannot parse {path}: {error}")], [])
    comments: list[Comment] = []
    errors: list[ParseError] = []
    nodes: tuple[Node, ...] = ()
    for parsed in payload["config"]:
        nodes = _to_nodes(parsed["parsed"], path, comments)
        for problem in parsed["errors"]:
            message = _WHERE.sub("", str(problem["error"]))
            line = problem.get("line")
            if not message:
                # crossplane's token stream ran dry inside a statement: nginx says it like this
                message = 'unexpected end of file, expecting ";" or "}"'
                line = line or _last_line(path)
            errors.append(ParseError(path, line or 1, message))
    return _FileParse(nodes, errors, comments)


def _last_line(path: str) -> int:
    with open(path, "rb") as handle:
        data = handle.read()
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def find_prefix(path: str) -> str:
    """The directory nginx resolves relative paths against: that of the main nginx.conf.

    For a lone site file, the nearest ancestor that holds an nginx.conf (a site in
    /etc/nginx/sites-available/ resolves `snippets/x.conf` against /etc/nginx), else its own directory.
    """
    directory = os.path.dirname(os.path.abspath(path))
    probe = directory
    for _ in range(4):
        if os.path.isfile(os.path.join(probe, "nginx.conf")):
            return os.path.relpath(probe) if not os.path.isabs(path) else probe
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    return os.path.dirname(path) or "."


def has_main_contexts(nodes: tuple[Node, ...]) -> bool:
    return any(node.directive in _MAIN_CONTEXTS and node.is_block for node in nodes)


def parse_nginx(main: str, *, root: str | None = None, fragment: bool | None = None,
                prefix: str | None = None) -> Config:
    """Parse `main` and everything it includes.

    `fragment=None` decides from the file itself: a file without http/events/
    stream/mail blocks is a fragment (a site file), linted on its own.
    """
    cache: dict[str, _FileParse] = {}
    words: dict[str, str] = {}  # one string per distinct word of the run's files (nginx_plain)
    order: list[str] = []
    errors: list[ParseError] = []
    comments: list[Comment] = []
    budget = ReadBudget()  # parse/budget.py: includes over and over stop with a message, never a hang
    budget_reported: list[bool] = [False]

    def over_budget(node: Node) -> None:
        if not budget_reported[0]:
            budget_reported[0] = True
            errors.append(ParseError(node.file, node.line, f"includes {budget.stopped}; sslint stops "
                                     "expanding includes here"))

    def load(path: str) -> _FileParse:
        parsed = cache.get(path)
        if parsed is None:
            try:
                size = os.stat(path).st_size
            except OSError:
                size = 0  # _parse_one says why
            if not budget.read(size):
                parsed = cache[path] = _FileParse((), [], [])
                return parsed
            parsed = cache[path] = _parse_one(path, words)
            pending = [parsed.nodes]
            while pending:
                block = pending.pop()
                budget.statements_in_files += len(block)
                pending.extend(node.children for node in block if node.children)
            order.append(path)
            errors.extend(parsed.errors)
            comments.extend(parsed.comments)
        return parsed

    top = load(main)
    decide, given_prefix = fragment is None, prefix
    if fragment is None:
        fragment = not has_main_contexts(top.nodes)
    if prefix is None:
        prefix = find_prefix(main) if fragment else (os.path.dirname(main) or ".")

    # What each include pattern names, globbed once per read: the files do not change meanwhile,
    # and a tree that includes one directory a thousand times should not list it a thousand times.
    globbed: dict[str, list[str] | str] = {}

    def include_targets(node: Node) -> list[str]:
        if len(node.args) != 1:
            errors.append(ParseError(node.file, node.line, 'invalid number of arguments in "include" directive'))
            return []
        pattern = node.args[0]
        if pattern not in globbed:
            globbed[pattern] = _targets(pattern)
        found = globbed[pattern]
        if isinstance(found, str):
            errors.append(ParseError(node.file, node.line, found))
            return []
        return found

    def _targets(pattern: str) -> list[str] | str:
        """The files `pattern` names, or the error nginx gives for it."""
        try:
            on_disk = to_disk(pattern, prefix, root)
        except SymlinkLoop as error:
            return str(error)
        if glob.has_magic(on_disk):
            matches = sorted(glob.glob(on_disk))
            budget.list_entries(len(matches))
            if root is not None:  # a sites-enabled link may point at /etc/...: keep it under root
                matches = [resolve_links(match, root) for match in matches]
            return [match for match in matches if not os.path.isdir(match)]
        try:
            os.stat(on_disk)
        except OSError as error:  # nginx's own words: a link loop is ELOOP, not "No such file"
            return f'open() "{on_disk}" failed ({error.strerror or "No such file or directory"})'
        return [on_disk]

    expanded: set[str] = set()  # files whose blocks are already in the tree once
    cycles: set[str] = set()  # files whose include cycle is reported: once each, wherever it recurs

    def expand(nodes: tuple[Node, ...], stack: tuple[str, ...], copy: bool = False) -> tuple[Node, ...]:
        """`nodes` with includes in place. A block with no include below it is kept as parsed,
        unless `copy`: a file included twice gets new blocks the second time, as each place
        it stands is its own (nodes compare by identity)."""
        out: list[Node] = []
        changed = copy
        within = budget.expand(len(nodes))
        for node in nodes:
            if node.directive == "include" and not node.is_block:
                changed = True
                if not within or budget.stopped is not None:
                    over_budget(node)
                    continue
                targets = include_targets(node)
                if not budget.reach(len(targets)):
                    over_budget(node)
                    continue
                for target in targets:
                    if target in stack:
                        if target not in cycles:
                            cycles.add(target)
                            errors.append(ParseError(node.file, node.line,
                                                     f"include cycle: {target} includes itself"))
                        continue
                    again = copy or target in expanded
                    expanded.add(target)
                    out.extend(expand(load(target).nodes, stack + (target,), again))
            elif node.children:
                children = expand(node.children, stack, copy)
                if children is not node.children or copy:
                    changed = True
                    node = Node(node.directive, node.args, node.file, node.line, children)
                out.append(node)
            else:
                out.append(node)
        return tuple(out) if changed else nodes

    expanded.add(main)
    nodes = expand(top.nodes, (main,))
    if decide and fragment and has_main_contexts(nodes):
        # A one-line wrapper (`include /config/nginx/nginx.conf;`, as SWAG's image ships) is a main
        # file: what decides is the tree after its includes, read again with a main file's prefix.
        return parse_nginx(main, root=root, fragment=False, prefix=given_prefix)
    return Config(
        server="nginx",
        main=main,
        fragment=fragment,
        prefix=prefix,
        nodes=nodes,
        files=tuple(order),
        errors=tuple(errors),
        comments=tuple(comments),
        root=root,
    )
