#!/usr/bin/env python3
"""One CQL round trip over the native protocol v4, with the standard library only.

    cql_ping.py PORT [USER PASSWORD] [-- STATEMENT...]

Sends OPTIONS, STARTUP (then PLAIN credentials if the server asks for them) and
`SELECT release_version FROM system.local` to 127.0.0.1:PORT, and prints the version; then runs
each STATEMENT (at consistency ONE; results other than an error are discarded).
Exit 0: the node answers queries (and ran every statement). Exit 1: it does not (yet), it
refused the login, or a statement failed; the reason is on stderr. scripts/cassandra-node uses
it to wait until a node is ready (and for `cql`).
"""
import socket
import struct
import sys

OPTIONS, STARTUP, AUTH_RESPONSE, QUERY = 0x05, 0x01, 0x0F, 0x07
ERROR, READY, AUTHENTICATE, SUPPORTED, RESULT, AUTH_SUCCESS = 0x00, 0x02, 0x03, 0x06, 0x08, 0x10


def string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def long_string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)

    def call(self, opcode, body=b""):
        self.sock.sendall(struct.pack(">BBhBi", 0x04, 0, 0, opcode, len(body)) + body)
        header = self.read(9)
        _, _, _, op, length = struct.unpack(">BBhBi", header)
        body = self.read(length)
        if op == ERROR:
            code, = struct.unpack(">i", body[:4])
            n, = struct.unpack(">H", body[4:6])
            raise SystemExit(f"server error 0x{code:04x}: {body[6:6 + n].decode(errors='replace')}")
        return op, body

    def read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise SystemExit("connection closed by the server")
            data += chunk
        return data


def first_text_cell(body):
    """The first cell of a Rows result (kind 2) whose columns are all text."""
    kind, flags, columns = struct.unpack(">iii", body[:12])
    if kind != 2:
        raise SystemExit(f"unexpected result kind {kind}")
    pos = 12
    def skip_string():
        nonlocal pos
        n, = struct.unpack(">H", body[pos:pos + 2])
        pos += 2 + n
    if flags & 0x02:  # paging state
        n, = struct.unpack(">i", body[pos:pos + 4])
        pos += 4 + max(n, 0)
    if flags & 0x01:  # global table spec
        skip_string()
        skip_string()
    for _ in range(columns):
        if not flags & 0x01:
            skip_string()
            skip_string()
        skip_string()  # column name
        pos += 2  # type id (text: no parameters)
    rows, = struct.unpack(">i", body[pos:pos + 4])
    pos += 4
    if rows < 1:
        raise SystemExit("no row in system.local")
    n, = struct.unpack(">i", body[pos:pos + 4])
    return body[pos + 4:pos + 4 + n].decode()


def query(c, text):
    op, body = c.call(QUERY, long_string(text) + struct.pack(">HB", 0x0001, 0))  # consistency ONE
    if op != RESULT:
        raise SystemExit(f"QUERY answered with opcode {op}")
    return body


def main():
    args, statements = sys.argv[1:], []
    if "--" in args:
        args, statements = args[:args.index("--")], args[args.index("--") + 1:]
    if len(args) not in (1, 3):
        raise SystemExit(__doc__)
    port = int(args[0])
    try:
        c = Conn(port)
        op, _ = c.call(OPTIONS)
        if op != SUPPORTED:
            raise SystemExit(f"OPTIONS answered with opcode {op}")
        op, _ = c.call(STARTUP, struct.pack(">H", 1) + string("CQL_VERSION") + string("3.0.0"))
        if op == AUTHENTICATE:
            if len(args) != 3:
                raise SystemExit("the server asks for credentials: give USER PASSWORD")
            token = b"\0" + args[1].encode() + b"\0" + args[2].encode()
            op, _ = c.call(AUTH_RESPONSE, struct.pack(">i", len(token)) + token)
            if op != AUTH_SUCCESS:
                raise SystemExit(f"AUTH_RESPONSE answered with opcode {op}")
        elif op != READY:
            raise SystemExit(f"STARTUP answered with opcode {op}")
        print(first_text_cell(query(c, "SELECT release_version FROM system.local")))
        for text in statements:
            try:
                query(c, text)
            except SystemExit as e:
                raise SystemExit(f"{text}: {e}")
    except OSError as e:
        raise SystemExit(f"127.0.0.1:{port}: {e}")


if __name__ == "__main__":
    main()
