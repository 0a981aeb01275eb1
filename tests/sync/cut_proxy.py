"""A tiny HTTP proxy that cuts the connection at chosen byte offsets of chosen answers.

One request per connection (``Connection: close`` both ways), so each answer is whole in the
proxy before it decides how much of it the station gets. ``plan["pull"]`` / ``plan["push"]``
are lists of fractions in [0, 1): the next matching answer is cut after its header plus that
fraction of its body, then the socket is closed. Anything else passes untouched.
"""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass, field


def _recv_until(sock: socket.socket, marker: bytes, data: bytes = b"") -> tuple[bytes, bytes]:
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data, b""
        data += chunk
    head, _, rest = data.partition(marker)
    return head + marker, rest


def _read_exact(sock: socket.socket, size: int, data: bytes) -> bytes:
    while len(data) < size:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _read_all(sock: socket.socket) -> bytes:
    parts = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


@dataclass
class CuttingProxy:
    target_port: int
    plan: dict[str, list[float]] = field(default_factory=lambda: {"pull": [], "push": []})
    cuts: list[tuple[str, int, int]] = field(default_factory=list)  # (kind, offset, answer size)

    def __post_init__(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True, name="cutting-proxy")
        self._thread.start()

    def close(self) -> None:
        self._stop = True
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self._thread.join(timeout=5)
        self._sock.close()

    def pending_cuts(self) -> int:
        with self._lock:
            return sum(len(v) for v in self.plan.values())

    def _serve(self) -> None:
        while not self._stop:
            client, _addr = self._sock.accept()
            if self._stop:
                client.close()
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _kind(self, request_line: bytes) -> str:
        if request_line.startswith(b"POST /v1/sync/push"):
            return "push"
        if request_line.startswith(b"GET /v1/sync/pull") and b"stream=data" in request_line:
            return "pull"
        return ""

    def _handle(self, client: socket.socket) -> None:
        try:
            head, rest = _recv_until(client, b"\r\n\r\n")
            if not head:
                return
            match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            body = _read_exact(client, int(match.group(1)), rest) if match else rest
            head = re.sub(rb"(?im)^connection:[^\r\n]*", b"Connection: close", head)
            if b"connection: close" not in head.lower():
                head = head[:-2] + b"Connection: close\r\n\r\n"
            with socket.create_connection(("127.0.0.1", self.target_port)) as upstream:
                upstream.sendall(head + body)
                answer = _read_all(upstream)
            kind = self._kind(head.split(b"\r\n", 1)[0])
            fraction = None
            with self._lock:
                if kind and self.plan.get(kind):
                    fraction = self.plan[kind].pop(0)
            if fraction is None:
                client.sendall(answer)
                return
            header_end = answer.find(b"\r\n\r\n") + 4
            offset = header_end + int(fraction * (len(answer) - header_end))
            with self._lock:
                self.cuts.append((kind, offset, len(answer)))
            client.sendall(answer[:offset])
        except OSError:
            pass
        finally:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            client.close()
