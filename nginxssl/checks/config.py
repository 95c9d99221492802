"""SSL001: what the server itself refuses to start on, found while reading the config."""

from __future__ import annotations

from typing import Iterator

from nginxssl.checks import Inputs, check
from nginxssl.model.finding import Finding


@check("SSL001", needs=())
def config_syntax(inputs: Inputs) -> Iterator[Finding]:
    server = inputs.wording
    for error in inputs.config.errors:
        yield Finding("SSL001", error.file, error.line,
                      f"{server} will refuse to start: {error.message}", server=inputs.config.server)
    for site in inputs.sites:
        for node, message in site.errors:
            yield Finding.at("SSL001", node, f"{server} will refuse to start: {message}", site)
