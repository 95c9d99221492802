"""Which server a lone file is written for, from its text (httpd's logical lines)."""

from __future__ import annotations

import re

from nginxssl.discover.sysroot import MAX_CONFIG_BYTES, read_text


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first physical line, stripped text) of every non-blank logical line.

    A backslash as the last character of a line (after a CR, which httpd drops)
    joins the next line; this happens before comments are recognised, so a
    comment ending in a backslash swallows the next line, as in httpd.
    A NUL ends its physical line: httpd reads each line into a C string
    (ap_cfg_getline), so what follows the NUL is never read (`apache2 -t` on
    `SSLFoo\\0PASSWORD=x` says "Invalid command 'SSLFoo'").
    """
    physical = text.split("\n")
    out: list[tuple[int, str]] = []
    index = 0
    while index < len(physical):
        first = index + 1
        pieces = []
        while True:
            piece = physical[index].split("\x00", 1)[0].rstrip("\r")
            index += 1
            if piece.endswith("\\") and index < len(physical):
                pieces.append(piece[:-1])
                continue
            pieces.append(piece[:-1] if piece.endswith("\\") else piece)
            break
        joined = "".join(pieces).strip()
        if joined:
            out.append((first, joined))
    return out


_APACHE_SECTION = re.compile(
    r"</?(VirtualHost|Directory|DirectoryMatch|Location|LocationMatch|Files|FilesMatch|IfModule|IfDefine|"
    r"IfVersion|Proxy|ProxyMatch|Macro|Limit|LimitExcept|RequireAll|RequireAny|If|Else|ElseIf)\b",
    re.IGNORECASE,
)


_APACHE_DIRECTIVE = re.compile(
    r"(ServerName|ServerAlias|SSLCertificateFile|SSLCertificateKeyFile|SSLCertificateChainFile|SSLEngine|"
    r"SSLProtocol|SSLCipherSuite|DocumentRoot|ServerAdmin|ErrorLog|CustomLog|LoadModule|IncludeOptional|"
    r"RewriteEngine|RewriteRule|Header|Redirect|Listen|Options|AllowOverride|Require)\s",
    re.IGNORECASE,
)


# Apache's directives are CamelCase by convention (ServerTokens, AddType);
# nginx's are snake_case.
_CAMEL_CASE_DIRECTIVE = re.compile(r"[A-Z][a-z]+[A-Z][A-Za-z]*\s+\S")


def looks_like_apache(path: str) -> bool:
    """Whether a lone file reads as Apache configuration rather than nginx.

    Apache: a `<Section>`, a well-known or a CamelCase directive, on a line
    that does not end with `;`. Nginx: any line that opens a `{` block or
    starts with a closing `}`.
    """
    try:
        text = read_text(path, limit=MAX_CONFIG_BYTES)
    except OSError:
        return False
    apache = False
    for _, content in logical_lines(text):
        if content.startswith("#"):
            continue
        if content.startswith("-----BEGIN "):
            return False  # PEM material
        if content.endswith("{") or content.startswith("}"):
            return False
        if content.endswith(";"):
            continue
        if (
            _APACHE_SECTION.match(content)
            or _APACHE_DIRECTIVE.match(content + " ")
            or _CAMEL_CASE_DIRECTIVE.match(content)
        ):
            apache = True
    return apache
