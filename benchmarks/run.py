"""Time sslint against crossplane.parse alone and `nginx -t`, on the same generated trees, in one run.

    python benchmarks/run.py [--blocks 5000 --files 500 --certs 1000 --runs 9 --server nginx|apache]
                             [--growth] [--against DIR] [--json]

Every tool runs as its own process, `--runs` rounds, one run of each tool per round (a busy
spell of the machine slows every tool of that round alike: compare ratios, not seconds).
The rows, each with its median and minimum wall time, peak memory (max RSS of its largest
process), and its ratio to the row it is measured against:

  sslint cold              an empty cache directory (the run fills it)    / crossplane.parse
  sslint, one process      the same with SSLINT_JOBS=1                      / crossplane.parse
  sslint warm              the cache the cold run left, nothing changed     / crossplane.parse
  sslint, one file changed that cache, one site file edited (a root path)   / crossplane.parse
  crossplane.parse         the parser alone (Apache: sslint's own parser)
  nginx -t                 the judged server reading the same tree
  25 sites, cold / warm    a 25-site tree                                   / import cryptography.x509
  sslint --version         start-up alone                                   / python -c pass

Every sslint run is pinned at gen_tree.NOW and trusts the tree's root (--ca-file), so the
chains verify and the verifier does its whole work. `--growth` also times a tree ten times
as large (cold) and prints the growth. `--against DIR` adds another checkout of sslint, cold
and with --no-cache (before/after numbers). sslint's bytecode is compiled first, as pip does
on install (this machine sets PYTHONDONTWRITEBYTECODE, which would otherwise make every run
compile nginxssl/ anew). Not part of the test suite: tests assert behaviour, never time.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_tree import NOW, generate  # noqa: E402

_MEASURE = (
    "import resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "elapsed = time.perf_counter() - start\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(elapsed, peak, done.returncode)\n"
)


@dataclass
class Tool:
    command: list[str]
    against: str | None = None  # the row its ratio is to
    before: Callable[[int], None] | None = None  # run before each measurement (the round's number)
    samples: list[tuple[float, int, int]] = field(default_factory=list)


def measure(command: list[str]) -> tuple[float, int, int]:
    """(seconds, peak RSS in KiB, exit code) of one run of `command` in a fresh process."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, check=True)
    seconds, peak, code = out.stdout.split()
    return float(seconds), int(peak), int(code)


def interleaved(tools: dict[str, Tool], runs: int) -> None:
    """Each tool once per round, `runs` rounds: a machine busy with something else for a
    while slows every tool alike, instead of whichever ran in that stretch."""
    for number in range(runs):
        for tool in tools.values():
            if tool.before is not None:
                tool.before(number)
            tool.samples.append(measure(tool.command))


def summary(tool: Tool) -> dict:
    return {
        "median_s": statistics.median(sample[0] for sample in tool.samples),
        "min_s": min(sample[0] for sample in tool.samples),
        "peak_mib": max(sample[1] for sample in tool.samples) / 1024,
        "exit": tool.samples[-1][2],
        "against": tool.against,
    }


def _sslint() -> str:
    return shutil.which("sslint", path=str(Path(sys.executable).parent)) or shutil.which("sslint") or "sslint"


def tools(scratch: Path, tree: Path, main: Path, small: Path, server: str, against: str | None) -> dict[str, Tool]:
    sslint = _sslint()
    pinned = ["--now", NOW, "--format", "json"]
    cache = scratch / "cache"

    def lint(path: Path, *extra: str) -> list[str]:
        return [sslint, str(path), "--ca-file", str(path / "ssl" / "root.pem"), *pinned, *extra]

    def empty(_round: int) -> None:
        shutil.rmtree(cache, ignore_errors=True)

    site_file = sorted((tree / "sites-enabled").iterdir())[len(list((tree / "sites-enabled").iterdir())) // 2]

    def change(round_number: int) -> None:  # a real edit: the document root of the file's first site
        text = site_file.read_text()
        site_file.write_text(re.sub(r"(/srv/[\w.]+?)(-r\d+)?([;\n])", rf"\1-r{round_number}\3", text, count=1))

    parser = "crossplane.parse" if server == "nginx" else "sslint parser alone"
    found = {
        "sslint cold": Tool(lint(tree, "--cache-dir", str(cache)), parser, empty),
        "sslint, one process": Tool(["env", "SSLINT_JOBS=1", *lint(tree, "--cache-dir", str(scratch / "cache1"))],
                                    parser, lambda _round: shutil.rmtree(scratch / "cache1", ignore_errors=True)),
        "sslint warm": Tool(lint(tree, "--cache-dir", str(cache)), parser),
        "sslint, 1 file changed": Tool(lint(tree, "--cache-dir", str(cache)), parser, change),
    }
    if against:  # another checkout of sslint (an older commit), imported before anything else
        found["sslint --against"] = Tool([
            sys.executable, "-c", f"import sys; sys.path.insert(0, {str(against)!r}); "
            "from nginxssl.cli import main; main()", *lint(tree)[1:]], parser)
    if server == "nginx":
        found[parser] = Tool([sys.executable, "-c", f"import crossplane; crossplane.parse({str(main)!r})"])
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if nginx:
            found["nginx -t"] = Tool([nginx, "-t", "-q", "-p", f"{tree}/", "-c", str(main)], parser)
    else:
        found[parser] = Tool([
            sys.executable, "-c", f"from nginxssl.parse.apache.reader import parse_apache; parse_apache({str(main)!r})"])
    small_cache = scratch / "cache-small"
    found["25 sites, cold"] = Tool(lint(small, "--cache-dir", str(small_cache)), "import cryptography.x509",
                                   lambda _round: shutil.rmtree(small_cache, ignore_errors=True))
    found["25 sites, warm"] = Tool(lint(small, "--cache-dir", str(small_cache)), "import cryptography.x509")
    found["import cryptography.x509"] = Tool([sys.executable, "-c", "import cryptography.x509"])
    found["sslint --version"] = Tool([sslint, "--version"], "python -c pass")
    found["python -c pass"] = Tool([sys.executable, "-c", "pass"])
    return found


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def bench(args: argparse.Namespace) -> tuple[str, dict]:
    with tempfile.TemporaryDirectory(prefix="sslint-bench-") as scratch_name:
        scratch = Path(scratch_name)
        tree = scratch / args.server
        main_config = generate(tree, args.blocks, args.files, args.certs, args.server)
        small = scratch / f"{args.server}-25"
        generate(small, 25, 5, 5, args.server)
        found = tools(scratch, tree, main_config, small, args.server, args.against)
        interleaved(found, args.runs)
        results = {name: summary(tool) for name, tool in found.items()}
    header = (f"{args.server}: {args.blocks} blocks / {args.files} files / {args.certs} certificates; "
              f"{args.runs} rounds; {machine()}; {date.today()}")
    return header, results


def growth(args: argparse.Namespace) -> tuple[str, dict]:
    """sslint cold and the parser on the tree and on one ten times as large, in alternating rounds."""
    with tempfile.TemporaryDirectory(prefix="sslint-growth-") as scratch_name:
        scratch = Path(scratch_name)
        found: dict[str, Tool] = {}
        for scale in (1, 10):
            tree = scratch / f"{args.server}-{scale}"
            main_config = generate(tree, args.blocks * scale, args.files * scale, args.certs * scale, args.server)
            cache = scratch / f"cache-{scale}"
            parser = f"parser, {args.blocks * scale} blocks"
            found[f"sslint cold, {args.blocks * scale} blocks"] = Tool(
                [_sslint(), str(tree), "--ca-file", str(tree / "ssl/root.pem"), "--now", NOW, "--format", "json",
                 "--cache-dir", str(cache)], parser,
                lambda _round, cache=cache: shutil.rmtree(cache, ignore_errors=True))
            found[parser] = Tool(
                [sys.executable, "-c", f"import crossplane; crossplane.parse({str(main_config)!r})"] if args.server == "nginx"
                else [sys.executable, "-c", "from nginxssl.parse.apache.reader import parse_apache; "
                      f"parse_apache({str(main_config)!r})"])
        interleaved(found, max(1, args.runs // 3))
        results = {name: summary(tool) for name, tool in found.items()}
    return f"{args.server} growth: {args.blocks} and {args.blocks * 10} blocks; {max(1, args.runs // 3)} rounds", results


def show(header: str, results: dict) -> None:
    print(header)
    print(f"{'tool':<26}{'median s':>10}{'min s':>9}{'peak MiB':>10}{'ratio':>8}  against{'':<20}exit")
    for name, result in results.items():
        base = results.get(result["against"] or "")
        ratio = f"{result['median_s'] / base['median_s']:.2f}" if base else "-"
        print(f"{name:<26}{result['median_s']:>10.3f}{result['min_s']:>9.3f}{result['peak_mib']:>10.1f}"
              f"{ratio:>8}  {result['against'] or '':<27}{result['exit']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=5000)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--certs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--server", choices=("nginx", "apache"), default="nginx")
    parser.add_argument("--growth", action="store_true", help="also time a tree ten times as large")
    parser.add_argument("--against", metavar="DIR", help="also time the sslint checked out in DIR "
                        "(e.g. `git archive OLD | tar -x -C DIR`), for before/after numbers")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    for checkout in (HERE.parent, *([Path(args.against)] if args.against else [])):
        compileall.compile_dir(str(checkout / "nginxssl"), quiet=1)

    runs = [bench(args)]
    if args.growth:
        runs.append(growth(args))
    if args.json:
        print(json.dumps([{"tree": header, "results": results} for header, results in runs], indent=2))
        return
    for header, results in runs:
        show(header, results)
        print()
    if args.growth:
        results = runs[-1][1]
        small, large = (results[f"sslint cold, {args.blocks * scale} blocks"]["median_s"] for scale in (1, 10))
        print(f"growth: sslint on {args.blocks * 10} blocks takes {large / small:.2f}× its time on {args.blocks}")


if __name__ == "__main__":
    main()
