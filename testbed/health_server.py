"""A tiny HTTP service for a test-bed host: ``GET /health`` answers 200 ``ok``.

Run with the system interpreter, stdlib only and without site (``python3 -S``) so
fifty of them start in a blink: ``python3 -S health_server.py ADDRESS PORT WWW_DIR``.
Other paths are served from WWW_DIR (404 when missing).
"""

import os
import socket
import sys


def _respond(conn: socket.socket, www: str) -> None:
    conn.settimeout(5)
    request = conn.recv(4096).decode("latin-1")
    parts = request.split(" ", 2)
    path = parts[1] if len(parts) > 1 else "/"
    status, body = "404 Not Found", b"not found\n"
    if path == "/health":
        status, body = "200 OK", b"ok\n"
    else:
        file = os.path.realpath(os.path.join(www, path.lstrip("/")))
        if file.startswith(os.path.realpath(www) + os.sep) and os.path.isfile(file):
            with open(file, "rb") as fh:
                status, body = "200 OK", fh.read()
    head = f"HTTP/1.0 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    conn.sendall(head.encode() + body)


def main() -> None:
    address, port, www = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((address, port))
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        try:
            _respond(conn, www)
        except OSError:
            pass
        finally:
            conn.close()


if __name__ == "__main__":
    main()
