#!/usr/bin/python3
"""A CONNECT-only proxy on 127.0.0.1 that asks for Negotiate and, unlike squid 5, sends its final
token (the Kerberos AP-REP) with the 200, so that a client can complete mutual authentication.

  negotiate-proxy.py KEYTAB LOG [honest|tamper|garbage]

The acceptor is real GSSAPI (Debian python3-gssapi over MIT krb5, the keytab of HTTP/<host>).
With `tamper` the final token is altered: a client that checks it must not use the tunnel. With
`garbage` the first token is answered with a 407 carrying a token that is not one. LOG gets
one line per event: "auth PRINCIPAL", "tunnel N" (bytes the client sent through the tunnel).
Prints the port it listens on, then serves until killed.
"""
import base64
import os
import socket
import sys
import threading

os.environ["KRB5_KTNAME"] = sys.argv[1]
import gssapi  # noqa: E402 (after KRB5_KTNAME)

LOG = sys.argv[2]
MODE = sys.argv[3] if len(sys.argv) > 3 else "honest"
lock = threading.Lock()


def log(line):
    with lock, open(LOG, "a") as f:
        f.write(line + "\n")


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return head[0], headers


def pipe(src, dst, count):
    try:
        while True:
            chunk = src.recv(65536)
            if not chunk:
                break
            if count is not None:
                count[0] += len(chunk)
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def deny(conn):
    conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Negotiate\r\n"
                 b"Content-Length: 0\r\n\r\n")


def serve(conn):
    ctx = gssapi.SecurityContext(usage="accept")
    while True:
        got = read_head(conn)
        if not got:
            return conn.close()
        line, headers = got
        if not line.startswith("CONNECT "):
            conn.sendall(b"HTTP/1.1 405 CONNECT only\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return conn.close()
        auth = headers.get("proxy-authorization", "")
        if not auth.lower().startswith("negotiate "):
            deny(conn)
            continue
        if MODE == "garbage":
            log("garbage")
            conn.sendall(b"HTTP/1.1 407 More\r\nProxy-Authenticate: Negotiate AAAAAAAA\r\nContent-Length: 0\r\n\r\n")
            continue
        try:
            out = ctx.step(base64.b64decode(auth.split(" ", 1)[1]))
        except gssapi.exceptions.GSSError as e:
            log("refused %s" % e)
            deny(conn)
            continue
        if not ctx.complete:
            conn.sendall(b"HTTP/1.1 407 More\r\nProxy-Authenticate: Negotiate %s\r\nContent-Length: 0\r\n\r\n"
                         % base64.b64encode(out or b""))
            continue
        log("auth %s" % ctx.initiator_name)
        final = bytearray(out or b"")
        if MODE == "tamper" and final:
            final[len(final) // 2] ^= 0xFF
        host, port = line.split(" ")[1].rsplit(":", 1)
        up = socket.create_connection((host, int(port)))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\nProxy-Authenticate: Negotiate %s\r\n\r\n"
                     % base64.b64encode(bytes(final)))
        count = [0]
        t = threading.Thread(target=pipe, args=(up, conn, None), daemon=True)
        t.start()
        pipe(conn, up, count)
        t.join()
        log("tunnel %d" % count[0])
        return conn.close()


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    print(srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
