"""Chain fixtures shared by test_chain_rules.py and test_nginx_chains_live.py.

One PKI (fixtures/pki.py) and one scenario per defect: each scenario is a
server block with its own name, serving its own certificate file (in its own
directory, so sibling lookups stay local), with the rules sslint must report
and what the real judges say about it:

* `openssl`: `openssl verify -CAfile root.pem -untrusted <rest of the file>
  -verify_hostname HOST -attime NOW <first certificate>` (0: ok, else the
  X509 error code), exactly the chain the server sends;
* `live_ok`: whether `openssl s_client -verify_return_error -verify_hostname`
  accepts the running nginx's answer for HOST; None where nginx refuses the
  whole configuration (weak keys, key mismatch), which `nginx -t` then proves.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
NOW_TEXT = "2026-12-01T00:00:00Z"

# The rules these tests speak about; other families (headers, protocols) are ignored.
FAMILY = {
    "SSL101", "SSL102", "SSL103", "SSL104", "SSL105", "SSL106", "SSL201", "SSL202", "SSL203", "SSL204",
    "SSL301", "SSL302", "SSL303", "SSL304", "SSL502", "SSL503",
}

PKI = {
    "root": {"ca": True, "cn": "Chain Test Root"},
    "inter": {"ca": True, "issuer": "root", "cn": "Chain Test Inter"},
    "upper": {"ca": True, "issuer": "root", "cn": "Chain Upper CA"},
    "lower": {"ca": True, "issuer": "upper", "cn": "Chain Lower CA"},
    "old_inter": {"ca": True, "issuer": "root", "cn": "Chain Old Inter", "not_before": "2020-01-01",
                  "not_after": "2021-01-01"},
    "not_ca": {"issuer": "root", "cn": "Chain Not A CA"},
    "lost": {"ca": True, "issuer": "root", "cn": "Chain Lost Inter"},
    "other": {"ca": True, "issuer": "root", "cn": "Chain Unrelated CA"},
    "sha1_inter": {"ca": True, "issuer": "root", "cn": "Chain SHA1 Inter", "signature": "sha1"},
    "corp_root": {"ca": True, "cn": "Corp Root CA"},
    "corp_inter": {"ca": True, "issuer": "corp_root", "cn": "Corp Issuing CA"},
    # leaves: one per scenario
    "clean": {"issuer": "inter", "names": ["clean.test"]},
    "expired": {"issuer": "inter", "names": ["expired.test"], "not_before": "2020-01-01", "not_after": "2021-01-01"},
    "future": {"issuer": "inter", "names": ["future.test"], "not_before": "2031-01-01", "not_after": "2032-01-01"},
    "soon": {"issuer": "inter", "names": ["soon.test"], "not_before": "2026-09-01", "not_after": "2026-12-11"},
    "selfsigned": {"names": ["selfsigned.test"]},
    "corp": {"issuer": "corp_inter", "names": ["corp.test"]},
    "corp2_root": {"ca": True, "cn": "Corp Root CA 2"},
    "corp2_inter": {"ca": True, "issuer": "corp2_root", "cn": "Corp Issuing CA 2"},
    "corpnoroot": {"issuer": "corp2_inter", "names": ["corpnoroot.test"]},
    "oldinter": {"issuer": "old_inter", "names": ["oldinter.test"], "not_before": "2020-06-01",
                 "not_after": "2030-01-01"},
    "noca": {"issuer": "not_ca", "names": ["noca.test"]},
    "incomplete": {"issuer": "inter", "names": ["incomplete.test"]},
    "lostleaf": {"issuer": "lost", "names": ["lost.test"]},
    "wrongorder": {"issuer": "inter", "names": ["wrongorder.test"]},
    "reversed": {"issuer": "inter", "names": ["reversed.test"]},
    "misordered": {"issuer": "lower", "names": ["misordered.test"]},
    "withroot": {"issuer": "inter", "names": ["withroot.test"]},
    "extra": {"issuer": "inter", "names": ["extra.test"]},
    "duplicate": {"issuer": "inter", "names": ["duplicate.test"]},
    "mismatch": {"issuer": "inter", "names": ["mismatch.test"]},
    "nosan": {"issuer": "inter", "cn": "nosan.test"},
    "weakkey": {"issuer": "inter", "names": ["weakkey.test"], "key": "rsa1024"},
    "sha1": {"issuer": "inter", "names": ["sha1.test"], "signature": "sha1"},
    "sha1leaf": {"issuer": "sha1_inter", "names": ["sha1inter.test"]},
    "dup_first": {"issuer": "inter", "names": ["dup.test"], "cn": "dup.test (first block)"},
    "dup_second": {"issuer": "inter", "names": ["dup.test"], "cn": "dup.test (second block)"},
}


@dataclass(frozen=True)
class Scenario:
    host: str  # the server_name, the SNI and the hostname judged
    served: tuple[str, ...]  # entities in the certificate file, in order
    key: str  # entity whose key the key directive names
    rules: frozenset[str]  # exactly what sslint reports (within FAMILY)
    openssl: int  # openssl verify's code for the served chain
    live_ok: bool | None  # s_client's verdict on the running nginx; None: nginx refuses the config
    server_names: tuple[str, ...] = ()  # default: (host,)
    siblings: dict[str, tuple[str, ...]] = field(default_factory=dict)  # more files beside the certificate
    why: str = ""  # why a judge and sslint seem to disagree

    @property
    def directory(self) -> str:
        return self.host.replace(".", "_")

    @property
    def names(self) -> tuple[str, ...]:
        return self.server_names or (self.host,)


def _s(host, served, key, rules, openssl, live_ok, **extra) -> Scenario:
    return Scenario(host, tuple(served), key, frozenset(rules), openssl, live_ok, **extra)


# openssl codes: 9 not yet valid, 10 expired, 18 self-signed leaf, 19 self-signed root in chain,
# 20 unable to get local issuer, 26 unsuitable purpose (a CA sent as the leaf), 62 hostname mismatch,
# 79 invalid CA certificate.
SCENARIOS = [
    _s("clean.test", ["clean", "inter"], "clean", [], 0, True),
    _s("expired.test", ["expired", "inter"], "expired", ["SSL101"], 10, False),
    _s("future.test", ["future", "inter"], "future", ["SSL102"], 9, False),
    _s("soon.test", ["soon", "inter"], "soon", ["SSL103"], 0, True),
    _s("selfsigned.test", ["selfsigned"], "selfsigned", ["SSL104"], 18, False),
    _s("corp.test", ["corp", "corp_inter", "corp_root"], "corp", ["SSL105"], 19, False),
    _s("corpnoroot.test", ["corpnoroot", "corp2_inter"], "corpnoroot", ["SSL105"], 20, False,
       why="an internal root found nowhere: openssl cannot get the issuer of the intermediate"),
    _s("oldinter.test", ["oldinter", "old_inter"], "oldinter", ["SSL106"], 10, False),
    _s("noca.test", ["noca", "not_ca"], "noca", ["SSL106"], 79, False),
    _s("incomplete.test", ["incomplete"], "incomplete", ["SSL201"], 20, False,
       siblings={"chain.pem": ("inter",)}),
    _s("lost.test", ["lostleaf"], "lostleaf", ["SSL201"], 20, False),
    _s("wrongorder.test", ["inter", "wrongorder"], "wrongorder", ["SSL202"], 26, None,
       why="nginx -t refuses the key; openssl verify judges the CA certificate sent first"),
    _s("reversed.test", ["inter", "reversed"], "inter", ["SSL202", "SSL302"], 26, False,
       why="nginx starts with the CA's key and serves the CA as the site's certificate"),
    _s("misordered.test", ["misordered", "upper", "lower"], "misordered", ["SSL202"], 0, True,
       why="OpenSSL (and browsers) reorder intermediates; stricter clients do not"),
    _s("withroot.test", ["withroot", "inter", "root"], "withroot", ["SSL203"], 0, True),
    _s("extra.test", ["extra", "inter", "other"], "extra", ["SSL204"], 0, True),
    _s("duplicate.test", ["duplicate", "inter", "inter"], "duplicate", ["SSL204"], 0, True),
    _s("www.mismatch.test", ["mismatch", "inter"], "mismatch", ["SSL301"], 62, False,
       server_names=("mismatch.test", "www.mismatch.test")),
    _s("nosan.test", ["nosan", "inter"], "nosan", ["SSL302"], 0, True,
       why="OpenSSL falls back to the subject CN when there is no SAN; browsers do not"),
    _s("weakkey.test", ["weakkey", "inter"], "weakkey", ["SSL502"], 0, None,
       why="openssl verify checks no key size at its default auth level; nginx refuses 'ee key too small'"),
    _s("sha1.test", ["sha1", "inter"], "sha1", ["SSL503"], 0, None,
       why="openssl verify accepts SHA-1 at its default auth level; nginx refuses 'ca md too weak'"),
    _s("sha1inter.test", ["sha1leaf", "sha1_inter"], "sha1leaf", ["SSL503"], 0, None,
       why="as sha1.test, for the intermediate's signature"),
]

BY_HOST = {scenario.host: scenario for scenario in SCENARIOS}

# Virtual-server selection: a name only the plain-HTTP server knows, and a name claimed twice.
PLAIN_NAME = "plain.test"
DUP_NAME = "dup.test"


def files_spec(scenarios: list[Scenario]) -> dict:
    files: dict[str, object] = {"root.pem": ["root"]}
    for scenario in scenarios:
        files[f"{scenario.directory}/cert.pem"] = list(scenario.served)
        files[f"{scenario.directory}/key.pem"] = {"key": scenario.key}
        for name, entities in scenario.siblings.items():
            files[f"{scenario.directory}/{name}"] = list(entities)
        files[f"judge/{scenario.directory}/leaf.pem"] = [scenario.served[0]]
        if len(scenario.served) > 1:
            files[f"judge/{scenario.directory}/untrusted.pem"] = list(scenario.served[1:])
    for block in ("dup_first", "dup_second"):
        files[f"{block}/cert.pem"] = [block, "inter"]
        files[f"{block}/key.pem"] = {"key": block}
    return {"pki": PKI, "files": files}


def nginx_conf(directory: Path, scenarios: list[Scenario], tls: str, plain: str) -> str:
    """One nginx.conf serving every scenario by SNI on `tls`, plus the virtual-server cases.

    `tls` and `plain` are listen addresses ("127.0.0.1:443"); the first server is
    the default for `tls`. Paths are absolute so the file works from anywhere.
    """
    blocks = []
    for scenario in scenarios:
        blocks.append(
            f"    server {{\n"
            f"        listen {tls} ssl;\n"
            f"        server_name {' '.join(scenario.names)};\n"
            f"        ssl_certificate {directory / scenario.directory / 'cert.pem'};\n"
            f"        ssl_certificate_key {directory / scenario.directory / 'key.pem'};\n"
            f"    }}\n"
        )
    for block in ("dup_first", "dup_second"):
        blocks.append(
            f"    server {{\n"
            f"        listen {tls} ssl;\n"
            f"        server_name {DUP_NAME};\n"
            f"        ssl_certificate {directory / block / 'cert.pem'};\n"
            f"        ssl_certificate_key {directory / block / 'key.pem'};\n"
            f"    }}\n"
        )
    blocks.append(
        f"    server {{\n"
        f"        listen {plain};\n"
        f"        server_name {PLAIN_NAME};\n"
        f"        return 301 https://$host$request_uri;\n"
        f"    }}\n"
    )
    return "events {}\nhttp {\n    access_log off;\n" + "".join(blocks) + "}\n"
