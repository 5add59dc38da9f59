"""Benchmark peer: Python `websockets` broadcast server. Every text frame goes to every other client.

python python_websockets.py 127.0.0.1:PORT
"""

import asyncio
import sys

from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosed

CLIENTS = set()


async def handler(ws):
    CLIENTS.add(ws)
    try:
        async for message in ws:
            broadcast(CLIENTS - {ws}, message)
    except ConnectionClosed:
        pass
    finally:
        CLIENTS.discard(ws)


async def main():
    host, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:3004").rsplit(":", 1)
    async with serve(handler, host, int(port), max_queue=None):
        print(f"listening on {host}:{port}", flush=True)
        await asyncio.Future()


asyncio.run(main())
