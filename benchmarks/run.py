"""Time sslint against crossplane.parse alone and `nginx -t`, on the same generated tree, in one run.

    python benchmarks/run.py [--blocks 5000 --files 500 --certs 1000 --runs 5 --server nginx|apache] [--growth]

Each tool runs as its own process, several times (in rounds, one run of each tool
per round, so that a busy spell of the machine slows all of them alike); the
script prints the median
wall time, the ratio to crossplane.parse (Apache: to sslint's own parser alone)
and to `nginx -t`, and each tool's peak memory (max RSS of its largest process).
`sslint` runs as configured (a second process on a machine with two cores);
`sslint, one process` forces SSLINT_JOBS=1; `--against DIR` adds another
checkout of sslint (before/after numbers). `--growth` also times sslint on a
tree ten times as large and prints the ratio. sslint's bytecode is compiled
first, as pip does on install (this machine sets PYTHONDONTWRITEBYTECODE, which
would otherwise make every run compile nginxssl/ anew). Not part of the test
suite: tests assert behaviour, never time.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_tree import generate  # noqa: E402

_MEASURE = (
    "import resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "elapsed = time.perf_counter() - start\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(elapsed, peak, done.returncode)\n"
)


def measure(command: list[str]) -> tuple[float, int, int]:
    """(seconds, peak RSS in KiB, exit code) of one run of `command` in a fresh process."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, check=True)
    seconds, peak, code = out.stdout.split()
    return float(seconds), int(peak), int(code)


def interleaved(commands: dict[str, list[str]], runs: int) -> dict[str, dict]:
    """Each tool once per round, `runs` rounds: a machine busy with something else for a
    while slows every tool alike, instead of whichever ran in that stretch."""
    samples: dict[str, list] = {name: [] for name in commands}
    for _round in range(runs):
        for name, command in commands.items():
            samples[name].append(measure(command))
    return {name: summarize(found) for name, found in samples.items()}


def summarize(samples: list[tuple[float, int, int]]) -> dict:
    return {
        "median_s": statistics.median(sample[0] for sample in samples),
        "min_s": min(sample[0] for sample in samples),
        "peak_mib": max(sample[1] for sample in samples) / 1024,
        "exit": samples[-1][2],
    }


def tools(tree: Path, main: Path, server: str, against: str | None = None) -> dict[str, list[str]]:
    sslint = shutil.which("sslint") or str(Path(sys.executable).with_name("sslint"))
    found = {"sslint": [sslint, str(tree), "--format", "json"],
             "sslint, one process": ["env", "SSLINT_JOBS=1", sslint, str(tree), "--format", "json"]}
    if against:  # another checkout of sslint (an older commit), imported before anything else
        found["sslint --against"] = [
            sys.executable, "-c", f"import sys; sys.path.insert(0, {str(against)!r}); "
            "from nginxssl.cli import main; main()", str(tree), "--format", "json"]
    if server == "nginx":
        found["crossplane.parse"] = [sys.executable, "-c", f"import crossplane; crossplane.parse({str(main)!r})"]
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if nginx:
            found["nginx -t"] = [nginx, "-t", "-q", "-p", f"{tree}/", "-c", str(main)]
    else:
        found["sslint parser alone"] = [
            sys.executable, "-c", f"from nginxssl.parse.apache.reader import parse_apache; parse_apache({str(main)!r})"]
    found["sslint --version"] = [sslint, "--version"]
    return found


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def bench(args: argparse.Namespace, blocks: int, files: int, certs: int) -> tuple[str, dict]:
    with tempfile.TemporaryDirectory(prefix="sslint-bench-") as scratch:
        tree = Path(scratch) / args.server
        main_config = generate(tree, blocks, files, certs, args.server)
        results = interleaved(tools(tree, main_config, args.server, args.against), args.runs)
    header = (f"{args.server}: {blocks} blocks / {files} files / {certs} certificates; "
              f"{args.runs} runs; {machine()}; {date.today()}")
    return header, results


def show(header: str, results: dict) -> None:
    baseline = results.get("crossplane.parse") or results.get("sslint parser alone")
    print(header)
    print(f"{'tool':<22}{'median s':>10}{'min s':>9}{'peak MiB':>10}{'× parse':>9}{'× nginx -t':>12}  exit")
    for name, result in results.items():
        ratio = result["median_s"] / baseline["median_s"] if baseline else float("nan")
        nginx = results.get("nginx -t")
        versus = f"{result['median_s'] / nginx['median_s']:.2f}" if nginx else "-"
        print(f"{name:<22}{result['median_s']:>10.3f}{result['min_s']:>9.3f}{result['peak_mib']:>10.1f}"
              f"{ratio:>9.2f}{versus:>12}  {result['exit']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=5000)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--certs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--server", choices=("nginx", "apache"), default="nginx")
    parser.add_argument("--growth", action="store_true", help="also time a tree ten times as large")
    parser.add_argument("--against", metavar="DIR", help="also time the sslint checked out in DIR "
                        "(e.g. `git archive OLD | tar -x -C DIR`), for before/after numbers")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    for checkout in (HERE.parent, *([Path(args.against)] if args.against else [])):
        compileall.compile_dir(str(checkout / "nginxssl"), quiet=1)

    runs = [bench(args, args.blocks, args.files, args.certs)]
    if args.growth:
        runs.append(bench(args, args.blocks * 10, args.files * 10, args.certs * 10))
    if args.json:
        print(json.dumps([{"tree": header, "results": results} for header, results in runs], indent=2))
        return
    for header, results in runs:
        show(header, results)
        print()
    if args.growth:
        small, large = (results["sslint"]["median_s"] for _header, results in runs)
        print(f"growth: sslint on {args.blocks * 10} blocks takes {large / small:.2f}× its time on {args.blocks}")


if __name__ == "__main__":
    main()
