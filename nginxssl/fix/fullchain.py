"""Fullchain planning: where and how the chain SSL201-SSL204 ask for is written, and the last look.

checks/fullchain.py decides which certificate directives must serve another chain, and
which chain (the leaf the configured key belongs to, then its issuers as pki/analyse found
them; for a bundle whose key is a CA's, the real leaf's chain). This module plans it, once
per run, before the checks word their findings (a message names the file the fix writes):

* where: the certificate file itself when it already holds exactly the chain and only an
  Apache SSLCertificateChainFile is in the way (mod_ssl sends the chain file instead: the
  directive is deleted); an existing sibling holding exactly the chain and nothing else
  (certbot's fullchain.pem); else a new `<stem>.fullchain.pem` beside the leaf (the next
  free `-2` ... `-9` name when it exists: existing files are never touched); the directive
  is repointed where it is written, in the config's own terms (relative stays relative;
  under --root, the path the config uses);
* with which key: for a bundle whose configured key is a CA's, a key file beside the key or
  the certificate whose public key is that of a real leaf of the bundle;
* or why not, as the fix's description: the chain cannot be completed or does not verify,
  the key lives in the certificate file, or a directive, key or chain file is shared with a
  site that needs something else;
* the last look (`check`): after the edits are planned and before anything touches the disk,
  the bytes the directive will name are checked again on their own, without the diagnosis
  that produced them -- certificates only; the leaf first and its public key that of the key
  the site will use; each certificate issued by the next; no root, no duplicate; and
  cryptography's verifier accepts the chain with the trust sslint ran with, at the time it
  judged. A promise (ExpectChain) that does not hold is a refused fix, never a written one.
"""

from __future__ import annotations

import os
import stat
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.utils import CryptographyDeprecationWarning

from nginxssl.checks import Inputs
from nginxssl.checks.fullchain import item_key, needs_fix, wanted_chains
from nginxssl.checks.served import Served, directive_name, served, shown
from nginxssl.fix.plan import macro_around, written_args
from nginxssl.model.edits import ChainFix, DeleteLine, Edit, ExpectChain, FilePlan, NewFile, replace_args
from nginxssl.model.finding import Fix
from nginxssl.pki.analyse import ServedKey, served_key
from nginxssl.pki.chain import ChainReport, is_ca, is_self_signed, issued, label, name_text, verification_name, verify
from nginxssl.pki.load import Loader, der, per_certificate
from nginxssl.pki.names import covering, identities
from nginxssl.pki.sources import Sources, trust_store
from nginxssl.pki.trust import TrustStoreError, public_key_der

MAX_KEY_BYTES = 64 * 1024  # a private key file is a few KB; anything larger is not looked into
MAX_KEY_FILES = 256  # per directory searched for a real leaf's key
FULLCHAIN_SLOTS = 9  # <stem>.fullchain.pem, <stem>.fullchain-2.pem, ... <stem>.fullchain-9.pem
MAX_CHAIN_BYTES = 1024 * 1024  # the last look reads no more of a chain file than this


@dataclass(frozen=True)
class _Placement:
    """Where one served chain's fix goes, worked out once per served chain from the files beside it."""

    target: ChainReport | None  # the chain to serve; None: a CA's key and no real leaf's key beside it
    leaf_key: str | None = None  # on disk: the real leaf's key (a bundle whose configured key is a CA's)
    leaf_key_raw: str | None = None  # leaf_key as the config would name it
    ready: str | None = None  # as the config would name it: a sibling holding exactly target.fullchain
    ready_disk: str | None = None  # `ready` on disk
    slot: str | None = None  # on disk: a free <stem>.fullchain.pem beside the leaf (never an existing file)
    cert_file_ready: bool = False  # the certificate file holds exactly target.fullchain (Apache: a chain file spoils it)


@dataclass(frozen=True)
class _Want:
    """What one directive's fix would do."""

    edits: tuple[Edit, ...]
    description: str
    leaf: bytes  # DER of the leaf the new chain starts with
    cert_args: tuple[str, ...]
    key_args: tuple[str, ...] | None  # the key directive repointed (reversed chains)
    new_file: NewFile | None
    safe: bool
    written: str | None = None  # the certificate path as the line writes it, when that holds a variable


def plan(inputs: Inputs, sources: Sources) -> dict[tuple, ChainFix]:
    """The fullchain fix of every certificate directive whose chain checks/fullchain.py wants
    changed, by checks.fullchain.item_key: its edits, or a refusal that says why."""
    items = [(item_key(item), item) for item in served(inputs)]
    placements: dict[ServedKey, _Placement] = {}
    wants: dict[tuple, _Want | str | None] = {}
    for key, item in items:
        if not needs_fix(item.chain.report):
            wants[key] = None
            continue
        # The first directive of a served chain places it (the analyser diagnosed it for that one).
        chain_key = served_key(item.pair)
        if chain_key not in placements:
            placements[chain_key] = _place(inputs, item, sources)
        wants[key] = _want(inputs, item, placements[chain_key])

    # Refusing one site's fix can make another's unsafe (a chain file both would delete): repeat
    # until nothing more is refused.
    while True:
        refused = _conflicts(items, wants)
        if not refused:
            break
        wants.update(refused)

    planned: dict[tuple, ChainFix] = {}
    for key, item in items:
        want = wants[key]
        if want is None:
            continue
        placement = placements[served_key(item.pair)]
        if isinstance(want, _Want):
            fix = Fix(want.description, want.edits, want.safe)
        else:
            fix = Fix(want, (), True)  # no edits: the description says why
        planned[key] = ChainFix(fix, placement.ready, placement.slot)
    return planned


# ---------------------------------------------------------------- where


def _place(inputs: Inputs, item: Served, sources: Sources) -> _Placement:
    chain, pair = item.chain, item.pair
    report = chain.report
    prefix = inputs.config.prefix
    candidates = wanted_chains(chain)
    target: ChainReport | None = candidates[0] if len(candidates) == 1 and candidates[0] is report else None
    leaf_key = leaf_key_raw = None
    if target is None:
        found = _leaf_key(candidates, item, sources, prefix)
        if found is not None:
            target, leaf_key, leaf_key_raw = found
    if target is None or not (report.missing or not report.order_ok or report.extras or report.root_sent):
        return _Placement(target, leaf_key, leaf_key_raw)

    wanted = [der(cert) for cert in target.fullchain]
    held = inputs.material.get(chain.cert_path)
    cert_file_ready = held is not None and [der(cert) for cert in held.certs] == wanted
    ready = ready_disk = slot = None
    directory = sources.written_directory(pair.cert, prefix)
    own = {sources.shown(path) for path in (chain.cert_path, chain.chain_path) if path}
    for shown_path, disk in sources.sibling_files(directory, chain.cert_path):
        if shown_path in own:
            continue
        certs = sources.certs_of(disk)
        # The file a source name was first read from (the analyser may have named it first).
        first_read = sources.disk(shown_path) or disk
        if certs and [der(cert) for cert in certs] == wanted and sources.only_certs(first_read):
            ready, ready_disk = shown_path, first_read
            break
    if ready is None and not pair.cert.dynamic and not pair.cert.inline:
        slot = _free_slot(directory, os.path.basename(pair.cert.raw))
    return _Placement(target, leaf_key, leaf_key_raw, ready, ready_disk, slot, cert_file_ready)


def _free_slot(directory: str, name: str) -> str | None:
    """The first of <stem>.fullchain.pem, <stem>.fullchain-2.pem, ... that does not exist."""
    stem = os.path.splitext(name)[0] or name
    for number in range(1, FULLCHAIN_SLOTS + 1):
        suffix = "" if number == 1 else f"-{number}"
        candidate = os.path.join(directory, f"{stem}.fullchain{suffix}.pem")
        if not os.path.lexists(candidate):
            return candidate
    return None


def _leaf_key(candidates: tuple[ChainReport, ...], item: Served, sources: Sources,
              prefix: str | None) -> tuple[ChainReport, str, str] | None:
    """(the real leaf's chain, its key file on disk, as the config would name it) for a bundle
    whose configured key is a CA's: the first key file in the key's directory or the
    certificate's whose public key is that of one of the candidate leaves."""
    wanted: dict[bytes, ChainReport] = {}
    for candidate in candidates:
        spki = public_key_der(candidate.leaf)
        if spki is not None:
            wanted.setdefault(spki, candidate)
    if not wanted:
        return None
    pair = item.pair
    places = []
    for ref in (pair.key, pair.cert):
        if ref is not None and not ref.dynamic and not ref.inline:
            places.append((sources.written_directory(ref, prefix), os.path.dirname(ref.raw)))
    seen: set[str] = set()
    for directory, raw_directory in places:
        try:
            entries = sorted(os.listdir(directory))[:MAX_KEY_FILES]
        except OSError:
            continue
        for entry in entries:
            path = os.path.join(directory, entry)
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            try:
                info = os.stat(path)
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_KEY_BYTES:
                continue
            held = sources.loader.load(path)
            if not held.usable or held.certs or len(held.keys) != 1:
                continue  # a key file holds one key and no certificate
            try:
                spki = _spki(held.keys[0].key)
            except Exception:  # a key type the backend cannot serialise raises its own error: it matches nothing
                continue
            if spki in wanted:
                return wanted[spki], path, os.path.join(raw_directory, entry)
    return None


# ---------------------------------------------------------------- how, or why not


def _pem(certs: tuple[x509.Certificate, ...]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def _in_config_terms(raw: str, path: str) -> str:
    """`path`'s file name in the directory `raw` names (the new file sits beside the old one)."""
    return os.path.join(os.path.dirname(raw), os.path.basename(path))


def _want(inputs: Inputs, item: Served, placement: _Placement) -> _Want | str:
    """The fix for one directive, or why there is none (a reason, as the admin reads it)."""
    chain, pair = item.chain, item.pair
    report = chain.report
    directive = directive_name(pair.cert)
    target = placement.target
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
    key_path: str | None = pair.key.path
    if target.key_matches_index is None:
        held = inputs.material.get(pair.key.path)
        if held is not None and held.usable and held.keys:
            return (f"the key ({directive_name(pair.key)} {shown(pair.key)}) belongs to no certificate of the file "
                    f"(SSL005): a reordered chain would not start {inputs.wording} either")
        # No key to read (a config repository holds none, by design): the key would only confirm
        # the leaf, which the file and the site's names already tell.
        unsure = _unsure_leaf(target, item.names)
        if unsure:
            return unsure
        key_path = None
    if not target.verified:
        return (f"even completed, the chain of {label(target.leaf)} does not verify ({target.verify_error}); "
                "sslint writes only chains that verify")
    if placement.cert_file_ready and pair.chain is not None:
        # The file already holds exactly the chain; only the chain file mod_ssl sends instead is in the way.
        chain_ref = pair.chain
        description = (f"delete {directive_name(chain_ref)} {shown(chain_ref)}: {shown(pair.cert)} already holds "
                       f"exactly the leaf and its intermediates, and mod_ssl sends the chain file instead")
        edits: list[Edit] = [DeleteLine(chain_ref.node.file, chain_ref.node.line, directive_name(chain_ref)),
                             _promise(inputs, chain.cert_path, target, key_path)]
        return _Want(tuple(edits), description, der(target.leaf), (pair.cert.raw,), None, None, True)
    new_file: NewFile | None
    if placement.ready_disk:
        path, new_file = placement.ready_disk, None
    elif placement.slot:
        path = placement.slot
        new_file = NewFile(path, _pem(target.fullchain), like=chain.cert_path)
    else:
        return (f"every name from {os.path.splitext(os.path.basename(pair.cert.raw))[0]}.fullchain.pem to "
                "-9.pem exists beside the certificate; sslint never overwrites a file: remove the stale ones")
    # The name as the config would write it: under --root a reused sibling's disk path has its links
    # resolved (certbot's live/NAME/fullchain.pem is archive/NAME/fullchainN.pem on disk).
    cert_args = (_in_config_terms(pair.cert.raw, placement.ready or path),)
    # A line written with a variable (a <Macro> parameter, ${VAR}) is configuration once per use: it
    # gets the new name in its own terms, and _conflicts keeps that only when every use agrees.
    node = pair.cert.node
    written = written_args(node.file, node.line, node.directive, item.server)
    written_path = written[0] if written else None
    if written_path is not None and written_path != pair.cert.raw:
        template = _template(written_path, pair.cert.raw, cert_args[0])
        if template is None:
            return _by_hand(node.file, node.line, node.directive, written_path, None)
        cert_args = (template,)
    else:
        written_path = None
    edits = []
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
    if placement.leaf_key is not None and placement.leaf_key_raw is not None:
        key_written = written_args(pair.key.node.file, pair.key.node.line, pair.key.node.directive, item.server)
        if key_written and key_written[0] != pair.key.raw:
            return _by_hand(pair.key.node.file, pair.key.node.line, pair.key.node.directive, key_written[0], None)
        key_args = (placement.leaf_key_raw,)
        key_path = placement.leaf_key
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
    return _Want(tuple(edits), description, der(target.leaf), cert_args, key_args, new_file, not cross_signed,
                 written_path)


def _template(written: str, expanded: str, new: str) -> str | None:
    """`new` (a file beside `expanded`) in the terms `written` uses: `$domain/cert.pem` ->
    `$domain/fullchain.pem`, `$domain.pem` -> `$domain.fullchain.pem`; None when the new name
    cannot be said with the variables of the line."""
    if os.path.dirname(new) != os.path.dirname(expanded):
        return None
    new_name = os.path.basename(new)
    written_name, expanded_name = os.path.basename(written), os.path.basename(expanded)
    if "$" not in written_name and written_name == expanded_name:
        return os.path.join(os.path.dirname(written), new_name)
    written_stem, expanded_stem = os.path.splitext(written_name)[0], os.path.splitext(expanded_name)[0]
    if expanded_stem and new_name.startswith(expanded_stem) and "$" not in os.path.dirname(written).replace(
            os.path.dirname(expanded), ""):
        return os.path.join(os.path.dirname(written), written_stem + new_name[len(expanded_stem):])
    return None


def _by_hand(file: str, line: int, directive: str, written: str, template: str | None,
             names: str = "") -> str:
    """Why a line written with a variable is left alone, and what the admin can do instead."""
    where = macro_around(file, line)
    inside = f" inside <Macro {where[0]}> (line {where[1]})" if where else ""
    uses = f", used by {names}" if names else ""
    shared = template or os.path.join(os.path.dirname(written), "fullchain.pem")
    return (f"{directive} at {file}:{line} is written `{written}`{inside}{uses}: its meaning depends on where it is "
            f"used, and no one edit of it is right for every use; sslint never rewrites such a line: point it by hand "
            f"at a path every use shares that holds each site's leaf then its intermediates (e.g. `{shared}`)")


def _unsure_leaf(target: ChainReport, names: tuple[str, ...]) -> str | None:
    """Why the leaf cannot be told without the key; None when it can: the certificate served
    first, or the one whose names the site serves, or the only one no other certificate issued."""
    leaf = target.leaf
    if is_ca(leaf):
        return f"the key cannot be read and {label(leaf)} is a CA: which certificate is the leaf needs the key"
    if target.leaf_index == 0 or any(covering(identities(leaf), name) for name in names):
        return None
    others = [cert for cert in target.served if cert is not leaf and not is_ca(cert)
              and not any(issued(cert, below) for below in target.served if below is not cert)]
    if not others:
        return None
    return (f"the key cannot be read, and {label(leaf)} and {label(others[0])} could each be the leaf (neither is "
            "served first nor names this site); point the key directive at the key, then run --fix again")


@per_certificate  # the same words for every site that serves the certificate
def _issuer_text(cert: x509.Certificate) -> str:
    """The name of the certificate's issuer, as an admin reads it."""
    return name_text(cert.issuer)


def _promise(inputs: Inputs, path: str, target: ChainReport, key_path: str | None) -> ExpectChain:
    """What the last look checks on the bytes: `path` serves `target`'s leaf with this key."""
    settings = inputs.settings
    return ExpectChain(path, public_key_der(target.leaf) or b"", key_path,
                       tuple(os.path.abspath(name) for name in settings.ca_files), settings.system_trust,
                       settings.now.isoformat())


def _conflicts(items: list[tuple[tuple, Served]], wants: dict[tuple, _Want | str | None]) -> dict[tuple, str]:
    """Fixes that would change what another site serves: key -> why it is refused."""
    refused: dict[tuple, str] = {}

    def refuse(keys: list[tuple], reason: str) -> None:
        for key in keys:
            if isinstance(wants[key], _Want):
                refused.setdefault(key, reason)

    # A directive shared by several sites (http-level ssl_certificate, a server config
    # SSLCertificateFile, an included snippet with different keys) changes for all of them.
    by_node: dict[tuple[str, int], list[tuple[tuple, Served]]] = {}
    for key, item in items:
        node = item.pair.cert.node
        by_node.setdefault((node.file, node.line), []).append((key, item))
    for (file, line), group in by_node.items():
        if len(group) < 2:
            continue
        chosen = [want for key, _item in group if isinstance(want := wants[key], _Want)]
        if not chosen:
            continue
        first = chosen[0]
        first_item = group[0][1]
        agree = True
        for key, item in group:
            want = wants[key]
            if isinstance(want, _Want):
                if first.written is not None:  # each use its own leaf, one line in the same terms for all
                    agree &= (want.cert_args, want.key_args) == (first.cert_args, first.key_args)
                else:
                    agree &= (want.cert_args, want.key_args, want.leaf) == (first.cert_args, first.key_args,
                                                                             first.leaf)
            elif want is None and first.written is None:  # fine as it is: the complete chain of the same leaf is fine too
                agree &= der(item.chain.report.leaf) == first.leaf
            else:
                agree = False
        if not agree:
            names = ", ".join(dict.fromkeys(name for _key, item in group for name in item.names)) or "several sites"
            if first.written is not None:
                refuse([key for key, _item in group],
                       _by_hand(file, line, directive_name(first_item.pair.cert), first.written, None, names))
                continue
            refuse([key for key, _item in group],
                   f"{directive_name(first_item.pair.cert)} at {file}:{line} is shared by sites that need different "
                   f"chains or keys ({names}); give each its own directive, then run --fix again")

    # A key directive repointed, or a chain file deleted, must not pull the ground from under another site.
    for attribute, what in (("key", "key directive"), ("chain", "SSLCertificateChainFile")):
        users: dict[tuple[str, int], list[tuple]] = {}
        for key, item in items:
            ref = getattr(item.pair, attribute)
            if ref is not None:
                users.setdefault((ref.node.file, ref.node.line), []).append(key)
        for (file, line), keys in users.items():
            touching = [key for key in keys if isinstance(want := wants[key], _Want)
                        and (attribute == "chain" or want.key_args is not None)]
            if not touching:
                continue
            reference = _key_args(wants[touching[0]])
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


def _key_args(want: _Want | str | None) -> tuple[str, ...] | None:
    return want.key_args if isinstance(want, _Want) else None


# ---------------------------------------------------------------- the last look


def _spki(key: object) -> bytes:
    """The SubjectPublicKeyInfo DER of a key pki.load read (it keeps the public half as `object`)."""
    return cast(PublicKeyTypes, key).public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)


def _content(promise: ExpectChain, plans: dict[str, FilePlan]) -> bytes | None:
    planned = plans.get(promise.path)
    if planned is not None:
        return planned.new
    try:
        with open(promise.path, "rb") as handle:
            return handle.read(MAX_CHAIN_BYTES + 1)
    except OSError:
        return None


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text) if text else datetime.now(timezone.utc)
    except ValueError:
        moment = datetime.now(timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def broken(promise: ExpectChain, plans: dict[str, FilePlan], loader: Loader | None = None) -> str | None:
    """Why the promised chain is not what the server should send; None when it is."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return _broken(promise, plans, loader or Loader())


def _broken(promise: ExpectChain, plans: dict[str, FilePlan], loader: Loader) -> str | None:
    where = promise.path
    data = _content(promise, plans)
    if data is None:
        return f"{where} cannot be read"
    if len(data) > MAX_CHAIN_BYTES:
        return f"{where} is larger than any certificate chain"
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        return f"{where} does not hold PEM certificates ({error})"
    if data.count(b"-----BEGIN ") != len(certs):
        return f"{where} holds something besides certificates"
    leaf = certs[0]
    if public_key_der(leaf) != promise.key_spki:
        return f"the first certificate of {where}, {label(leaf)}, does not match the key the site uses"
    if promise.key_path is not None:
        held = loader.load(promise.key_path)
        if held.usable and held.keys:
            if _spki(held.keys[0].key) != promise.key_spki:
                return f"the key in {promise.key_path} is not the key of {label(leaf)}"
        elif not held.locked_keys:  # an encrypted key cannot be opened here; its public half was compared above
            return f"{promise.key_path} holds no private key"
    ders = [der(cert) for cert in certs]
    if len(set(ders)) != len(ders):
        return f"{where} holds the same certificate twice"
    for below, above in zip(certs, certs[1:]):
        if not issued(above, below):
            return f"in {where}, {label(above)} did not issue {label(below)}"
    for cert in certs[1:]:
        if is_self_signed(cert):
            return f"{where} holds the root {label(cert)}"
    try:
        trust = trust_store(tuple(promise.ca_files), promise.system_trust)
    except TrustStoreError as error:
        return f"the trust store cannot be read ({error.path}: {error.message})"
    ok, reason = verify(leaf, certs[1:], trust, _moment(promise.now), verification_name(leaf))
    if not ok:
        return f"the chain in {where} does not verify: {reason}"
    return None


def check(promises: list[ExpectChain], plans: dict[str, FilePlan]) -> dict[ExpectChain, str]:
    """Every promise that does not hold, with why."""
    loader = Loader()
    problems = {}
    for promise in dict.fromkeys(promises):
        problem = broken(promise, plans, loader)
        if problem is not None:
            problems[promise] = problem
    return problems

