"""The fullchain fix SSL201-SSL204 share: serve the leaf, then each issuer, no root, nothing else.

The decision is made here, from the diagnosis alone: a certificate directive must
serve another chain when anything is missing, misordered, extra or the root
(`needs_fix`), and the chain it must serve is the one the diagnosis completed --
the leaf the configured key belongs to, then its issuers as pki/analyse found them
(the file itself, siblings, ssl_trusted_certificate, --intermediates, the trust
store, AIA with --fetch); for a bundle whose key is a CA's (badssl's reversed
chain), a real leaf's chain, whichever has its own key beside it (`wanted_chains`).

Where and how that chain is written -- a new `<stem>.fullchain.pem`, an existing
sibling reused, the Apache chain file deleted, the key directive repointed -- or
why it cannot be, is planned by nginxssl/fix/fullchain.py before the checks run
(a message names the file the fix writes), and handed in as Inputs.chain_fixes.
Every finding about one directive, whichever of the four rules reports it,
carries that one planned fix (the fixer applies each edit once).
"""

from __future__ import annotations

from nginxssl.checks import Inputs
from nginxssl.checks.served import Served
from nginxssl.model.edits import ChainFix
from nginxssl.model.finding import Fix
from nginxssl.pki.analyse import ServedChain, served_key
from nginxssl.pki.chain import ChainReport

REFUSED = "sslint --fix cannot do this"
_NOT_SERVED = ChainFix(Fix("this certificate is not served by any TLS site", (), True))


def needs_fix(report: ChainReport) -> bool:
    """Any of SSL201-SSL204 can fire: something is missing, misordered, extra or the root."""
    return bool(report.missing or report.unresolved_issuer or not report.order_ok or report.extras
                or report.root_sent)


def wanted_chains(chain: ServedChain) -> tuple[ChainReport, ...]:
    """The chain the directive must serve: the diagnosed one, completed and ordered; when the
    configured key is a CA's, each real leaf's chain (the fix serves the one whose key it finds)."""
    report = chain.report
    if report.leaf_is_ca and report.key_matches_index is not None:
        return chain.real_leaf_chains
    return (report,)


def item_key(item: Served) -> tuple:
    """What names one directive's fix in Inputs.chain_fixes."""
    node = item.pair.cert.node
    return (node.file, node.line, served_key(item.pair))


def planned(inputs: Inputs, item: Served) -> ChainFix:
    """The fix planned for `item`'s directive, with the files the plan found beside it."""
    return inputs.chain_fixes.get(item_key(item)) or _NOT_SERVED


def chain_fix(inputs: Inputs, item: Served) -> Fix:
    """The fix every SSL201-SSL204 finding about `item` carries (edits, or a refusal that says why)."""
    return planned(inputs, item).fix


def fix_text(fix: Fix) -> str:
    """How a finding's message ends: what --fix does, or why it cannot."""
    if fix.edits:
        return f"`sslint --fix` will {fix.description}"
    return f"{REFUSED}: {fix.description}"
