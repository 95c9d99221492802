"""SSL009: a `# sslint: disable=` comment that suppresses nothing."""

from __future__ import annotations

from typing import Iterator

from nginxssl.checks import Inputs, check
from nginxssl.model.finding import Finding


@check("SSL009", needs={"unused_suppressions"})
def unused_suppression(inputs: Inputs) -> Iterator[Finding]:
    # The engine runs this after every other check, with the suppressions that silenced nothing.
    for suppression in inputs.unused_suppressions:
        where = "in this file" if suppression.whole_file else "on this line or the next"
        yield Finding(
            "SSL009", suppression.file, suppression.line,
            f"`{suppression.text}` suppresses nothing: no {', '.join(suppression.rules)} finding {where}; "
            "remove it so it does not hide a future problem",
            server=inputs.config.server)
