"""A small authoritative DNS server on loopback for tests (DKIM keys, SPF, DMARC).

It answers from in-memory records over UDP and TCP on the same ``127.0.0.1`` port,
chosen by the kernel (port 0). Records: TXT, A, AAAA, MX, and any other type in zone
file text through :meth:`DnsServer.add` (PTR, CNAME, SPF...); a CNAME is answered for
every type, followed by its target's records when the server holds them, as an
authoritative server does. A name (or one type at a name) can be made to time out (no
answer at all) or a name to answer SERVFAIL, so tests reach the temperror paths.
Names that hold no record answer NXDOMAIN; names that hold other types answer NODATA.
Answers too big for the client's UDP size come back truncated (TC), so a resolver
retries over TCP, as it would against a real server.

    with DnsServer() as dns:
        dns.add_txt("sel._domainkey.example.gov.vn", "v=DKIM1; k=ed25519; p=...")
        resolver_port = dns.port
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

_TXT_CHUNK = 255  # RFC 1035 section 3.3.14: one character-string is at most 255 octets


def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text.rstrip(".") + ".")


def _txt_rdata(value: str | bytes | Iterable[bytes]) -> dns.rdata.Rdata:
    """One TXT record; a long str/bytes value is split into 255-octet strings."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, bytes):
        chunks = [value[i : i + _TXT_CHUNK] for i in range(0, len(value), _TXT_CHUNK)] or [b""]
    else:
        chunks = list(value)
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT,
                               " ".join(quoted(c) for c in chunks))


def quoted(string: bytes) -> str:
    """One character-string in zone file text: printable ASCII as it is, the rest
    (line breaks, control and non-ASCII octets) escaped as ``\\DDD``."""
    return '"' + "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\{b:03d}"
                         for b in string) + '"'


@dataclass
class Query:
    """One question the server received."""

    name: str
    rdtype: str
    transport: str  # "udp" or "tcp"


@dataclass
class _Zone:
    records: dict[tuple[dns.name.Name, int], list[dns.rdata.Rdata]] = field(default_factory=dict)
    timeouts: set[dns.name.Name] = field(default_factory=set)
    type_timeouts: set[tuple[dns.name.Name, int]] = field(default_factory=set)
    servfails: set[dns.name.Name] = field(default_factory=set)


class DnsServer:
    """An in-memory DNS server on 127.0.0.1 (UDP and TCP, same kernel-chosen port)."""

    host = "127.0.0.1"

    def __init__(self, *, txt: Mapping[str, str | bytes | list[str | bytes]] | None = None) -> None:
        self._zone = _Zone()
        self._lock = threading.Lock()
        self.queries: list[Query] = []
        self.port = 0
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        for name, value in (txt or {}).items():
            for one in value if isinstance(value, list) else [value]:
                self.add_txt(name, one)

    # -- records -----------------------------------------------------------------
    def _add(self, name: str, rdtype: int, rdata: dns.rdata.Rdata) -> None:
        with self._lock:
            self._zone.records.setdefault((_name(name), rdtype), []).append(rdata)

    def add_txt(self, name: str, value: str | bytes | Iterable[bytes]) -> None:
        """Add one TXT record; a long value is split into 255-octet strings."""
        self._add(name, dns.rdatatype.TXT, _txt_rdata(value))

    def add_a(self, name: str, address: str) -> None:
        """Add one A record."""
        self._add(name, dns.rdatatype.A,
                  dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.A, address))

    def add_aaaa(self, name: str, address: str) -> None:
        """Add one AAAA record."""
        self._add(name, dns.rdatatype.AAAA,
                  dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.AAAA, address))

    def add_mx(self, name: str, preference: int, exchange: str) -> None:
        """Add one MX record."""
        self._add(name, dns.rdatatype.MX, dns.rdata.from_text(
            dns.rdataclass.IN, dns.rdatatype.MX, f"{preference} {exchange.rstrip('.')}."))

    def add(self, name: str, rdtype: str, text: str) -> None:
        """Add one record of any type, its data in zone file text (``"PTR"``,
        ``"mail.example.com."``); a relative name in the data is taken from the root."""
        kind = dns.rdatatype.from_text(rdtype)
        self._add(name, kind, dns.rdata.from_text(dns.rdataclass.IN, kind, text,
                                                  origin=dns.name.root, relativize=False))

    def remove(self, name: str, rdtype: str | None = None) -> None:
        """Forget a name's records (of one type, or all) and its failure modes."""
        target = _name(name)
        with self._lock:
            for key in [k for k in self._zone.records if k[0] == target]:
                if rdtype is None or key[1] == dns.rdatatype.from_text(rdtype):
                    del self._zone.records[key]
            if rdtype is None:
                self._zone.timeouts.discard(target)
                self._zone.servfails.discard(target)

    def set_timeout(self, name: str, rdtype: str | None = None) -> None:
        """Never answer questions about ``name`` (only of type ``rdtype``, when given):
        the client times out."""
        with self._lock:
            if rdtype is None:
                self._zone.timeouts.add(_name(name))
            else:
                self._zone.type_timeouts.add((_name(name), dns.rdatatype.from_text(rdtype)))

    def set_servfail(self, name: str) -> None:
        """Answer SERVFAIL to questions about ``name``."""
        with self._lock:
            self._zone.servfails.add(_name(name))

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Bind UDP and TCP on one free loopback port and serve in a thread."""
        for _ in range(20):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((self.host, 0))
            port = udp.getsockname()[1]
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, port))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(16)
            break
        else:  # pragma: no cover - the kernel kept giving taken ports
            raise RuntimeError("could not bind UDP and TCP on the same loopback port")
        self.port = port
        self._udp, self._tcp = udp, tcp
        self._thread = threading.Thread(target=self._serve, name=f"dns-{port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the sockets."""
        if self._thread is None:
            return
        self._wake_w.send(b"x")
        self._thread.join(timeout=10)
        self._thread = None
        self._udp.close()
        self._tcp.close()

    def __enter__(self) -> DnsServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        self._wake_r.close()
        self._wake_w.close()

    @property
    def address(self) -> str:
        """``HOST:PORT``, as the ``--dns`` options take it."""
        return f"{self.host}:{self.port}"

    # -- serving -----------------------------------------------------------------
    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._udp, selectors.EVENT_READ, "udp")
        sel.register(self._tcp, selectors.EVENT_READ, "accept")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        buffers: dict[socket.socket, bytes] = {}
        try:
            while True:
                for key, _ in sel.select():
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if key.data == "wake":
                        for conn in buffers:
                            conn.close()
                        return
                    if key.data == "udp":
                        wire, peer = sock.recvfrom(65535)
                        reply = self._answer(wire, "udp")
                        if reply is not None:
                            sock.sendto(reply, peer)
                    elif key.data == "accept":
                        conn, _ = sock.accept()
                        buffers[conn] = b""
                        sel.register(conn, selectors.EVENT_READ, "tcp")
                    else:
                        self._read_tcp(sock, buffers, sel)
        finally:
            sel.close()

    def _read_tcp(self, conn: socket.socket, buffers: dict[socket.socket, bytes],
                  sel: selectors.BaseSelector) -> None:
        data = conn.recv(65535)
        if not data:
            sel.unregister(conn)
            del buffers[conn]
            conn.close()
            return
        buf = buffers[conn] + data
        while len(buf) >= 2:
            (length,) = struct.unpack("!H", buf[:2])
            if len(buf) < 2 + length:
                break
            wire, buf = buf[2 : 2 + length], buf[2 + length :]
            reply = self._answer(wire, "tcp")
            if reply is not None:
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        buffers[conn] = buf

    def _rrsets(self, name: dns.name.Name, rdtype: int) -> list[dns.rrset.RRset]:
        """The answer section: ``name``'s records of ``rdtype``, or its CNAME followed
        through the names held here (a loop ends where a name repeats)."""
        answer: list[dns.rrset.RRset] = []
        seen: set[dns.name.Name] = set()
        while name not in seen:
            seen.add(name)
            rdatas = self._zone.records.get((name, rdtype), [])
            cname = self._zone.records.get((name, dns.rdatatype.CNAME), [])
            if rdatas or rdtype == dns.rdatatype.CNAME or not cname:
                if rdatas:
                    answer.append(dns.rrset.from_rdata_list(name, 300, rdatas))
                break
            answer.append(dns.rrset.from_rdata_list(name, 300, cname))
            name = cname[0].target  # type: ignore[attr-defined]
        return answer

    def _answer(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        self.queries.append(Query(question.name.to_text(omit_final_dot=True),
                                  dns.rdatatype.to_text(question.rdtype), transport))
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        with self._lock:
            if question.name in self._zone.timeouts \
                    or (question.name, question.rdtype) in self._zone.type_timeouts:
                return None
            if question.name in self._zone.servfails:
                response.set_rcode(dns.rcode.SERVFAIL)
                return response.to_wire()
            known = any(name == question.name for name, _ in self._zone.records)
            answer = self._rrsets(question.name, question.rdtype)
        if not known:
            response.set_rcode(dns.rcode.NXDOMAIN)
        response.answer.extend(answer)
        if transport == "tcp":
            return response.to_wire()
        max_size = max(query.payload, 512) if query.edns >= 0 else 512
        try:
            return response.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            response.answer.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()
