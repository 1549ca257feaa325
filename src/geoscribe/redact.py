"""Public forms of URLs and texts: nothing secret is ever stored or printed.

Rule for a URL (`public_url`): keep the scheme, host, port and path; drop the user-info
(`user:password@`), the whole query string and the fragment. Query parameters are dropped
whatever their names (a deny-list of `token`, `key`, `sig`, ... would miss the next name).
An `@` anywhere before the host is taken as the end of the user-info, so a password holding
`@`, `/`, `?` or `#` typed without percent-encoding is dropped too. A secret put in the path
itself cannot be told apart from the path and is not detected.

The full URL is only ever held in memory, by the HTTP client that connects with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+(%[^\]]*)?\]|[^\s/?#@\[\]:]*)(:\d*)?(?=[/?#]|$)")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+")
MASK = "***"


def _split(url: str) -> tuple[str, str, str]:
    """(scheme with '://' or '', user-info with its '@' or '', the rest)."""
    match = _SCHEME.match(url)
    scheme = match.group(0) if match else ""
    rest = url[len(scheme):]
    cut = -1
    for at in (i for i, ch in enumerate(rest) if ch == "@"):  # the last '@' before a host
        if _HOST.match(rest, at + 1):
            cut = at
    return scheme, rest[:cut + 1], rest[cut + 1:]


def url_parts(url: str) -> tuple[str, list[str]]:
    """(the public form of `url`, the parts it drops: user, password, query, fragment), from
    one parse (see the module rule)."""
    scheme, userinfo, rest = _split(url.strip())
    kept = re.split(r"[?#]", rest, maxsplit=1)[0]
    parts = []
    if userinfo:
        user, _, password = userinfo[:-1].partition(":")
        parts += [userinfo[:-1], user, password]
    for item in re.split(r"[&;#]", rest[len(kept):].lstrip("?#")):
        parts += [item, item.partition("=")[2]]
    return scheme + kept, [p for p in parts if p]


def public_url(url: str) -> str:
    """`url` without user-info, query string and fragment (see the module rule)."""
    return url_parts(url)[0]


def public_spec(spec: str) -> str:
    """A source option's value as outputs may show it: `kind:URL` (a live source, e.g.
    `overpass:https://...`) with its URL made public; anything else as is."""
    head, sep, rest = spec.partition(":")
    if sep and re.match(r"^[A-Za-z][\w-]*$", head) and _SCHEME.match(rest):
        return f"{head}:{public_url(rest)}"
    return spec


def url_secrets(url: str) -> list[str]:
    """The parts of `url` that `public_url` drops (user, password, query, fragment)."""
    return url_parts(url)[1]


def redact_text(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """`text` with every URL in it made public and every secret (as given, percent-decoded
    or percent-encoded) replaced by `***`; secrets shorter than 4 characters are kept (they
    would mask ordinary words)."""
    text = _URL_IN_TEXT.sub(lambda m: public_url(m.group(0)), text)
    forms = {form for s in secrets if s for form in (s, unquote(s), quote(s, safe=""))}
    for secret in sorted((f for f in forms if len(f) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


@dataclass(frozen=True)
class PublicNames:
    """Renames the builder's real input paths to the names outputs use (their uris) in skip
    reasons (`read_error:<path>`), mapping keys and messages."""

    names: dict[str, str]  # real path -> public name

    def text(self, text: str) -> str:
        """`text` with every renamed path in it replaced (longest first)."""
        for path in sorted(self.names, key=len, reverse=True):
            if self.names[path] != path:
                text = text.replace(path, self.names[path])
        return text

    def reason(self, reason: str) -> str:
        """A skip reason `kind:<path>` with the path renamed."""
        kind, sep, rest = reason.partition(":")
        return f"{kind}{sep}{self.names.get(rest, rest)}" if sep else reason

    def mapping(self, data: dict) -> dict:
        """`data` keyed by public names, its text values renamed too."""
        return {self.names.get(k, k): self.text(v) if isinstance(v, str) else v
                for k, v in data.items()}


def public_llm(text: str) -> str:
    """The public form of an `--llm` value: MODEL, or MODEL@URL without credentials."""
    model, sep, url = text.partition("@")
    if not sep:
        return redact_text(text)
    public, secrets = url_parts(url)
    return redact_text(f"{model}{sep}{public}", secrets)
