"""Apache configs -> TLS sites (nginxssl/sites_apache.py), and the command line on Apache trees.

Unit cases for mod_ssl's merging of the server config into virtual hosts;
the shared corpus (certbot's Debian, Gentoo and CentOS trees, Debian
bookworm, h5bp, httpd's templates) for robustness, with the TLS virtual hosts
each of certbot's trees defines derived independently of sslint: from the
`apache2ctl -S` output recorded with the compatibility trees, from certbot's
own `sites` lists, and from a line scan of the files. What apache2 itself
does with these sites is proven in test_apache_live.py and by the rule cases
(`apache_t` / `apache_start`).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
import typer.testing
from conftest import CORPUS, needs_corpus
from test_parse_apache import CERTBOT_APACHE, COMPAT_TREES, MULTIPLE_VHOSTS, corpus_mains, restore_symlinks, write
from text_report import blocks

from nginxssl.cli import lint_app
from nginxssl.discover.sniff import looks_like_apache
from nginxssl.model.node import Config
from nginxssl.model.site import Site
from nginxssl.parse.apache.envvars import service_defines
from nginxssl.parse.apache.reader import fragment_server_root, parse_apache
from nginxssl.sites import sites_of
from nginxssl.sites.apache import apache_sites

RUNNER = typer.testing.CliRunner()


def sites_in(tmp_path: Path, files: dict[str, str], main: str = "apache2.conf", **options) -> tuple[Site, ...]:
    write(tmp_path, files)
    return apache_sites(parse_apache(str(tmp_path / main), **options))


def only(sites: tuple[Site, ...]) -> Site:
    assert len(sites) == 1, [(site.file, site.line) for site in sites]
    return sites[0]


def raw_pairs(site: Site) -> list[tuple[str, str | None]]:
    return [(pair.cert.raw, pair.key.raw if pair.key else None) for pair in site.certs]


# --------------------------------------------------------------------------- one virtual host


def test_names_listens_and_files_of_a_tls_virtual_host(tmp_path: Path) -> None:
    site = only(sites_in(tmp_path, {"apache2.conf": (
        "<VirtualHost 192.0.2.1:443 [2001:db8::1]:443>\n"
        "    ServerName https://A.test:443\n"
        "    ServerAlias www.a.test *.a.test b?.a.test\n"
        "    SSLEngine on\n"
        "    SSLCertificateFile certs/a.pem\n"
        "    SSLCertificateKeyFile /etc/ssl/private/a.key\n"
        "    SSLCertificateChainFile certs/chain.pem\n"
        "    SSLCACertificateFile certs/clients.pem\n"
        "    SSLProtocol all -SSLv3 -TLSv1 -TLSv1.1\n"
        "</VirtualHost>\n"
    )}))
    assert (site.server, site.context, site.tls, site.line) == ("apache", "virtualhost", True, 1)
    assert site.name_list == ("a.test", "www.a.test", "*.a.test", "b?.a.test")
    assert [(listen.socket, listen.ssl) for listen in site.listens] == [
        ("192.0.2.1:443", True), ("[2001:db8::1]:443", True)]
    (pair,) = site.certs
    assert pair.cert.path == str(tmp_path / "certs/a.pem")  # relative to ServerRoot
    assert pair.key.path == "/etc/ssl/private/a.key"
    assert pair.chain.path == str(tmp_path / "certs/chain.pem") and pair.chain.node.line == 7
    assert site.trusted_certificate.raw == "certs/clients.pem"
    assert site.directives["sslprotocol"].args == ("all", "-SSLv3", "-TLSv1", "-TLSv1.1")
    assert not site.errors


def test_server_root_decides_relative_paths(tmp_path: Path) -> None:
    site = only(sites_in(tmp_path, {
        "conf/httpd.conf": f"ServerRoot {tmp_path}\nInclude conf/site.conf\n",
        "conf/site.conf": "<VirtualHost *:443>\nSSLEngine on\nSSLCertificateFile ssl/a.pem\n</VirtualHost>\n",
    }, main="conf/httpd.conf"))
    assert site.certs[0].cert.path == str(tmp_path / "ssl/a.pem")
    assert site.certs[0].key is None  # the key must then be in a.pem itself


def test_plain_http_virtual_hosts_are_not_sites(tmp_path: Path) -> None:
    assert sites_in(tmp_path, {"apache2.conf": (
        "<VirtualHost *:80>\nServerName a.test\n</VirtualHost>\n"
        "<VirtualHost *:443>\nServerName b.test\nSSLEngine off\n</VirtualHost>\n"
    )}) == ()


# --------------------------------------------------------------------------- when TLS is on


def test_sslengine_unset_follows_the_listener_protocol(tmp_path: Path) -> None:
    # mod_ssl switches TLS on for a vhost with certificates whose listener speaks https:
    # `Listen 443` does by default, `Listen 8443` only when it says so (proven live in
    # test_apache_live.py).
    sites = sites_in(tmp_path, {"apache2.conf": (
        "Listen 443\nListen 8443 https\nListen 8080\n"
        "<VirtualHost *:443>\nServerName a.test\nSSLCertificateFile a.pem\n</VirtualHost>\n"
        "<VirtualHost *:8443>\nServerName b.test\nSSLCertificateFile b.pem\n</VirtualHost>\n"
        "<VirtualHost *:8080>\nServerName c.test\nSSLCertificateFile c.pem\n</VirtualHost>\n"
        "<VirtualHost *:8080>\nServerName d.test\nProtocol https\nSSLCertificateFile d.pem\n</VirtualHost>\n"
        "<VirtualHost *:443>\nServerName e.test\n</VirtualHost>\n"
    )})
    assert [(site.label, site.tls) for site in sites] == [
        ("a.test", True), ("b.test", True), ("c.test", False), ("d.test", True)]


def test_sslengine_on_in_the_server_config_makes_every_vhost_tls(tmp_path: Path) -> None:
    sites = sites_in(tmp_path, {"apache2.conf": (
        "ServerName main.test\nSSLEngine on\nSSLCertificateFile main.pem\nSSLCertificateKeyFile main.key\n"
        "<VirtualHost *:443>\nServerName a.test\n</VirtualHost>\n"
        "<VirtualHost *:8443>\nServerName b.test\nSSLEngine off\n</VirtualHost>\n"
    )})
    assert [(site.context, site.label, site.tls) for site in sites] == [
        ("server", "main.test", True), ("virtualhost", "a.test", True)]
    assert raw_pairs(sites[1]) == [("main.pem", "main.key")]


def test_tls_without_a_certificate_is_a_start_failure(tmp_path: Path) -> None:
    site = only(sites_in(tmp_path, {"apache2.conf": "<VirtualHost *:443>\nSSLEngine on\n</VirtualHost>\n"}))
    ((node, message),) = site.errors
    assert node.line == 1 and "AH02572" in message


def test_server_only_directives_inside_a_vhost_are_errors(tmp_path: Path) -> None:
    site = only(sites_in(tmp_path, {"apache2.conf": (
        "<VirtualHost *:443>\nSSLEngine on\nSSLCertificateFile a.pem\nSSLPassPhraseDialog builtin\n</VirtualHost>\n"
    )}))
    assert [(node.line, message) for node, message in site.errors] == [
        (4, "SSLPassPhraseDialog cannot occur within <VirtualHost> section")]


# --------------------------------------------------------------------------- inheritance


def test_a_vhost_inherits_each_ssl_directive_it_does_not_set(tmp_path: Path) -> None:
    a, b = sites_in(tmp_path, {"apache2.conf": (
        "<VirtualHost *:443>\nServerName a.test\nSSLEngine on\nSSLProtocol TLSv1.2\n</VirtualHost>\n"
        "<VirtualHost *:443>\nServerName b.test\nSSLEngine on\nSSLCertificateFile b.pem\n"
        "SSLCertificateKeyFile b.key\n</VirtualHost>\n"
        # the server config counts wherever it stands: httpd merges after reading everything
        "SSLCertificateFile main.pem\nSSLCertificateKeyFile main.key\nSSLProtocol all\nSSLProtocol -all +TLSv1.3\n"
        "SSLCertificateChainFile main-chain.pem\nSSLPassPhraseDialog exec:/usr/local/bin/pass\n"
    )})
    assert raw_pairs(a) == [("main.pem", "main.key")] and raw_pairs(b) == [("b.pem", "b.key")]
    assert a.directives["sslprotocol"].args == ("TLSv1.2",)
    assert b.directives["sslprotocol"].args == ("-all", "+TLSv1.3")  # the last line wins
    assert a.certs[0].chain.raw == b.certs[0].chain.raw == "main-chain.pem"
    assert b.directives["sslpassphrasedialog"].args == ("exec:/usr/local/bin/pass",)


def test_certificate_lists_merge_position_by_position(tmp_path: Path) -> None:
    # mod_ssl (2.4.8+): a vhost's entries replace the server config's at the same
    # positions; the remaining server-config entries stay. The live proof is the
    # SSL005 case "apache virtual host pairs its certificate with the server config's key".
    a, b = sites_in(tmp_path, {"apache2.conf": (
        "SSLCertificateFile rsa.pem\nSSLCertificateKeyFile rsa.key\n"
        "SSLCertificateFile ec.pem\nSSLCertificateKeyFile ec.key\n"
        "<VirtualHost *:443>\nServerName a.test\nSSLEngine on\nSSLCertificateFile a-rsa.pem\n"
        "SSLCertificateKeyFile a-rsa.key\n</VirtualHost>\n"
        "<VirtualHost *:443>\nServerName b.test\nSSLEngine on\nSSLCertificateFile b.pem\n</VirtualHost>\n"
    )})
    assert raw_pairs(a) == [("a-rsa.pem", "a-rsa.key"), ("ec.pem", "ec.key")]
    assert raw_pairs(b) == [("b.pem", "rsa.key"), ("ec.pem", "ec.key")]


def test_a_certificate_without_its_own_key_file_holds_its_key(tmp_path: Path) -> None:
    site = only(sites_in(tmp_path, {"apache2.conf": (
        "<VirtualHost *:443>\nSSLEngine on\nSSLCertificateFile rsa.pem\nSSLCertificateKeyFile rsa.key\n"
        "SSLCertificateFile ec-with-key.pem\n</VirtualHost>\n"
    )}))
    assert raw_pairs(site) == [("rsa.pem", "rsa.key"), ("ec-with-key.pem", None)]


# --------------------------------------------------------------------------- addresses


def test_addresses_default_and_any_port(tmp_path: Path) -> None:
    sites = sites_in(tmp_path, {"apache2.conf": (
        "ServerName main.test:8443\n"
        "<VirtualHost _default_:443>\nSSLEngine on\nSSLCertificateFile d.pem\n</VirtualHost>\n"
        "<VirtualHost *:443>\nServerName a.test\nSSLEngine on\nSSLCertificateFile a.pem\n</VirtualHost>\n"
        "<VirtualHost *:443>\nServerName b.test\nSSLEngine on\nSSLCertificateFile b.pem\n</VirtualHost>\n"
        "<VirtualHost 192.0.2.1:*>\nServerName c.test\nSSLEngine on\nSSLCertificateFile c.pem\n</VirtualHost>\n"
        "<VirtualHost 192.0.2.2>\nServerName d.test\nSSLEngine on\nSSLCertificateFile d.pem\n</VirtualHost>\n"
    )})
    listens = [[(listen.address, listen.port, listen.default_server) for listen in site.listens] for site in sites]
    assert listens == [
        [("*", 443, True)],  # _default_ is `*` in httpd 2.4; the first vhost of *:443 answers unknown names
        [("*", 443, False)],
        [("*", 443, False)],
        # any port: no Listen in view, so on each port the other vhosts name (tests/test_routing.py)
        [("192.0.2.1", 443, True), ("192.0.2.1", 8443, True)],
        [("192.0.2.2", 8443, True)],  # no port: the main server's, from its ServerName
    ]
    # no ServerName on a wildcard address: the server config's (apache2 -S: 'namevhost main.test'), at the vhost
    assert [(entry.name, entry.node.line) for entry in sites[0].names if entry.node] == [("main.test", 2)]


# --------------------------------------------------------------------------- lone files


def test_a_lone_vhost_file(tmp_path: Path) -> None:
    write(tmp_path, {"site.conf": (
        "SSLProtocol -all +TLSv1.2\n"
        "<VirtualHost *:443>\nServerName a.test\nSSLCertificateFile ${SSL_DIR}/a.pem\n"
        "SSLCertificateKeyFile a.key\n</VirtualHost>\n"
    )})
    site = only(apache_sites(parse_apache(str(tmp_path / "site.conf"), fragment=True)))
    assert site.tls  # port 443 with certificates: https unless a Listen says otherwise
    assert site.certs[0].cert.dynamic and site.certs[0].cert.path is None  # defined where we cannot see
    assert site.certs[0].key.path == str(tmp_path / "a.key")
    assert site.directives["sslprotocol"].args == ("-all", "+TLSv1.2")


def test_a_lone_snippet_of_ssl_directives(tmp_path: Path) -> None:
    write(tmp_path, {"ssl.conf": "SSLCertificateFile a.pem\nSSLCertificateKeyFile a.key\n"})
    site = only(apache_sites(parse_apache(str(tmp_path / "ssl.conf"), fragment=True)))
    assert (site.context, site.tls, site.names, raw_pairs(site)) == ("snippet", True, (), [("a.pem", "a.key")])


def test_server_config_certificates_nobody_inherits_are_still_checked(tmp_path: Path) -> None:
    site = only(sites_in(tmp_path, {"apache2.conf": (
        "SSLCertificateFile a.pem\n<VirtualHost *:80>\nServerName a.test\n</VirtualHost>\n")}))
    assert (site.context, site.tls, site.names, raw_pairs(site)) == ("server", False, (), [("a.pem", None)])
    # a TLS vhost that replaces the server config's only certificate does not use it either
    main, vhost = sites_in(tmp_path, {"apache2.conf": (
        "SSLCertificateFile a.pem\n<VirtualHost *:443>\nSSLEngine on\nSSLCertificateFile b.pem\n</VirtualHost>\n")})
    assert (main.context, raw_pairs(main), raw_pairs(vhost)) == ("server", [("a.pem", None)], [("b.pem", None)])


def test_the_server_root_of_a_lone_site_file(tmp_path: Path) -> None:
    write(tmp_path, {
        "debian/apache2/apache2.conf": "", "debian/apache2/sites-available/a.conf": "",
        "rhel/httpd/conf/httpd.conf": "", "rhel/httpd/conf.d/a.conf": "",
        "loose/a.conf": "",
    })
    debian = fragment_server_root(str(tmp_path / "debian/apache2/sites-available/a.conf"))
    assert debian == str(tmp_path / "debian/apache2")
    assert fragment_server_root(str(tmp_path / "rhel/httpd/conf.d/a.conf")) == str(tmp_path / "rhel/httpd")
    assert fragment_server_root(str(tmp_path / "loose/a.conf")) is None


# --------------------------------------------------------------------------- -D flags of the service


@needs_corpus
def test_service_defines_of_gentoo_and_centos() -> None:
    gentoo, path = service_defines(str(CERTBOT_APACHE / "gentoo_apache/apache/apache2/httpd.conf"))
    assert gentoo == ("DEFAULT_VHOST", "INFO", "SSL", "SSL_DEFAULT_VHOST", "LANGUAGE")
    assert path.endswith("gentoo_apache/apache/conf.d/apache2")
    centos, path = service_defines(str(CERTBOT_APACHE / "centos7_apache/apache/httpd/conf/httpd.conf"))
    # OPTIONS="-D mock_define -D mock_define_too -D mock_value=TRUE -DMOCK_NOSEP -DNOSEP_TWO=NOSEP_VAL":
    # httpd's -D takes the word verbatim; only plain names can ever match an <IfDefine>.
    assert centos == ("mock_define", "mock_define_too", "MOCK_NOSEP")
    assert path.endswith("centos7_apache/apache/sysconfig/httpd")


def test_service_defines_never_execute_anything(tmp_path: Path) -> None:
    write(tmp_path, {
        "etc/apache2/httpd.conf": "",
        "etc/conf.d/apache2": 'APACHE2_OPTS="-D SSL $(touch pwned) -D X"\nAPACHE2_OPTS="-D SSL -DPROXY"\n',
    })
    assert service_defines(str(tmp_path / "etc/apache2/httpd.conf"))[0] == ("SSL", "PROXY")
    (tmp_path / "etc/conf.d/apache2").write_text('APACHE2_OPTS="-D SSL `touch pwned`"\n')
    assert service_defines(str(tmp_path / "etc/apache2/httpd.conf"))[0] == ()
    assert not list(tmp_path.rglob("pwned"))


# --------------------------------------------------------------------------- the corpus


def tree_copy(main: Path, tmp_path: Path) -> Path:
    """A writable copy of a corpus tree with its symlinks restored; returns the copy's main file.

    The copy starts where the tree's distribution layout starts (certbot's
    `sites` lists sit there, beside Gentoo's conf.d/ and CentOS' sysconfig/).
    """
    top = next((parent for parent in main.parents if (parent / "sites").is_file()), main.parent)
    if top == CORPUS or CORPUS not in top.parents:
        top = main.parent
    copy = restore_symlinks(top, tmp_path / top.name)
    return copy / main.relative_to(top)


def lint_tree(main: Path) -> tuple[Config, tuple[Site, ...]]:
    config = parse_apache(str(main), defines=service_defines(str(main))[0])
    return config, sites_of(config)


@needs_corpus
@pytest.mark.parametrize("main", corpus_mains(), ids=lambda path: str(path.relative_to(CORPUS)))
def test_every_corpus_tree_yields_sites(main: Path, tmp_path: Path) -> None:
    for config, sites in (lint_tree(main), lint_tree(tree_copy(main, tmp_path))):
        for site in sites:
            assert site.server == "apache" and site.file in config.files
            assert site.tls or site.certs
            for pair in site.certs:
                assert pair.cert.node.directive == "sslcertificatefile"


@needs_corpus
def test_every_corpus_file_yields_sites_as_a_lone_file() -> None:
    started = time.monotonic()
    count = with_sites = 0
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and looks_like_apache(str(path)):
            sites = apache_sites(parse_apache(str(path), fragment=True))
            count += 1
            with_sites += bool(sites)
    assert count > 150 and with_sites > 20
    assert time.monotonic() - started < 60


def scanned_tls_vhosts(files: list[Path]) -> set[tuple[str, int]]:
    """(file name, line) of every `<VirtualHost>` a line scan finds TLS in, without sslint's parser:
    `SSLEngine on` in the block, or a `:443` address and a certificate (mod_ssl's https default)."""
    found = set()
    for file in files:
        lines = file.read_text().splitlines()
        start = None
        body: list[str] = []
        for number, line in enumerate(lines, start=1):
            stripped = line.strip()
            if re.match(r"<VirtualHost\s", stripped, re.IGNORECASE):
                start, body = number, [stripped]
            elif re.match(r"</VirtualHost>", stripped, re.IGNORECASE) and start is not None:
                text = "\n".join(body)
                engine = re.search(r"^SSLEngine\s+on\b", text, re.IGNORECASE | re.MULTILINE)
                https = ":443" in body[0] and re.search(r"^SSLCertificateFile\s", text, re.IGNORECASE | re.MULTILINE)
                if engine or https:
                    found.add((file.name, start))
                start = None
            elif start is not None:
                body.append(stripped)
    return found


def tls_vhosts(sites: tuple[Site, ...]) -> set[tuple[str, int]]:
    return {(os.path.basename(site.file), site.line) for site in sites if site.tls and site.context == "virtualhost"}


@needs_corpus
def test_certbot_multiple_vhosts_tls_hosts(tmp_path: Path) -> None:
    root = restore_symlinks(MULTIPLE_VHOSTS, tmp_path / "apache2")
    # As shipped, mod_ssl is not enabled: every SSL site sits in <IfModule mod_ssl.c>.
    assert lint_tree(root / "apache2.conf")[1] == ()
    (root / "mods-enabled/ssl.load").symlink_to("../mods-available/ssl.load")
    (root / "mods-enabled/ssl.conf").symlink_to("../mods-available/ssl.conf")
    config, sites = lint_tree(root / "apache2.conf")
    expected = scanned_tls_vhosts(sorted((root / "sites-enabled").glob("*.conf")))
    assert tls_vhosts(sites) == expected == {
        ("default-ssl.conf", 2), ("default-ssl-port-only.conf", 2), ("duplicatehttps.conf", 2), ("ocsp-ssl.conf", 3)}
    by_file = {os.path.basename(site.file): site for site in sites}
    assert by_file["ocsp-ssl.conf"].name_list == ("ocspvhost.com",)
    assert by_file["duplicatehttps.conf"].listens[0].socket == "10.2.3.4:443"
    assert by_file["default-ssl-port-only.conf"].directives.get("sslengine") is None  # on by `Listen 443`
    for site in sites:
        assert raw_pairs(site) == [("/etc/apache2/certs/certbot-cert_5.pem", "/etc/apache2/ssl/key-certbot_15.pem")]
        # Debian's mods-available/ssl.conf, inherited from the server config
        assert site.directives["sslpassphrasedialog"].args == ("exec:/usr/share/apache2/ask-for-passphrase",)


@needs_corpus
@pytest.mark.parametrize("name", ["augeas_vhosts", "default_vhost", "multi_vhosts"])
def test_certbot_debian_trees_without_tls(name: str, tmp_path: Path) -> None:
    root = restore_symlinks(CERTBOT_APACHE / "debian_apache_2_4" / name / "apache2", tmp_path / "apache2")
    config, sites = lint_tree(root / "apache2.conf")
    read = [Path(file) for file in config.files if file.endswith(".conf")]
    assert tls_vhosts(sites) == scanned_tls_vhosts(read) == set()
    assert sites == ()


@needs_corpus
@pytest.mark.parametrize("name", ["simple_vhost", "two_vhost_80", "vhost_with_tls"])
def test_compatibility_trees_tls_hosts_match_apache2ctl(name: str, tmp_path: Path) -> None:
    source = COMPAT_TREES / name
    root = restore_symlinks(source / "apache2", tmp_path / "apache2")
    _, sites = lint_tree(root / "apache2.conf")
    # `apache2ctl -S` as recorded: the *:443 lines are the TLS hosts (the trees listen on 443 for TLS only).
    recorded = {
        (os.path.basename(file), int(line), server_name)
        for server_name, file, line in re.findall(
            r"^\*:443\s+(\S+) \((/[^:()]+):(\d+)\)", (source / "vhosts").read_text(), re.MULTILINE)
    }
    ours = {(os.path.basename(site.file), site.line, site.label) for site in sites if site.tls}
    assert ours == recorded
    assert bool(recorded) == (name == "vhost_with_tls")


@needs_corpus
def test_gentoo_ssl_vhost_needs_the_service_flags(tmp_path: Path) -> None:
    main = tree_copy(CERTBOT_APACHE / "gentoo_apache/apache/apache2/httpd.conf", tmp_path)
    assert apache_sites(parse_apache(str(main))) == ()  # without -D SSL, mod_ssl is not even loaded
    _, sites = lint_tree(main)
    # certbot's own list of the tree's hosts (file, name), narrowed to the files that speak TLS
    listed = [line.split(", ") for line in (main.parents[1] / "sites").read_text().splitlines() if line]
    expected = {(os.path.basename(file), name) for file, name in listed
                if "SSLEngine on" in (main.parent / file).read_text()}
    assert {(os.path.basename(site.file), site.label) for site in sites} == expected == {
        ("00_default_ssl_vhost.conf", "localhost")}
    (site,) = sites
    assert raw_pairs(site) == [("/etc/ssl/apache2/server.crt", "/etc/ssl/apache2/server.key")]
    assert site.directives["sslprotocol"].args == ("ALL", "-SSLv2", "-SSLv3")


@needs_corpus
def test_centos_ssl_conf_has_tls_but_no_certificate(tmp_path: Path) -> None:
    main = tree_copy(CERTBOT_APACHE / "centos7_apache/apache/httpd/conf/httpd.conf", tmp_path)
    _, sites = lint_tree(main)
    ssl_conf = main.parents[1] / "conf.d/ssl.conf"
    assert re.search(r"^SSLEngine on", ssl_conf.read_text(), re.MULTILINE)
    assert not re.search(r"^\s*SSLCertificateFile", ssl_conf.read_text(), re.MULTILINE)
    (site,) = sites
    assert (os.path.basename(site.file), site.line, site.certs) == ("ssl.conf", 56, ())
    assert "AH02572" in site.errors[0][1]


# --------------------------------------------------------------------------- the command line


def sslint(*args: str) -> typer.testing.Result:
    return RUNNER.invoke(lint_app, list(args), catch_exceptions=False)


@pytest.fixture
def broken_tree(tmp_path: Path) -> Path:
    """A Debian-style tree: one good TLS site, one whose key belongs to another certificate."""
    from pki import build

    etc = tmp_path / "apache2"
    build({"pki": {"root": {"ca": True}, "a": {"issuer": "root", "names": ["a.test"]},
                   "b": {"issuer": "root", "names": ["b.test"]}},
           "files": {"ssl/a.pem": ["a", "root"], "ssl/a.key": {"key": "a"},
                     "ssl/b.pem": ["b", "root"], "ssl/b-old.key": {"key": "a"}}}, etc)
    write(etc, {
        "apache2.conf": "Include ports.conf\nIncludeOptional sites-enabled/*.conf\n",
        "ports.conf": "Listen 443\n",
        "sites-enabled/a.conf": (
            "<VirtualHost *:443>\n    ServerName a.test\n    SSLEngine on\n"
            f"    SSLCertificateFile {etc}/ssl/a.pem\n    SSLCertificateKeyFile {etc}/ssl/a.key\n</VirtualHost>\n"),
        "sites-enabled/b.conf": (
            "<VirtualHost *:443>\n    ServerName b.test\n    SSLEngine on\n"
            f"    SSLCertificateFile {etc}/ssl/b.pem\n    SSLCertificateKeyFile {etc}/ssl/b-old.key\n"
            "</VirtualHost>\n"),
    })
    return etc


def test_cli_lints_an_apache_tree(broken_tree: Path) -> None:
    result = sslint(str(broken_tree), "--select", "SSL0")
    assert result.exit_code == 1, result.output
    (line,) = [line for line in blocks(result.output) if "SSL005" in line]
    assert line.startswith(f"{broken_tree}/sites-enabled/b.conf:5: SSL005")
    assert "apache2 will fail to start" in line and "nginx" not in result.output
    assert "2 TLS sites" in result.output


def test_cli_lints_a_lone_vhost_file(broken_tree: Path) -> None:
    site = broken_tree / "sites-enabled" / "b.conf"
    result = sslint(str(site), "--select", "SSL0")
    assert result.exit_code == 1 and "b.conf:5: SSL005" in result.output
    assert "1 error in 1 TLS site" in result.output
    good = sslint(str(broken_tree / "sites-enabled" / "a.conf"), "--select", "SSL0")
    assert good.exit_code == 0, good.output


def test_cli_json_says_apache(broken_tree: Path) -> None:
    result = sslint(str(broken_tree), "--select", "SSL0", "--format", "json")
    report = json.loads(result.stdout)
    (finding,) = report["findings"]
    assert (finding["rule"], finding["server"], finding["names"]) == ("SSL005", "apache", ["b.test"])
    assert finding["line"] == 5
    assert report["summary"]["configs"] == [str(broken_tree / "apache2.conf")]


def test_cli_finds_httpd_conf_in_conf(tmp_path: Path) -> None:
    write(tmp_path, {"conf/httpd.conf": (
        f"ServerRoot {tmp_path}\n<VirtualHost *:443>\nServerName a.test\nSSLEngine on\n"
        "SSLCertificateFile missing.pem\n</VirtualHost>\n")})
    result = sslint(str(tmp_path), "--select", "SSL0", "--format", "json")
    (finding,) = json.loads(result.stdout)["findings"]
    assert (finding["rule"], finding["server"], finding["line"]) == ("SSL002", "apache", 5)
    assert finding["file"] == str(tmp_path / "conf/httpd.conf")
    assert "`apache2 -t` fails" in finding["message"]


def test_cli_server_apache_forces_the_reader(tmp_path: Path) -> None:
    # A file of Include lines reads as nginx to the detector; --server apache says otherwise.
    write(tmp_path, {
        "main.conf": "Include vhosts/*.conf\n",
        "vhosts/a.conf": "<VirtualHost *:443>\nServerName a.test\nSSLEngine on\n</VirtualHost>\n",
    })
    assert not looks_like_apache(str(tmp_path / "main.conf"))
    forced = sslint(str(tmp_path / "main.conf"), "--server", "apache", "--select", "SSL0", "--format", "json")
    (finding,) = json.loads(forced.stdout)["findings"]
    assert (finding["rule"], finding["server"]) == ("SSL001", "apache")
    assert finding["file"] == str(tmp_path / "vhosts/a.conf") and "AH02572" in finding["message"]
    as_nginx = sslint(str(tmp_path / "main.conf"), "--select", "SSL0", "--format", "json")
    assert all(f["server"] == "nginx" for f in json.loads(as_nginx.stdout)["findings"])


def test_cli_server_apache_on_a_directory_without_an_apache_main(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {}\n")
    result = RUNNER.invoke(lint_app, [str(tmp_path), "--server", "apache"])
    assert result.exit_code == 2 and "apache2.conf" in result.output


def test_cli_lone_site_file_resolves_against_its_trees_server_root(broken_tree: Path) -> None:
    # httpd resolves relative paths against ServerRoot (/etc/apache2), not sites-available/.
    write(broken_tree, {
        "conf-available/tls.conf": "SSLProtocol -all +TLSv1.2 +TLSv1.3\n",
        "sites-available/c.conf": (
            "<VirtualHost *:443>\n    ServerName a.test\n    SSLEngine on\n    Include conf-available/tls.conf\n"
            "    SSLCertificateFile ssl/a.pem\n    SSLCertificateKeyFile ssl/a.key\n</VirtualHost>\n"),
    })
    lone = broken_tree / "sites-available" / "c.conf"
    result = sslint(str(lone), "--select", "SSL0", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["sites"] == 1  # found, and its files load
    config = parse_apache(str(lone), fragment=True, server_root=str(broken_tree))
    (site,) = sites_of(config)
    assert site.certs[0].cert.path == str(broken_tree / "ssl/a.pem")
    assert site.directives["sslprotocol"].file == str(broken_tree / "conf-available/tls.conf")
