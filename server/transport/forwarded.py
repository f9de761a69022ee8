"""The client's address behind reverse proxies: `Forwarded` (RFC 7239) and `X-Forwarded-For`.

Those headers are anyone's to write, so they are believed only from the socket peers named in
`trusted_proxies` (docs/sites.md 9). Each proxy appends the address it got the request from, so
the chain reads left to right from the client to the last proxy, and the socket peer comes
after it. Walking it from the right, every trusted proxy is passed over; the first address that
is not one is the client's: whatever stands to its left was written by that client, or by
proxies nobody vouches for. If the whole chain is trusted, its leftmost address is the client's.

When a trusted proxy sends `Forwarded`, that header is read and `X-Forwarded-For` is not. A
header that can't be read, or a hop whose address is not given (`for=unknown`, an obfuscated
name, an element without `for`), leaves the socket peer as the address: the proxy is trusted,
so its own address is true if not precise. That is logged at DEBUG, without the header's
content. Hand-written because the standard library has no RFC 7239 parser, and the grammar is
small: elements separated by commas, pairs by semicolons, values a token or a quoted string.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

logger = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_TCHARS: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PAIR: Final = re.compile(rf'[ \t]*({_TCHARS})=({_TCHARS}|"(?:[^"\\]|\\.)*")[ \t]*')
_V4_PORT: Final = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}")
_V6_PORT: Final = re.compile(r"\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?")
# A chain longer than this is not a real deployment's; it is read as malformed.
MAX_HOPS: Final = 32


class Malformed(ValueError):
    """A forwarding header that can't be read, or a hop without an address."""


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The proxies whose forwarding headers are believed, and the reading of those headers."""

    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, networks: Iterable[str]) -> TrustedProxies:
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def trusts(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def client(
        self, peer: str | None, forwarded: Sequence[str], forwarded_for: Sequence[str]
    ) -> str:
        """The client's address, given the socket peer and every value of each header."""
        if peer is None:
            return "unknown"
        peer_address = _address(peer)
        if peer_address is None or not self.trusts(peer_address):
            return peer
        header, values = (
            ("Forwarded", forwarded) if forwarded else ("X-Forwarded-For", forwarded_for)
        )
        if not values:
            return str(peer_address)
        try:
            chain = forwarded_chain(values) if forwarded else forwarded_for_chain(values)
        except Malformed:
            logger.debug("Ignored an unreadable %s header from proxy %s", header, peer_address)
            return str(peer_address)
        return str(self._rightmost_untrusted([*chain, peer_address]))

    def _rightmost_untrusted(self, chain: list[Address]) -> Address:
        for address in reversed(chain):
            if not self.trusts(address):
                return address
        return chain[0]


def forwarded_chain(values: Sequence[str]) -> list[Address]:
    """The `for=` addresses of `Forwarded` headers, in order; Malformed if one can't be read."""
    chain: list[Address] = []
    for value in values:
        for element in _elements(value):
            if "for" not in element:
                raise Malformed("an element without for=")
            chain.append(_node(element["for"]))
            if len(chain) > MAX_HOPS:
                raise Malformed("too many hops")
    return chain


def forwarded_for_chain(values: Sequence[str]) -> list[Address]:
    """The addresses of `X-Forwarded-For` headers, in order; Malformed if one can't be read."""
    items = [item.strip() for value in values for item in value.split(",")]
    if len(items) > MAX_HOPS:
        raise Malformed("too many hops")
    return [_node(item) for item in items]


def _elements(value: str) -> list[dict[str, str]]:
    """The forwarded-elements of one header value: each a map of lower-cased names to values."""
    elements: list[dict[str, str]] = []
    element: dict[str, str] = {}
    position = 0
    while True:
        match = _PAIR.match(value, position)
        if match is None:
            raise Malformed("not a forwarded-pair")
        name, raw = match.group(1).lower(), match.group(2)
        if name in element:
            raise Malformed("a parameter given twice in one element")
        element[name] = _unquoted(raw)
        position = match.end()
        if position == len(value):
            elements.append(element)
            return elements
        separator = value[position]
        position += 1
        if separator == ",":
            elements.append(element)
            element = {}
        elif separator != ";":
            raise Malformed("an unexpected character between pairs")


def _unquoted(raw: str) -> str:
    if raw.startswith('"'):
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    return raw


def _node(text: str) -> Address:
    """An address as a proxy writes it: bare, `v4:port`, `[v6]` or `[v6]:port`."""
    if (v6 := _V6_PORT.fullmatch(text)) is not None:
        text = v6.group(1)
    elif (v4 := _V4_PORT.fullmatch(text)) is not None:
        text = v4.group(1)
    address = _address(text)
    if address is None:
        raise Malformed("not an address")
    return address


def _address(text: str) -> Address | None:
    """`text` as an IP address (an IPv4-mapped IPv6 one as IPv4), or None."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
