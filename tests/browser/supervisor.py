"""Runs wsguard-server for the browser tests and lets a page stop and restart it.

Usage: supervisor.py SERVER_BIN SERVER_PORT CONTROL_PORT [server flags...]
The page connects to ws://127.0.0.1:CONTROL_PORT and sends "restart <down_ms>":
the server is killed (SIGKILL, no goodbye) and started again on the same port
after down_ms; the supervisor answers "up" once it listens again.
"""

import asyncio
import signal
import socket
import subprocess
import sys
import time

from websockets.asyncio.server import serve

BIN, PORT, CONTROL = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
FLAGS = sys.argv[4:]
server = None


def start():
    global server
    server = subprocess.Popen([BIN, "--addr", f"127.0.0.1:{PORT}", *FLAGS], stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", PORT)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError("server did not come up")


async def control(ws):
    async for message in ws:
        command, _, arg = message.partition(" ")
        if command == "restart":
            server.kill()
            server.wait()
            await asyncio.sleep(int(arg or "0") / 1000)
            start()
            await ws.send("up")


async def main():
    start()
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(control, "127.0.0.1", CONTROL):
        print("ready", flush=True)
        await stop
    server.terminate()
    server.wait()


asyncio.run(main())
