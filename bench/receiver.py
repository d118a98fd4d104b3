"""Webhook receivers for the notifications benchmark, in a process of their own (so that they take no time from
the notifier being measured): `python -m bench.receiver` prints its port, then serves until killed.

- `POST /<anything>`: answered `204` at once; the time it arrived is kept by path.
- `POST /maybe-slow/<anything>`: the same, unless slow mode is on (`POST /mode` with `{"slow": true}`): then the
  status line is sent a byte a second, and the time the sender gave up (closed the connection) is kept.
- `GET /results`: `{"arrived": {path: [epoch seconds...]}, "slow": {path: [[arrived, given up]...]}}`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

SLOW_PREFIX = "/maybe-slow/"
_STATUS = b"HTTP/1.1 204 No Content\r\n"


class Receivers:
    def __init__(self) -> None:
        self.slow = False
        self.arrived: dict[str, list[float]] = {}
        self.trickled: dict[str, list[list[float]]] = {}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, path = head.split(b" ", 2)[:2]
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            body = await reader.readexactly(length) if length else b""
            now, where = time.time(), path.decode()
            if method == b"GET" and where == "/results":
                self._answer(writer, 200, json.dumps({"arrived": self.arrived, "slow": self.trickled}).encode())
            elif method == b"POST" and where == "/mode":
                self.slow = bool(json.loads(body)["slow"])
                self.arrived.clear()
                self.trickled.clear()
                self._answer(writer, 204)
            elif where.startswith(SLOW_PREFIX) and self.slow:
                await self._trickle(reader, writer, self.trickled.setdefault(where, []), now)
            else:
                self.arrived.setdefault(where, []).append(now)
                self._answer(writer, 204)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: list[list[float]],
                       arrived: float) -> None:
        attempt = [arrived, 0.0]
        record.append(attempt)
        for byte in _STATUS * 100:
            writer.write(bytes([byte]))
            try:  # a second between bytes, unless the sender closes the connection first
                if await asyncio.wait_for(reader.read(1), timeout=1.0) == b"":
                    break
            except TimeoutError:
                continue
        attempt[1] = time.time()

    @staticmethod
    def _answer(writer: asyncio.StreamWriter, status: int, body: bytes = b"") -> None:
        reason = {200: b"OK", 204: b"No Content"}[status]
        writer.write(b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (status, reason, len(body))
                     + body)


async def main() -> None:
    receivers = Receivers()
    server = await asyncio.start_server(receivers.serve, "127.0.0.1", 0, backlog=2048)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def results(url: str) -> dict[str, Any]:
    """What the receivers at `url` saw."""
    import requests

    response = requests.get(f"{url}/results", timeout=30)
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


if __name__ == "__main__":
    asyncio.run(main())
