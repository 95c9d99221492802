"""Generate a large nginx or Apache tree for benchmarks.

    python benchmarks/gen_tree.py OUT --blocks 5000 --files 500 --certs 1000 [--server nginx|apache]

N server blocks in M site files sharing K leaf certificates (each leaf names the
sites that use it, www. twins included), issued by two intermediates under one root.
The certificates look like a real web PKI, so that the verifier does its whole work:
CAs with keyUsage keyCertSign|cRLSign, SKI/AKI everywhere, leaves with EKU serverAuth,
keyUsage digitalSignature and a lifetime browsers accept (365 days, issued in 2026,
valid at NOW, the --now benchmarks/run.py pins), keys 0600. Most sites send HSTS and
set ssl_protocols. A share of the sites is broken in ways nginx still starts with (so
`nginx -t` can be timed on the same tree): leaf-only chains, expired leaves, names
missing from the certificate, no CSP header. Trust ssl/root.pem (--ca-file) for the
chains to verify.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = datetime.timezone.utc
NOW = "2026-12-01T00:00:00Z"  # the time the trees are judged at (--now)
CA_START = datetime.datetime(2020, 1, 1, tzinfo=UTC)
CA_END = datetime.datetime(2045, 1, 1, tzinfo=UTC)
LEAF_START = datetime.datetime(2026, 6, 1, tzinfo=UTC)  # 365 days: under the 398 browsers allow
LEAF_END = LEAF_START + datetime.timedelta(days=365)
EXPIRED_START = datetime.datetime(2025, 6, 1, tzinfo=UTC)
EXPIRED_END = EXPIRED_START + datetime.timedelta(days=90)


def _key(label: str) -> ec.EllipticCurvePrivateKey:
    seed = int.from_bytes(hashlib.sha256(label.encode()).digest(), "big")
    return ec.derive_private_key(seed % (2**255) + 1, ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _usage(*, signature: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signature, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def _cert(subject: str, key, issuer: x509.Name, issuer_key, *, ca: bool, names=(), expired=False, serial=1):
    if ca:
        start, end = CA_START, CA_END
    else:
        start, end = (EXPIRED_START, EXPIRED_END) if expired else (LEAF_START, LEAF_END)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer != _name(subject) else None),
                       critical=True)
        .add_extension(_usage(ca=True) if ca else _usage(signature=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(*certs) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def generate(out: Path, blocks: int, files: int, certs: int, server: str = "nginx", broken_every: int = 10) -> Path:
    ssl = out / "ssl"
    sites = out / ("sites-enabled" if server == "nginx" else "sites-enabled")
    ssl.mkdir(parents=True, exist_ok=True)
    sites.mkdir(parents=True, exist_ok=True)
    root_key = _key("root")
    root = _cert("Bench Root", root_key, _name("Bench Root"), root_key, ca=True)
    intermediates = []
    for index in range(2):
        key = _key(f"inter{index}")
        intermediates.append((_cert(f"Bench Intermediate {index}", key, root.subject, root_key, ca=True, serial=10 + index), key))
    (ssl / "root.pem").write_bytes(_pem(root))
    per_cert = max(1, blocks // certs)
    for number in range(certs):
        inter, inter_key = intermediates[number % 2]
        names = [f"{www}site{site}.bench.test" for site in range(number * per_cert, min(blocks, (number + 1) * per_cert))
                 for www in ("", "www.")]
        broken = number % broken_every == 0
        kind = number // broken_every % 3 if broken else -1
        cover = names[:-1] if kind == 2 and len(names) > 1 else names
        leaf_key = _key(f"leaf{number}")
        leaf = _cert(names[0] if names else f"cert{number}", leaf_key, inter.subject, inter_key,
                     ca=False, names=cover, expired=kind == 1, serial=1000 + number)
        chain = _pem(leaf) if kind == 0 else _pem(leaf, inter)
        (ssl / f"cert{number}.pem").write_bytes(chain)
        key_path = ssl / f"cert{number}.key"
        key_path.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        os.chmod(key_path, 0o600)
    per_file = max(1, blocks // files)
    for file_number in range(files):
        chunks = []
        for site in range(file_number * per_file, min(blocks, (file_number + 1) * per_file)):
            number = min(site // per_cert, certs - 1)
            chunks.append(_site(server, site, number, csp=site % 7 != 0, hsts=site % 5 != 0,
                                protocols=site % 10 != 0))
        (sites / f"sites{file_number:04d}.conf").write_text("".join(chunks))
    return _main(out, server)


_HSTS = "max-age=63072000; includeSubDomains"


def _site(server: str, site: int, cert: int, *, csp: bool, hsts: bool, protocols: bool) -> str:
    name = f"site{site}.bench.test"
    if server == "nginx":
        extra = "    ssl_protocols TLSv1.2 TLSv1.3;\n" if protocols else ""
        extra += f'    add_header Strict-Transport-Security "{_HSTS}" always;\n' if hsts else ""
        extra += '    add_header Content-Security-Policy "upgrade-insecure-requests" always;\n' if csp else ""
        return (f"server {{\n    listen 443 ssl;\n    server_name {name} www.{name};\n"
                f"    ssl_certificate ssl/cert{cert}.pem;\n    ssl_certificate_key ssl/cert{cert}.key;\n"
                f"{extra}    location / {{\n        root /srv/{name};\n    }}\n}}\n\n")
    extra = "    SSLProtocol -all +TLSv1.2 +TLSv1.3\n" if protocols else ""
    extra += f'    Header always set Strict-Transport-Security "{_HSTS}"\n' if hsts else ""
    extra += '    Header always set Content-Security-Policy "upgrade-insecure-requests"\n' if csp else ""
    return (f"<VirtualHost *:443>\n    ServerName {name}\n    ServerAlias www.{name}\n    SSLEngine on\n"
            f"    SSLCertificateFile ssl/cert{cert}.pem\n    SSLCertificateKeyFile ssl/cert{cert}.key\n"
            f"{extra}    DocumentRoot /srv/{name}\n</VirtualHost>\n\n")


def _main(out: Path, server: str) -> Path:
    if server == "nginx":
        main = out / "nginx.conf"
        main.write_text("pid nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n    access_log off;\n"
                        "    server_names_hash_bucket_size 128;\n    server_names_hash_max_size 65536;\n"
                        "    include sites-enabled/*.conf;\n}\n")
    else:
        main = out / "apache2.conf"
        main.write_text("ServerRoot .\nListen 443\nIncludeOptional sites-enabled/*.conf\n")
    return main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--blocks", type=int, default=5000)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--certs", type=int, default=1000)
    parser.add_argument("--server", choices=("nginx", "apache"), default="nginx")
    args = parser.parse_args()
    print(generate(args.out, args.blocks, args.files, args.certs, args.server))


if __name__ == "__main__":
    main()
