"""A WebSocket server that misbehaves on purpose, for the browser tests.

Usage: misbehaving_server.py GOOD_HOST:PORT
Listens on 127.0.0.1 on a free port and prints "127.0.0.1:PORT" once it listens.

Every URL carries `?run=ID` (a fresh id per test). The first connection of a run
misbehaves as its path says; every later connection of that run is proxied, byte
for byte, to the good server's /ws, so the client's reconnect meets a real server.

  /linger-close  welcomes; on a frame of type "close.me" sends a Close frame
                 (1001, {"retry_after_ms":50}), then keeps the TCP connection
                 open and ignores everything the client sends, its close reply too
  /bad-welcome   answers hello with a welcome the SDK cannot read
                 (`&variant=no-epoch`: no epoch; `&variant=wrong-type`:
                 heartbeat_ms is a string), then closes properly when the client does
  /push          welcomes; on a frame of type "push.me" sends its `data` back as a
                 frame of its own (say {"type": "job.progress", "data": {...}}), as a
                 server push of an application type
  /report        a WebSocket that answers the page's first frame with what
                 happened in the run as JSON, {"connections": N, "close_codes": [...]},
                 and closes
"""

import asyncio
import base64
import hashlib
import json
import struct
import sys
from urllib.parse import parse_qs, urlsplit

GOOD_HOST, GOOD_PORT = sys.argv[1].rsplit(":", 1)
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
LINGER_S = 60
runs = {}


def welcome(variant=None):
    data = {
        "connection_id": "misbehaving-1", "user_id": "someone", "session": "misbehaving-session",
        "epoch": "misbehaving-epoch", "heartbeat_ms": 10000, "max_message_bytes": 65536,
        "resumed": False, "protocol": 1,
    }
    if variant == "no-epoch":
        del data["epoch"]
    elif variant == "wrong-type":
        data["heartbeat_ms"] = "10000"
    return json.dumps({"type": "welcome", "data": data, "ts": 0})


def frame(opcode, payload):
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def close_frame(code, reason=""):
    return frame(0x8, struct.pack("!H", code) + reason.encode())


async def read_frame(reader):
    """One client frame: (opcode, unmasked payload)."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
    payload = await reader.readexactly(n)
    return b0 & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def accept(writer, headers):
    key = headers["sec-websocket-key"]
    accept_key = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
    protocol = "Sec-WebSocket-Protocol: wsguard.v1\r\n" if "wsguard.v1" in offered else ""
    writer.write(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key}\r\n{protocol}\r\n"
        ).encode()
    )
    await writer.drain()


async def linger_close(reader, writer):
    async for message in iter_frames(reader):
        if message.get("type") == "hello":
            writer.write(frame(0x1, welcome().encode()))
        elif message.get("type") == "close.me":
            writer.write(close_frame(1001, json.dumps({"retry_after_ms": 50})))
            await writer.drain()
            # Misbehave: keep the connection open, read and ignore everything.
            try:
                await asyncio.wait_for(reader.read(-1), LINGER_S)
            except asyncio.TimeoutError:
                pass
            return
        await writer.drain()


async def push(reader, writer):
    async for message in iter_frames(reader):
        if message.get("type") == "hello":
            writer.write(frame(0x1, welcome().encode()))
        elif message.get("type") == "push.me":
            writer.write(frame(0x1, json.dumps({**message.get("data", {}), "ts": 0}).encode()))
        await writer.drain()


async def iter_frames(reader):
    """Text frames until the client's close frame or EOF."""
    try:
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == 0x8:
                return
            if opcode == 0x1:
                yield json.loads(payload)
    except asyncio.IncompleteReadError:
        return


async def bad_welcome(reader, writer, run, variant):
    try:
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == 0x1 and json.loads(payload).get("type") == "hello":
                writer.write(frame(0x1, welcome(variant).encode()))
                await writer.drain()
            elif opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                run["close_codes"].append(code)
                writer.write(close_frame(code))
                await writer.drain()
                return
    except asyncio.IncompleteReadError:
        run["close_codes"].append(1006)


async def proxy(reader, writer, head):
    up_reader, up_writer = await asyncio.open_connection(GOOD_HOST, int(GOOD_PORT))
    request_line, rest = head.split(b"\r\n", 1)
    method, _, version = request_line.split(b" ")
    up_writer.write(b" ".join([method, b"/ws", version]) + b"\r\n" + rest)

    async def pipe(src, dst):
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except ConnectionError:
            pass
        finally:
            dst.close()

    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def handle(reader, writer):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode().split("\r\n")
        target = urlsplit(request_line.split(" ")[1])
        query = {k: v[0] for k, v in parse_qs(target.query).items()}
        headers = {}
        for line in lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        run = runs.setdefault(query.get("run", ""), {"connections": 0, "close_codes": []})
        if target.path == "/report":
            await accept(writer, headers)
            await read_frame(reader)  # the page asks once its socket is open
            writer.write(frame(0x1, json.dumps(run).encode()))
            writer.write(close_frame(1000))
            await writer.drain()
            return
        run["connections"] += 1
        if run["connections"] > 1:
            await proxy(reader, writer, head)
            return
        await accept(writer, headers)
        if target.path == "/linger-close":
            await linger_close(reader, writer)
        elif target.path == "/push":
            await push(reader, writer)
        elif target.path == "/bad-welcome":
            await bad_welcome(reader, writer, run, query.get("variant"))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
