"""`sslint` and `python -m nginxssl`: `sslint --version` is answered before anything else is
imported (typer and the command line cost some 50 ms; the interpreter itself about 12 ms);
everything else goes to nginxssl.cli."""

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from nginxssl import __version__

        sys.stdout.write(f"sslint {__version__}\n")
        sys.stdout.flush()
        raise SystemExit(0)
    from nginxssl.cli import main as command_line

    command_line()


if __name__ == "__main__":
    main()
