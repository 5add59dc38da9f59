"""A second, independent client of wsguard protocol v1, written in Python from
docs/PROTOCOL.md alone. It drives a real wsguard-server binary through the
handshake, rooms, replies, errors, resume and every close code the server sends.

Usage: python client_from_spec.py path/to/wsguard-server
Prints one line per case and a closing "N passed, N failed" line.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.request

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

BIN = sys.argv[1]
ADMIN = "adm"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*extra):
    port = free_port()
    args = [BIN, "--addr", f"127.0.0.1:{port}", "--insecure-dev-auth", "--admin-token", ADMIN, *extra]
    proc = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


SERVER, PORT = start_server(
    "--heartbeat-ms", "400", "--handshake-timeout-ms", "300", "--max-message-bytes", "65536",
    "--max-frames-per-sec", "20", "--outbound-queue-bytes", "65536", "--max-connections-per-user", "2",
)
URL = f"ws://127.0.0.1:{PORT}/ws"


async def open_ws(ping_interval=0.1, **kw):
    return await connect(URL, subprotocols=["wsguard.v1"], ping_interval=ping_interval, **kw)


async def recv(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def send(ws, frame):
    await ws.send(json.dumps(frame))


async def hello(ws, token, resume=None):
    data = {"token": token}
    if resume:
        data["resume"] = resume
    await send(ws, {"type": "hello", "data": data})
    welcome = await recv(ws)
    assert welcome["type"] == "welcome", welcome
    return welcome["data"]


async def until(ws, predicate):
    while True:
        frame = await recv(ws)
        if predicate(frame):
            return frame


async def close_code(ws, timeout=5):
    """Reads until the server closes; returns (code, reason)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame"
        return closed.rcvd.code, closed.rcvd.reason


def http_publish(room, data):
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/api/rooms/{room}/publish", data=json.dumps(data).encode(),
        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


async def case_session():
    async with await open_ws() as ws:
        assert ws.subprotocol == "wsguard.v1"
        welcome = await hello(ws, "alice")
        assert welcome["user_id"] == "alice" and welcome["protocol"] == 1 and welcome["resumed"] is False
        await send(ws, {"type": "join", "id": "1", "room": "py:room"})
        ack = await recv(ws)
        assert ack["type"] == "ack" and ack["id"] == "1" and ack["data"]["room"] == "py:room", ack
        base = ack["data"]["seq"]
        await send(ws, {"type": "publish", "id": "2", "room": "py:room", "data": {"text": "hi"}})
        got = [await recv(ws), await recv(ws)]
        by_type = {f["type"]: f for f in got}
        assert by_type["ack"]["data"]["seq"] == base + 1
        message = by_type["message"]
        assert message["seq"] == base + 1 and message["from"] == "alice" and message["data"] == {"text": "hi"}
        assert isinstance(message["ts"], int)
        await send(ws, {"type": "echo", "id": "3", "data": [1, {"a": None}]})
        reply = await until(ws, lambda f: f.get("id") == "3")
        assert reply["type"] == "reply" and reply["data"] == [1, {"a": None}], reply
        await send(ws, {"type": "ping", "id": "4"})
        assert (await until(ws, lambda f: f.get("id") == "4"))["type"] == "pong"
        await send(ws, {"type": "leave", "id": "5", "room": "py:room"})
        assert (await until(ws, lambda f: f.get("id") == "5"))["data"] == {"room": "py:room"}


async def case_errors():
    async with await open_ws() as ws:
        await send(ws, {"type": "join", "id": "early", "room": "r"})
        assert (await recv(ws))["data"]["code"] == "handshake_required"
        await hello(ws, "bob")
        for frame, code in [
            ({"type": "nope", "id": "a"}, "unknown_type"),
            ({"type": "publish", "id": "b", "room": "r", "data": 1}, "not_joined"),
            ({"type": "join", "id": "c", "room": "user:alice"}, "forbidden"),
            ({"type": "join", "id": "d"}, "bad_frame"),
        ]:
            await send(ws, frame)
            error = await recv(ws)
            assert error["type"] == "error" and error["id"] == frame["id"] and error["data"]["code"] == code, error
        await ws.send("this is not json")
        assert (await recv(ws))["data"]["code"] == "bad_frame"


async def case_resume():
    async with await open_ws() as ws:
        welcome = await hello(ws, "carol")
        await send(ws, {"type": "join", "id": "j", "room": "py:resume"})
        seq = (await recv(ws))["data"]["seq"]
    http_publish("py:resume", {"n": 1})
    http_publish("py:resume", {"n": 2})
    async with await open_ws() as ws:
        resume = {"session": welcome["session"], "epoch": welcome["epoch"], "rooms": {"py:resume": seq}}
        again = await hello(ws, "carol", resume)
        assert again["resumed"] is True and again["session"] == welcome["session"]
        replayed = [await recv(ws), await recv(ws)]
        assert [m["data"]["n"] for m in replayed] == [1, 2]
        resumed = await recv(ws)
        assert resumed["type"] == "resumed"
        assert resumed["data"]["rooms"]["py:resume"] == {"from": seq + 1, "to": seq + 2, "complete": True}


async def case_1000_normal_close():
    ws = await open_ws()
    await hello(ws, "dave")
    await ws.close(1000)
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1000


async def case_4401_unauthorized():
    async with await open_ws() as ws:
        await send(ws, {"type": "hello", "data": {"token": ""}})
        assert (await recv(ws))["data"]["code"] == "unauthorized"
        assert (await close_code(ws))[0] == 4401


async def case_4408_handshake_timeout():
    async with await open_ws() as ws:
        assert (await close_code(ws))[0] == 4408


async def case_4400_protocol_errors():
    async with await open_ws() as ws:
        await hello(ws, "erin")
        for _ in range(10):
            await ws.send("{")
        assert (await close_code(ws))[0] == 4400


async def case_1009_too_big():
    async with await open_ws() as ws:
        await hello(ws, "frank")
        await send(ws, {"type": "echo", "data": "x" * 70000})
        assert (await close_code(ws))[0] == 1009


async def case_4429_rate_limited():
    async with await open_ws() as ws:
        await hello(ws, "gina")
        for _ in range(80):
            await send(ws, {"type": "ping"})
        code, reason = await close_code(ws)
        assert code == 4429 and json.loads(reason) == {"retry_after_ms": 1000}, (code, reason)


async def case_4000_heartbeat_timeout():
    # A peer that answers nothing, not even the server's WebSocket ping after
    # 1.5 x heartbeat (reading paused: no pong goes out), is closed at 2 x heartbeat.
    async with await open_ws(ping_interval=None) as ws:
        await hello(ws, "hank")
        ws.transport.pause_reading()
        await asyncio.sleep(1.2)
        ws.transport.resume_reading()
        assert (await close_code(ws))[0] == 4000


async def case_quiet_peer_answering_websocket_pings_stays_open():
    # No frames from the client (no app `ping`, no WebSocket pings of its own), but
    # it answers the server's WebSocket pings: heard, so kept past 2 x heartbeat.
    # Its own server, heartbeat 1 s: a pong has 500 ms to arrive.
    proc, port = start_server("--heartbeat-ms", "1000")
    try:
        async with await connect(f"ws://127.0.0.1:{port}/ws", ping_interval=None) as ws:
            await hello(ws, "hugo")
            await asyncio.sleep(2.5)
            await send(ws, {"type": "ping", "id": "p"})
            assert (await recv(ws))["type"] == "pong"
    finally:
        proc.kill()


async def case_4409_evicted():
    first = await open_ws()
    await hello(first, "ivy")
    second = await open_ws()
    await hello(second, "ivy")
    third = await open_ws()
    await hello(third, "ivy")
    assert (await recv(first))["data"]["code"] == "evicted"
    assert (await close_code(first))[0] == 4409
    await second.close()
    await third.close()


async def case_4503_slow_consumer():
    slow = await open_ws(max_queue=1)
    await hello(slow, "jack")
    await send(slow, {"type": "join", "id": "j", "room": "py:flood"})
    await recv(slow)
    failed = 0
    for _ in range(2000):
        report = await asyncio.to_thread(http_publish, "py:flood", "x" * 60000)
        failed += report["failed"]
        if failed:
            break
    assert failed == 1, "the server never gave up on the slow consumer"
    assert (await close_code(slow, timeout=10))[0] == 4503


async def case_1001_shutdown():
    proc, port = start_server("--shutdown-retry-ms", "2500")
    try:
        async with await connect(f"ws://127.0.0.1:{port}/ws", ping_interval=0.1) as ws:
            await hello(ws, "kate")
            proc.send_signal(signal.SIGTERM)
            code, reason = await close_code(ws)
            assert code == 1001 and json.loads(reason) == {"retry_after_ms": 2500}
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()


async def main():
    cases = [v for k, v in globals().items() if k.startswith("case_")]
    passed = failed = 0
    for case in cases:
        try:
            await asyncio.wait_for(case(), 60)
            passed += 1
            print(f"ok   {case.__name__}")
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAIL {case.__name__}")
            traceback.print_exc()
    SERVER.send_signal(signal.SIGTERM)
    SERVER.wait(timeout=10)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
