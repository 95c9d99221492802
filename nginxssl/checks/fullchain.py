"""The fullchain fix SSL201-SSL204 share: serve the leaf, then each issuer, no root, nothing else.

One decision per certificate directive, whichever of the four rules reports
it, so every finding about one file carries the same edits (the fixer applies
each edit once):

* the chain to serve is the load stage's `ServedChain.target` -- the leaf the
  configured key belongs to, then its issuers as the diagnosis found them
  (the file itself, siblings, ssl_trusted_certificate, --intermediates, the
  trust store, AIA with --fetch); for a bundle whose key is a CA's (badssl's
  reversed chain), the real leaf's chain with the key file found beside it;
* it is written as a new `<stem>.fullchain.pem` next to the leaf (another
  free name when that one exists; existing files are never touched), or an
  existing sibling holding exactly that chain (certbot's fullchain.pem) is
  reused; the directive is repointed where it is written, in the config's
  own terms (relative stays relative; under --root, the path the config uses);
* Apache: SSLCertificateChainFile replaces whatever chain the certificate file
  holds (mod_ssl sends its certificates instead), so it is deleted once the
  new file holds the chain;
* refused, with the reason as the fix's description, when the chain cannot
  be completed or does not verify, when the key lives in the certificate file,
  or when a directive, key or chain file is shared with a site that needs
  something else. Every fix promises its chain (ExpectChain), which the fixer
  checks again on the bytes before it writes anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from nginxssl.checks import Inputs
from nginxssl.checks.served import Served, directive_name, served, shown
from nginxssl.model.edits import DeleteLine, ExpectChain, NewFile, replace_args
from nginxssl.model.finding import Fix
from nginxssl.pki.analyse import served_key
from nginxssl.pki.chain import ChainReport, is_ca, is_self_signed, label, name_text
from nginxssl.pki.load import per_certificate
from nginxssl.pki.trust import public_key_der

REFUSED = "sslint --fix cannot do this"


@dataclass(frozen=True)
class _Want:
    """What one directive's fix would do."""

    edits: tuple
    description: str
    leaf: bytes  # DER of the leaf the new chain starts with
    cert_args: tuple[str, ...]
    key_args: tuple[str, ...] | None  # the key directive repointed (reversed chains)
    new_file: NewFile | None
    safe: bool


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _pem(certs: tuple[x509.Certificate, ...]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def needs_fix(report: ChainReport) -> bool:
    """Any of SSL201-SSL204 can fire: something is missing, misordered, extra or the root."""
    return bool(report.missing or report.unresolved_issuer or not report.order_ok or report.extras
                or report.root_sent)


def _in_config_terms(raw: str, path: str) -> str:
    """`path`'s file name in the directory `raw` names (the new file sits beside the old one)."""
    return os.path.join(os.path.dirname(raw), os.path.basename(path))


def _item_key(item: Served) -> tuple:
    node = item.pair.cert.node
    return (node.file, node.line, served_key(item.pair))


def _refusal(reason: str) -> Fix:
    return Fix(reason, (), True)  # no edits: the description says why


def _want(inputs: Inputs, item: Served) -> _Want | str:
    """The fix for one directive, or why there is none (a reason, as the admin reads it)."""
    chain, pair = item.chain, item.pair
    report = chain.report
    directive = directive_name(pair.cert)
    target = chain.target
    if target is None:
        real = next((cert for cert in report.served if not is_ca(cert)), None)
        whose = f"the key of {label(real)}" if real is not None else "the site's own key"
        places = " or ".join(dict.fromkeys(f'"{os.path.dirname(ref.raw) or "."}"' for ref in (pair.key, pair.cert)
                                           if ref is not None))
        return (f"the configured key belongs to the CA {label(report.leaf)}, and no key file in {places} is "
                f"{whose}; point {directive_name(pair.key) if pair.key else 'the key directive'} at it, then run "
                "--fix again")
    if target.unresolved_issuer is not None:
        issuer = target.unresolved_issuer
        fetch = (" (or run with --fetch to download it from the certificate's AIA URL)"
                 if chain.aia_urls and not inputs.settings.fetch else "")
        return (f"the issuer '{_issuer_text(issuer.subject)}' of {label(issuer.subject)} was found nowhere, so "
                f"no complete chain can be written; get it from your CA{fetch}")
    if pair.key is None:
        if item.server == "apache":
            return (f"the private key sits in {shown(pair.cert)} itself and sslint never copies a private key "
                    "into a new file; move it into its own file named by SSLCertificateKeyFile, then run --fix again")
        return "no ssl_certificate_key is configured for this certificate"
    if not pair.key.path:
        return f"the key's path {shown(pair.key)} is only known at handshake time"
    if target.key_matches_index is None:
        return (f"the key ({directive_name(pair.key)} {shown(pair.key)}) belongs to no certificate of the file "
                f"(SSL005): a reordered chain would not start {inputs.wording} either")
    if not target.verified:
        return (f"even completed, the chain of {label(target.leaf)} does not verify ({target.verify_error}); "
                "sslint writes only chains that verify")
    if chain.cert_file_ready and pair.chain is not None:
        # The file already holds exactly the chain; only the chain file mod_ssl sends instead is in the way.
        chain_ref = pair.chain
        description = (f"delete {directive_name(chain_ref)} {shown(chain_ref)}: {shown(pair.cert)} already holds "
                       f"exactly the leaf and its intermediates, and mod_ssl sends the chain file instead")
        edits = (DeleteLine(chain_ref.node.file, chain_ref.node.line, directive_name(chain_ref)),
                 _promise(inputs, pair.cert.path, target, pair.key.path))
        return _Want(edits, description, _der(target.leaf), (pair.cert.raw,), None, None, True)
    if chain.ready_fullchain_disk:
        path, new_file = chain.ready_fullchain_disk, None
    elif chain.fullchain_slot:
        path = chain.fullchain_slot
        new_file = NewFile(path, _pem(target.fullchain), like=pair.cert.path)
    else:
        return (f"every name from {os.path.splitext(os.path.basename(pair.cert.raw))[0]}.fullchain.pem to "
                "-9.pem exists beside the certificate; sslint never overwrites a file: remove the stale ones")
    cert_args = (_in_config_terms(pair.cert.raw, path),)
    edits: list = []
    if new_file is not None:
        edits.append(new_file)
    edits.append(replace_args(pair.cert.node, cert_args, item.server))
    issuers = ", ".join(label(cert) for cert in target.fullchain[1:])
    then = f", then {issuers}" if issuers else ", nothing else"
    if new_file is not None:
        description = f"write {cert_args[0]} (the leaf {label(target.leaf)}{then}) and point {directive} at it"
    else:
        description = f"point {directive} at {cert_args[0]}, which holds exactly the leaf{then}"
    key_args = None
    key_path = pair.key.path
    if chain.leaf_key is not None and chain.leaf_key_raw is not None:
        key_args = (chain.leaf_key_raw,)
        key_path = chain.leaf_key
        edits.append(replace_args(pair.key.node, key_args, item.server))
        description += f"; point {directive_name(pair.key)} at {key_args[0]}, the key of {label(target.leaf)}"
    if pair.chain is not None:
        edits.append(DeleteLine(pair.chain.node.file, pair.chain.node.line, directive_name(pair.chain)))
        description += (f"; delete {directive_name(pair.chain)} {shown(pair.chain)}, which mod_ssl would send "
                        "instead of the chain in the new file")
    edits.append(_promise(inputs, path, target, key_path))
    # A served cross-signed copy of a trusted root is what old clients lacking that root build on.
    cross_signed = report.root_sent and report.root_index is not None and not is_self_signed(
        report.served[report.root_index])
    if cross_signed:
        description += " (unsafe: drops the cross-signed root copy that old clients may need)"
    return _Want(tuple(edits), description, _der(target.leaf), cert_args, key_args, new_file, not cross_signed)


@per_certificate  # the same words for every site that serves the certificate
def _issuer_text(cert: x509.Certificate) -> str:
    """The name of the certificate's issuer, as an admin reads it."""
    return name_text(cert.issuer)


def _promise(inputs: Inputs, path: str, target: ChainReport, key_path: str | None) -> ExpectChain:
    """What the fixer checks on the bytes before writing: `path` serves `target`'s leaf with this key."""
    settings = inputs.settings
    return ExpectChain(path, public_key_der(target.leaf) or b"", key_path,
                       tuple(os.path.abspath(name) for name in settings.ca_files), settings.system_trust,
                       settings.now.isoformat())


_CACHE: list = []  # [(inputs, fixes)]: the last run's decisions; holding `inputs` keeps its id unique


def chain_fix(inputs: Inputs, item: Served) -> Fix:
    """The fix every SSL201-SSL204 finding about `item` carries (edits, or a refusal that says why)."""
    if not _CACHE or _CACHE[0][0] is not inputs:
        _CACHE[:] = [(inputs, _decide(inputs))]
    return _CACHE[0][1].get(_item_key(item)) or _refusal("this certificate is not served by any TLS site")


def _decide(inputs: Inputs) -> dict[tuple, Fix]:
    items = [(_item_key(item), item) for item in served(inputs)]
    wants: dict[tuple, _Want | str | None] = {}
    for key, item in items:
        wants[key] = _want(inputs, item) if needs_fix(item.chain.report) else None

    # Refusing one site's fix can make another's unsafe (a chain file both would delete): repeat
    # until nothing more is refused.
    while True:
        refused = _conflicts(items, wants)
        if not refused:
            break
        wants.update(refused)

    fixes: dict[tuple, Fix] = {}
    for key, want in wants.items():
        if isinstance(want, _Want):
            fixes[key] = Fix(want.description, want.edits, want.safe)
        elif isinstance(want, str):
            fixes[key] = _refusal(want)
    return fixes


def _conflicts(items: list[tuple[tuple, Served]], wants: dict[tuple, "_Want | str | None"]) -> dict[tuple, str]:
    """Fixes that would change what another site serves: key -> why it is refused."""
    refused: dict[tuple, str] = {}

    def refuse(keys: list[tuple], reason: str) -> None:
        for key in keys:
            if isinstance(wants[key], _Want):
                refused.setdefault(key, reason)

    # A directive shared by several sites (http-level ssl_certificate, a server config
    # SSLCertificateFile, an included snippet with different keys) changes for all of them.
    by_node: dict[tuple, list[tuple[tuple, Served]]] = {}
    for key, item in items:
        node = item.pair.cert.node
        by_node.setdefault((node.file, node.line), []).append((key, item))
    for (file, line), group in by_node.items():
        if len(group) < 2:
            continue
        chosen = [wants[key] for key, _item in group if isinstance(wants[key], _Want)]
        if not chosen:
            continue
        first = chosen[0]
        first_item = group[0][1]
        agree = True
        for key, item in group:
            want = wants[key]
            if isinstance(want, _Want):
                agree &= (want.cert_args, want.key_args, want.leaf) == (first.cert_args, first.key_args, first.leaf)
            elif want is None:  # fine as it is: the complete chain of the same leaf is fine too
                agree &= _der(item.chain.report.leaf) == first.leaf
            else:
                agree = False
        if not agree:
            names = ", ".join(dict.fromkeys(name for _key, item in group for name in item.names)) or "several sites"
            refuse([key for key, _item in group],
                   f"{directive_name(first_item.pair.cert)} at {file}:{line} is shared by sites that need different "
                   f"chains or keys ({names}); give each its own directive, then run --fix again")

    # A key directive repointed, or a chain file deleted, must not pull the ground from under another site.
    for attribute, what in (("key", "key directive"), ("chain", "SSLCertificateChainFile")):
        users: dict[tuple, list[tuple]] = {}
        for key, item in items:
            ref = getattr(item.pair, attribute)
            if ref is not None:
                users.setdefault((ref.node.file, ref.node.line), []).append(key)
        for (file, line), keys in users.items():
            touching = [key for key in keys if isinstance(wants[key], _Want)
                        and (attribute == "chain" or wants[key].key_args is not None)]
            if not touching:
                continue
            reference = wants[touching[0]].key_args
            for key in keys:
                want = wants[key]
                if not (isinstance(want, _Want) and (attribute == "chain" or want.key_args == reference)):
                    refuse(touching, f"the {what} at {file}:{line} is also used by a site this fix does not "
                                     "cover; edit it by hand")
                    break

    # Two directives naming the same certificate file with different needs would write one new file twice.
    contents: dict[str, set[bytes]] = {}
    for want in wants.values():
        if isinstance(want, _Want) and want.new_file is not None:
            contents.setdefault(want.new_file.path, set()).add(want.new_file.content)
    for key, want in wants.items():
        if isinstance(want, _Want) and want.new_file is not None and len(contents[want.new_file.path]) > 1:
            refuse([key], f"sites serving the same certificate need different chains in {want.new_file.path}")
    return refused


def fix_text(fix: Fix) -> str:
    """How a finding's message ends: what --fix does, or why it cannot."""
    if fix.edits:
        return f"`sslint --fix` will {fix.description}"
    return f"{REFUSED}: {fix.description}"
