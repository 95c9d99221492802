"""SSL002-SSL008: can the server load the certificate, key and password files it names?"""

from __future__ import annotations

import grp
import os
import stat
from dataclasses import replace
from typing import Iterator

from nginxssl.checks import Inputs, check
from nginxssl.checks.references import Reference, spelled
from nginxssl.model.edits import replace_args
from nginxssl.model.finding import Finding, Fix, Related
from nginxssl.model.node import Node
from nginxssl.model.site import PathRef, Site
from nginxssl.pki.load import Material, PublicKey, cert_key_fingerprint, describe_public
from nginxssl.sites import names_of

_ABSENT = ("missing", "unreadable", "not-regular")
_NOT_PEM = ("der", "pkcs12", "empty", "garbage", "too-large", "bad-version")

# What the server prints when it cannot load a file of each role.
_NGINX_LOAD_ERROR = {
    "certificate": "cannot load certificate",
    "key": "cannot load certificate key",
    "password file": "cannot open ssl_password_file",
    "trusted certificate": "SSL_CTX_load_verify_locations() failed",
    "chain": "cannot load certificate",
}


def _material(inputs: Inputs, reference: Reference) -> Material | None:
    if reference.ref.path is None:
        return None
    return inputs.material.get(reference.ref.path)


def _shown(reference: Reference | PathRef) -> str:
    ref = reference.ref if isinstance(reference, Reference) else reference
    if ref.path and os.path.normpath(ref.raw) != os.path.normpath(ref.path):
        return f'"{ref.raw}" ({ref.path})'
    return f'"{ref.raw}"'


# mod_ssl checks at read time only that a file exists, is regular and is not empty.
_APACHE_T_REFUSES = ("missing", "not-regular", "empty")


def _refuses(inputs: Inputs, reference: Reference, material: Material | None = None) -> str:
    if material is not None and material.status == "bad-version":  # nginx -t passes (measured, nginx 1.22.1)
        return (f"{inputs.wording} starts and serves it, but every client refuses a certificate that no X.509 "
                "version describes (Chrome: ERR_CERT_INVALID; Firefox: SEC_ERROR_BAD_DER)")
    if inputs.config.server == "apache":
        if material is not None and material.status in _APACHE_T_REFUSES:
            return "`apache2 -t` fails (\"does not exist or is empty\") and apache2 will not start"
        return "`apache2 -t` passes, but apache2 will fail to start"
    return f"`nginx -t` fails with '{_NGINX_LOAD_ERROR[reference.role]}' and nginx will not start"


def _finding(rule: str, reference: Reference, message: str, fix: Fix | None = None) -> Finding:
    node = reference.ref.node
    server = reference.sites[0].server if reference.sites else "nginx"
    return Finding(rule, node.file, node.line, message, reference.names, server, fix=fix)


@check("SSL002", needs={"material"})
def file_missing(inputs: Inputs) -> Iterator[Finding]:
    keys_not_in_repository: list[Reference] = []
    for reference in inputs.references:
        material = _material(inputs, reference)
        if material is None or material.status not in _ABSENT:
            continue
        if _expected_outside_repository(inputs, reference, material):
            keys_not_in_repository.append(reference)
            continue
        what = {"missing": "does not exist", "unreadable": f"cannot be read ({material.detail})",
                "not-regular": material.detail}[material.status]
        yield _finding("SSL002", reference,
                       f"{reference.directive} {_shown(reference)} {what}; {_refuses(inputs, reference, material)}")
    if keys_not_in_repository:
        first = keys_not_in_repository[0]
        count = len({reference.ref.path for reference in keys_not_in_repository})
        finding = _finding(
            "SSL002", first,
            f"{count} private key{'s' if count != 1 else ''} the configuration names {'are' if count != 1 else 'is'} "
            f"not in the repository under --root (first: {first.directive} \"{first.ref.raw}\"); config "
            "repositories usually hold no keys, so the checks that need a key (SSL005-SSL007) were skipped for "
            f"{'them' if count != 1 else 'it'}; use --require-keys to report each one as an error")
        yield replace(finding, severity="info")
    yield from _apache_key_absent(inputs)


def _expected_outside_repository(inputs: Inputs, reference: Reference, material: Material) -> bool:
    """With --root, a config repository's absent private key is expected, not an error."""
    return (inputs.settings.root is not None and not inputs.settings.require_keys
            and reference.role == "key" and material.status == "missing")


def _key_in_certificate_file(inputs: Inputs, reference: Reference) -> bool:
    """Apache: a certificate without a key file of its own must hold its key itself."""
    return inputs.config.server == "apache" and reference.role == "certificate" and reference.partner is None


def _apache_key_absent(inputs: Inputs) -> Iterator[Finding]:
    for reference in inputs.references:
        if not _key_in_certificate_file(inputs, reference):
            continue
        material = _material(inputs, reference)
        if material is None or not material.usable:
            continue
        if material.certs and not material.keys and not material.locked_keys:
            yield _finding(
                "SSL002", reference,
                f"no private key for {reference.directive} {_shown(reference)}: no SSLCertificateKeyFile is "
                "in force for it and the file holds no key; `apache2 -t` passes, but apache2 will fail to "
                "start (AH02579: Init: Private key not found): add `SSLCertificateKeyFile /path/to/key` "
                "right after it")


def _conversion(reference: Reference, material: Material) -> str:
    path = reference.ref.path
    if material.status == "pkcs12":
        return (f"; extract PEM with `openssl pkcs12 -in {path} -nokeys -out cert.pem` "
                f"and `openssl pkcs12 -in {path} -nocerts -nodes -out key.pem`")
    if material.status == "der":
        tool = "pkey" if "key" in material.detail else "x509"
        return f"; convert it with `openssl {tool} -inform der -in {path} -out {path}.pem`"
    return ""


# What OpenSSL 3.0 says of such a file, as nginx 1.22.1 prints it.
_OPENSSL_WORDS = {"certificate": " ('PEM routines::bad end line')",
                  "key": " ('DECODER routines::unsupported: No supported data to decode')"}


def _refuses_end_lines(inputs: Inputs, reference: Reference) -> bool:
    """The server reads this file with OpenSSL's PEM reader, which refuses an END line with more on it
    ('bad end line'): nginx's certificates and keys, apache2's certificates (measured, OpenSSL 3.0:
    apache2 2.4 reads such a key all the same)."""
    return reference.role == "certificate" or (reference.role == "key" and inputs.config.server != "apache")


@check("SSL003", needs={"material"})
def file_unloadable(inputs: Inputs) -> Iterator[Finding]:
    for reference in inputs.references:
        material = _material(inputs, reference)
        if material is not None and material.usable and material.bad_end_line is not None \
                and _refuses_end_lines(inputs, reference):
            line, marker, after = material.bad_end_line
            if after.startswith("-----BEGIN"):
                cause, fix = ("; `cat a.pem b.pem > c.pem` writes this when a.pem does not end in a line break",
                              f'break line {line} after "{marker}"')
            else:
                cause, fix = "", f'remove "{after}" from line {line}'
            yield _finding("SSL003", reference, (
                f'{reference.directive} {_shown(reference)} has "{after}" right after "{marker}" on line {line}: '
                "OpenSSL takes an END line only when nothing follows its marker, and refuses the whole file"
                f"{_OPENSSL_WORDS[reference.role]}{cause}; {_refuses(inputs, reference)}; fix: {fix}"))
            continue
        if material is None or material.status not in _NOT_PEM or reference.role == "password file":
            continue
        detail = material.detail
        if material.status in ("der", "pkcs12"):
            detail = f"is {detail}, but {inputs.wording} loads PEM only"
        yield _finding("SSL003", reference,
                       f"{reference.directive} {_shown(reference)} {detail}; "
                       f"{_refuses(inputs, reference, material)}{_conversion(reference, material)}")


def _holds_only_keys(material: Material | None) -> bool:
    return material is not None and material.usable and not material.certs and bool(material.keys or material.locked_keys)


def _holds_only_certs(material: Material | None) -> bool:
    return material is not None and material.usable and bool(material.certs) and not material.keys and not material.locked_keys


def _partner_material(inputs: Inputs, reference: Reference) -> Material | None:
    """What the file of the reference's partner holds (the key of a certificate, the certificate of a key)."""
    partner = reference.partner
    return inputs.material.get(partner.path) if partner is not None and partner.path else None


@check("SSL004", needs={"material"})
def cert_key_swapped(inputs: Inputs) -> Iterator[Finding]:
    for reference in inputs.references:
        material = _material(inputs, reference)
        partner = reference.partner
        if reference.role == "certificate" and _holds_only_keys(material):
            if partner is not None and _holds_only_certs(_partner_material(inputs, reference)):
                server = reference.sites[0].server if reference.sites else "nginx"
                yield _finding(
                    "SSL004", reference,
                    f"{reference.directive} {_shown(reference)} holds a private key and "
                    f"{spelled(partner.node.directive)} \"{partner.raw}\" holds the certificate: "
                    f"the two paths are swapped; {_refuses(inputs, reference)}",
                    Fix("swap the paths of the certificate and key directives",
                        (replace_args(reference.ref.node, (partner.raw,), server),
                         replace_args(partner.node, (reference.ref.raw,), server))))
            else:
                yield _finding(
                    "SSL004", reference,
                    f"{reference.directive} {_shown(reference)} holds a private key, not a certificate; "
                    f"{_refuses(inputs, reference)}; point it at the certificate (or fullchain) file")
        elif reference.role == "key" and _holds_only_certs(material):
            if _holds_only_keys(_partner_material(inputs, reference)):
                continue  # reported once, at the certificate directive, as a swap
            yield _finding(
                "SSL004", reference,
                f"{reference.directive} {_shown(reference)} holds a certificate, not a private key; "
                f"{_refuses(inputs, reference)}; point it at the key file")


def _key_material(inputs: Inputs, reference: Reference) -> Material | None:
    """The material that supplies the private key for a certificate reference."""
    if reference.partner is not None:
        return inputs.material.get(reference.partner.path) if reference.partner.path else None
    return _material(inputs, reference)  # Apache: the key may sit in the certificate file


def _owner_of_key(inputs: Inputs, fingerprint: str, skip: str) -> str | None:
    for path, material in inputs.material.items():
        if path == skip or not material.usable:
            continue
        for cert in material.certs:
            if cert_key_fingerprint(cert) == fingerprint:
                subject = cert.subject.rfc4514_string() or "a certificate with no subject"
                return f"{subject} in {path}"
    return None


def _filed_by_type(inputs: Inputs, reference: Reference, certs: Material, key: PublicKey) -> bool:
    """nginx, dual certificates: each ssl_certificate_key goes to OpenSSL, which files a key beside
    the certificate of its own type (RSA, ECDSA, ...), not beside the ssl_certificate written at
    the same position. A key of another type than its partner that belongs to another certificate
    of the same server is in its place (nginx 1.22.1 starts, and RSA and ECDSA handshakes both
    verify: tests/test_server_truth.py). Apache checks each pair as written (AH02565)."""
    if inputs.config.server != "nginx" or describe_public(certs.certs[0].public_key())[0] == key.kind:
        return False
    for site in reference.sites:
        for pair in site.certs:
            other = inputs.material.get(pair.cert.path) if pair.cert.path and pair.cert.path != certs.path else None
            if other is not None and other.usable and other.certs and \
                    cert_key_fingerprint(other.certs[0]) == key.fingerprint:
                return True
    return False


def _filed_apart(inputs: Inputs, reference: Reference, certs: Material, key: PublicKey) -> bool:
    """nginx: a key of another type than its certificate, where no certificate of the block has the
    key's type. OpenSSL then checks the key against nothing: `nginx -t` passes and nginx starts,
    while the certificate never gets a key (nginx 1.22.1: every handshake fails with alert 40,
    tests/test_server_truth.py). A certificate of the key's type in the block makes OpenSSL compare
    them: 'key values mismatch' as for a key of the certificate's own type."""
    if inputs.config.server != "nginx" or describe_public(certs.certs[0].public_key())[0] == key.kind:
        return False
    for site in reference.sites:
        for pair in site.certs:
            if pair.cert.path == certs.path:
                continue
            other = inputs.material.get(pair.cert.path) if pair.cert.path else None
            if other is None or not other.usable or not other.certs or \
                    describe_public(other.certs[0].public_key())[0] == key.kind:
                return False  # unknown, or of the key's type: nginx compares the key with it
    return True


def _single_certificate(reference: Reference) -> bool:
    return all(len(site.certs) == 1 for site in reference.sites)


@check("SSL005", needs={"material"})
def key_mismatch(inputs: Inputs) -> Iterator[Finding]:
    keys_named: dict[str, PathRef] | None = None  # made for the first block that forgot its key
    for reference in inputs.references:
        if reference.role != "certificate":
            continue
        certs = _material(inputs, reference)
        keys = _key_material(inputs, reference)
        if certs is None or keys is None or not certs.usable or not keys.usable or not certs.certs or not keys.keys:
            continue
        key = keys.keys[0]
        if any(cert_key_fingerprint(cert) == key.fingerprint for cert in certs.certs):
            continue  # matches the leaf, or another certificate of the bundle: chain order (SSL202)
        if _filed_by_type(inputs, reference, certs, key):
            continue
        leaf = certs.certs[0]
        subject = leaf.subject.rfc4514_string() or "no subject"
        owner = _owner_of_key(inputs, key.fingerprint, certs.path)
        belongs = f"; that key belongs to {owner}" if owner else ""
        if inputs.config.server == "apache":
            refusal = ("`apache2 -t` passes (it does not load keys), but apache2 will fail to start "
                       "(AH02565: Certificate and private key ... do not match)")
        elif _filed_apart(inputs, reference, certs, key):
            refusal = (f"`nginx -t` passes and nginx starts, but OpenSSL files a private key beside the certificate "
                       f"of its own type: this {key.kind} key waits for an {key.kind} certificate the block does "
                       f"not have, and the {describe_public(leaf.public_key())[0]} certificate has no key, so "
                       + ("every handshake fails (alert 'handshake failure'; nginx logs 'no suitable signature "
                          "algorithm' at info level)" if _single_certificate(reference) else
                          "it is never sent"))
        else:
            refusal = "`nginx -t` fails with 'key values mismatch' and nginx will not start"
        key_node_ref = reference.partner or reference.ref
        key_node = key_node_ref.node
        server = reference.sites[0].server if reference.sites else "nginx"
        block = _block_writing(reference.ref.node, reference.sites)
        if reference.partner is not None and block is not None and _block_writing(key_node, reference.sites) is None:
            # The block names its own certificate and inherits the key (nginx merges ssl_certificate and
            # ssl_certificate_key each on its own; mod_ssl the same): the cause is this block's missing
            # key directive, reported here, once for each block that forgot it -- not at the outer key,
            # which every such block would otherwise report at one file:line.
            key_directive = spelled(key_node.directive)
            kind = _block_kind(server)
            if keys_named is None:
                keys_named = _keys_named(inputs)
            named = keys_named.get(cert_key_fingerprint(leaf) or "")
            if named is not None:
                written = f"{key_directive} {named.raw}" + (";" if server == "nginx" else "")
                fix = (f"add `{written}` to that {kind}: {_shown(named)} holds the key of {subject} "
                       f"({named.node.file}:{named.node.line} names it)")
            else:
                fix = f"add {key_directive} with the key of {subject} to that {kind}"
            yield Finding(
                "SSL005", reference.ref.node.file, reference.ref.node.line,
                f"{reference.directive} {_shown(reference)} has no {key_directive} in its {kind}; "
                f"the {kind} at {block.file}:{block.line} names its own certificate ({subject}) but no key, so "
                f"{inputs.wording} pairs it with the private key it inherits from {key_node.file}:{key_node.line}, "
                f"{_shown(key_node_ref)}, which does not belong to it{belongs}; {refusal}; fix: {fix}",
                reference.names, server)
            continue
        yield Finding(
            "SSL005", key_node.file, key_node.line,
            f"the private key in {_shown(key_node_ref)} "
            f"does not belong to the certificate in {_shown(reference)} ({subject}){belongs}; {refusal}",
            reference.names, server)


def _block_writing(node: Node, sites: tuple[Site, ...]) -> Node | None:
    """The server block (<VirtualHost>) of `sites` that holds `node` itself, or None when the
    directive is written outside every one of them (inherited from the http block, the server
    config, or a snippet that is not a block of its own)."""
    for site in sites:
        block = site.node
        if block is not None and block.children and any(child is node for child in block.children):
            return block
    return None


def _block_kind(server: str) -> str:
    return "<VirtualHost>" if server == "apache" else "server block"


def _keys_named(inputs: Inputs) -> dict[str, PathRef]:
    """Each private key the configuration names, by its public key's fingerprint: the first key
    directive naming it (what a block that forgot its key directive most likely meant)."""
    named: dict[str, PathRef] = {}
    for reference in inputs.references:
        material = _material(inputs, reference) if reference.role == "key" else None
        if material is not None and material.usable:
            for key in material.keys:
                named.setdefault(key.fingerprint, reference.ref)
    return named


@check("SSL006", needs={"material"})
def key_encrypted(inputs: Inputs) -> Iterator[Finding]:
    for reference in inputs.references:
        if reference.role != "key" and not _key_in_certificate_file(inputs, reference):
            continue
        material = _material(inputs, reference)
        if material is None or not material.usable or material.keys or not material.locked_keys:
            continue
        site = reference.sites[0] if reference.sites else None
        password_files = site.password_files if site else ()
        if inputs.config.server == "apache":
            message = _apache_passphrase(reference, site)
            if message is None:
                continue
        elif password_files:
            shown = ", ".join(f'"{ref.raw}"' for ref in password_files)
            message = (f"{reference.directive} {_shown(reference)} is encrypted and no password in "
                       f"ssl_password_file {shown} opens it; `nginx -t` fails with 'bad decrypt'")
        else:
            message = (f"{reference.directive} {_shown(reference)} is encrypted and no ssl_password_file is "
                       "configured; nginx asks for the passphrase at start-up, which under systemd has no "
                       "terminal and fails: add `ssl_password_file` or decrypt the key")
        yield _finding("SSL006", reference, message)


# Debian's default SSLPassPhraseDialog: it asks on the console (systemd-ask-password --timeout=0).
_ASKS_A_HUMAN = ("/usr/share/apache2/ask-for-passphrase",)


def _apache_passphrase(reference: Reference, site: Site | None) -> str | None:
    """Why apache2 cannot open an encrypted key unattended, or None when a program answers for it."""
    dialog = site.directives.get("sslpassphrasedialog") if site else None
    value = dialog.args[0] if dialog is not None and dialog.args else "builtin"
    if reference.role == "certificate":  # the key sits in the certificate file
        decrypt = (f"or store the key decrypted in a file of its own (mode 600): `openssl pkey -in "
                   f"{reference.ref.path} -out KEYFILE` and name it in SSLCertificateKeyFile")
    else:
        decrypt = (f"or store the key decrypted (mode 600): `openssl pkey -in {reference.ref.path} "
                   f"-out {reference.ref.path}.plain`")
    if value.startswith("exec:") and value[len("exec:"):] in _ASKS_A_HUMAN:
        return (f"{reference.directive} {_shown(reference)} is encrypted and SSLPassPhraseDialog {value} asks "
                "for the passphrase on the console through systemd-ask-password, with no time limit: after a "
                "reboot apache2 does not come up until someone types it; point SSLPassPhraseDialog at a "
                f"script that prints the passphrase (exec:/path/to/script), {decrypt}")
    if value.startswith(("exec:", "|")):
        return None  # a program supplies the passphrase; sslint never runs it
    where = "" if dialog is not None else " (the default)"
    return (f"{reference.directive} {_shown(reference)} is encrypted and SSLPassPhraseDialog is builtin{where}: "
            "apache2 asks for the passphrase on its terminal at start-up; started by systemd it has none and "
            "the start fails; add `SSLPassPhraseDialog exec:/path/to/script` (a script that prints the "
            f"passphrase) to the server config, {decrypt}")


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


@check("SSL007", needs={"material"})
def key_permissions(inputs: Inputs) -> Iterator[Finding]:
    if inputs.settings.root is not None:
        return  # a checkout of a config repo has git's modes, not the server's
    # One finding per key file, at the first directive that names it: every other directive
    # naming the same file (each site's own ssl_certificate_key line) is a related place.
    by_path: dict[str, list[Reference]] = {}
    for reference in inputs.references:
        if reference.role != "key" and not _key_in_certificate_file(inputs, reference):
            continue
        if reference.ref.path is not None:
            by_path.setdefault(reference.ref.path, []).append(reference)
    for references in by_path.values():
        reference = references[0]
        material = _material(inputs, reference)
        if material is None or not material.usable or not (material.keys or material.locked_keys):
            continue  # only a file that really holds a key is a key leak
        group_readable = material.mode & stat.S_IRGRP and material.gid != 0
        group = _group_name(material.gid) if group_readable else ""
        if group == "ssl-cert":
            group_readable = False  # Debian's convention for keys shared with services
        if material.mode & stat.S_IROTH:
            who = "every local user"
        elif group_readable:
            who = f"members of group '{group}'"
        else:
            continue
        names = names_of(site for other in references for site in other.sites)
        others = [Related(other.ref.node.file, other.ref.node.line, other.names) for other in references[1:]]
        also = f" (named by {len(others)} more directive{'s' if len(others) != 1 else ''})" if others else ""
        finding = _finding(
            "SSL007", reference,
            f"private key {_shown(reference)}{also} is readable by {who} (mode {material.mode:04o}): whoever "
            f"reads it can impersonate {', '.join(names[:5]) or 'this site'}{' ...' if len(names) > 5 else ''}; "
            f"run `chmod 600 {reference.ref.path}`")
        readers = "world-readable" if who == "every local user" else f"readable by group '{group}'"
        yield replace(finding, names=names, related=tuple(others),
                      summary=f"key {_shown(reference)} is {readers} (mode {material.mode:04o})")


@check("SSL008", needs=())
def cert_path_dynamic(inputs: Inputs) -> Iterator[Finding]:
    for reference in inputs.references:
        if reference.ref.dynamic and inputs.config.server == "apache":
            yield _finding(
                "SSL008", reference,
                f"{reference.directive} \"{reference.ref.raw}\" uses a variable defined outside this file "
                "(Define or envvars of the main config); sslint cannot know which file is meant and does not "
                "check it: lint the whole tree (e.g. `sslint /etc/apache2`) to have it checked")
        elif reference.ref.dynamic and not (reference.role == "key" and reference.partner is not None
                                            and reference.partner.dynamic):
            # A dynamic pair is one finding, at its certificate: the key's path follows the same variables.
            yield _finding(
                "SSL008", reference,
                f"{reference.directive} \"{reference.ref.raw}\" uses variables resolved at each handshake; "
                "sslint cannot know which file is served and does not check it")
