"""HTTP/1.1 plaintext server (TechEmpower's plaintext test) on an asyncio
Protocol: the Python twin of examples/http_server.c, for the HTTP workload
of shared/bench/WORKLOADS.md (variant "protocol").

usage: http_server.py [--loop asyncio|uvloop] [--host 127.0.0.1] [--port 8080]
                      [--idle-ms 10000] [--tls CERT KEY]

--tls CERT KEY serves HTTPS: create_server(..., ssl=ctx) with an
ssl.SSLContext(PROTOCOL_TLS_SERVER) holding that PEM chain and key (the
twin of examples/http_server --tls; the HTTPS workload of bench/run).

Same behaviour as the C server: GET/HEAD / and /plaintext answer 200
"Hello, World!" (Server, Date, Content-Type, Content-Length); keep-alive by
default for HTTP/1.1, HTTP/1.0 closes unless "Connection: keep-alive";
pipelining (every complete request of a read is answered in order, the
responses in one write); 400 and close on a malformed request line or header,
505 on a version other than 1.x, 431 and close past 8 KiB of header block or
100 header lines; 404 other paths, 405 other methods; Content-Length bodies are
discarded; an idle connection is closed after --idle-ms, a begun request must
be complete within --idle-ms of its first byte (else 408 and close).
Prints "listening on HOST:PORT" on stderr when ready; stops on SIGINT/SIGTERM.
"""
import argparse
import asyncio
import os
import re
import signal
import sys
import time
from email.utils import formatdate

HDR_LIMIT = 8 * 1024
MAX_HEADERS = 100

TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
REQUEST_LINE = re.compile(rb"(" + TCHAR + rb"+) ([\x21-\x7e\x80-\xff]+) HTTP/(\d)\.(\d)\Z")
HEADER = re.compile(rb"(" + TCHAR + rb"+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*\Z")
BAD_PREFIX = re.compile(rb"[\x00-\x08\x0a-\x0c\x0e-\x1f\x7f]")

REASONS = {400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed",
           408: b"Request Timeout", 431: b"Request Header Fields Too Large",
           505: b"HTTP Version Not Supported"}

_date = [0, b""]


def http_date():
    now = int(time.time())
    if now != _date[0]:
        _date[0] = now
        _date[1] = formatdate(now, usegmt=True).encode()
    return _date[1]


def error_response(status, minor, keep, head=False):
    reason = REASONS[status]
    conn = b"" if keep and minor else (b"Connection: keep-alive\r\n" if keep else b"Connection: close\r\n")
    allow = b"Allow: GET, HEAD\r\n" if status == 405 else b""
    return (b"HTTP/1.1 %d %s\r\nServer: asyncio\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\nDate: %s\r\n%s%s\r\n%s" %
            (status, reason, len(reason) + 1, http_date(), allow, conn,
             b"" if head else reason + b"\n"))


class Bad(Exception):
    def __init__(self, status):
        self.status = status


def parse(buf, start):
    """One request at buf[start:]. Returns None (incomplete) or
    (end, method, path, minor, keep_alive, content_length); raises Bad."""
    end_hdr = buf.find(b"\n\r\n", start)
    end_lf = buf.find(b"\n\n", start)
    if end_hdr < 0 and end_lf < 0:
        if buf.find(b"\n", start) < 0 and BAD_PREFIX.search(buf, start):
            raise Bad(400)
        if len(buf) - start > HDR_LIMIT:
            raise Bad(431)
        return None
    if end_hdr < 0 or (0 <= end_lf < end_hdr):
        end = end_lf + 2
    else:
        end = end_hdr + 3
    if end - start > HDR_LIMIT:
        raise Bad(431)
    lines = bytes(buf[start:end]).split(b"\n")
    lines.pop()  # after the final LF
    lines.pop()  # the empty line
    if len(lines) - 1 > MAX_HEADERS:
        raise Bad(431)
    first = lines[0]
    if first.endswith(b"\r"):
        first = first[:-1]
    m = REQUEST_LINE.match(first)
    if not m:
        raise Bad(400)
    method, target, major, minor = m.group(1), m.group(2), m.group(3), int(m.group(4))
    if major != b"1":
        raise Bad(505)
    close = keep = False
    hosts = 0
    length = None
    for line in lines[1:]:
        if line.endswith(b"\r"):
            line = line[:-1]
        h = HEADER.match(line)
        if not h:
            raise Bad(400)
        name = h.group(1).lower()
        if name == b"host":
            hosts += 1
        elif name == b"connection":
            for tok in re.split(rb"[ \t,]+", h.group(2).lower()):
                if tok == b"close":
                    close = True
                elif tok == b"keep-alive":
                    keep = True
        elif name == b"content-length":
            v = h.group(2)
            if not v.isdigit() or len(v) > 15 or (length is not None and int(v) != length):
                raise Bad(400)
            length = int(v)
        elif name == b"transfer-encoding":
            raise Bad(400)
    if (minor >= 1 and hosts != 1) or hosts > 1:
        raise Bad(400)
    keep_alive = (not close) if minor >= 1 else (keep and not close)
    q = target.find(b"?")
    path = target if q < 0 else target[:q]
    return end, method, path, minor, keep_alive, length or 0


class HttpProtocol(asyncio.Protocol):
    idle = 10.0

    def connection_made(self, transport):
        self.transport = transport
        self.buf = bytearray()
        self.discard = 0
        self.closing = False
        self.loop = asyncio.get_running_loop()
        self.timer = self.loop.call_later(self.idle, self.timeout)
        self.req_start = None

    def connection_lost(self, exc):
        self.timer.cancel()
        self.closing = True

    def timeout(self):
        if self.closing:
            return
        if self.buf:
            self.transport.write(error_response(408, 1, False))
        self.close()

    def close(self):
        self.closing = True
        self.timer.cancel()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        # the loop closes after the buffered data is sent; drop the rest
        self.loop.call_later(1.0, self.transport.close)

    def data_received(self, data):
        if self.closing:
            return
        if self.discard:
            d = min(self.discard, len(data))
            self.discard -= d
            data = data[d:]
        had_partial = bool(self.buf)
        buf = self.buf
        buf += data
        out = []
        pos = 0
        n = len(buf)
        while pos < n:
            if self.discard:
                d = min(self.discard, n - pos)
                pos += d
                self.discard -= d
                continue
            try:
                r = parse(buf, pos)
            except Bad as e:
                out.append(error_response(e.status, 1, False))
                self.closing = True
                break
            if r is None:
                break
            pos, method, path, minor, keep, length = r
            self.discard = length
            if path == b"/plaintext" or path == b"/":
                if method == b"GET" or method == b"HEAD":
                    conn = b"" if keep and minor else (
                        b"Connection: keep-alive\r\n" if keep else b"Connection: close\r\n")
                    out.append(b"HTTP/1.1 200 OK\r\nServer: asyncio\r\nContent-Type: text/plain\r\n"
                               b"Content-Length: 13\r\nDate: " + http_date() + b"\r\n" + conn +
                               (b"\r\n" if method == b"HEAD" else b"\r\nHello, World!"))
                else:
                    out.append(error_response(405, minor, keep))
            else:
                out.append(error_response(404, minor, keep, method == b"HEAD"))
            if not keep:
                self.closing = True
                break
        if out:
            self.transport.write(b"".join(out))
        if self.closing:
            self.buf = bytearray()
            self.closing = False
            self.close()
            return
        del buf[:pos]
        if buf and (not had_partial or pos):
            self.req_start = self.loop.time()
        self.timer.cancel()
        if buf:
            self.timer = self.loop.call_at(self.req_start + self.idle, self.timeout)
        else:
            self.timer = self.loop.call_later(self.idle, self.timeout)


def main():
    ap = argparse.ArgumentParser(description="HTTP plaintext server on an asyncio Protocol")
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--idle-ms", type=int, default=10000)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"),
                    help="serve HTTPS with this PEM certificate chain and key")
    a = ap.parse_args()
    HttpProtocol.idle = a.idle_ms / 1000.0

    if a.loop == "uvloop":
        try:
            import uvloop
        except ImportError as e:
            sys.stderr.write(f"uvloop is not importable by {sys.executable}: {e}\n")
            sys.exit(2)
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    ssl_ctx = None
    if a.tls:
        import ssl
        ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_ctx.load_cert_chain(a.tls[0], a.tls[1])
        ssl_ctx.set_alpn_protocols(["http/1.1"])

    async def serve():
        server = await loop.create_server(HttpProtocol, a.host, a.port, backlog=4096,
                                          reuse_address=True, ssl=ssl_ctx)
        port = server.sockets[0].getsockname()[1]
        sys.stderr.write(f"listening on {a.host}:{port}\n")
        sys.stderr.flush()
        stop = asyncio.Event()
        for s in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(s, stop.set)
        await stop.wait()
        server.close()

    try:
        loop.run_until_complete(serve())
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
