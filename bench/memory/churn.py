"""Resident memory of wsguard-server under room churn and connection churn.

Usage: churn.py SERVER_BINARY [--rooms N] [--connections N] [--room-ttl-ms MS] [-- extra server flags]

Starts the server on a free loopback port (anonymous, no rate limit), then:
1. room churn: one client loops join `churn:k` -> publish 1 KB -> leave over N rooms;
   RSS before, right after, and after the room TTL has passed (with the
   wsguard_rooms_retained gauge);
2. connection churn: N connections opened (each welcomed), then all closed, twice;
   RSS before, with them open, after closing.
Prints one JSON object. Loopback only, bounded loops.
"""
import argparse, asyncio, json, time

import websockets

from procmem import free_port, metric, rss_kb, running


async def room_churn(url, rooms):
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "hello"}))
        json.loads(await ws.recv())
        payload = "x" * 1024
        for k in range(rooms):
            room = f"churn:{k}"
            for frame in ({"type": "join", "id": f"j{k}", "room": room},
                          {"type": "publish", "id": f"p{k}", "room": room, "data": payload},
                          {"type": "leave", "id": f"l{k}", "room": room}):
                await ws.send(json.dumps(frame))
            acks = 0
            while acks < 3:
                msg = json.loads(await ws.recv())
                if msg.get("type") == "ack":
                    acks += 1


async def open_many(url, n):
    conns = []
    for _ in range(n):
        ws = await websockets.connect(url)
        await ws.send(json.dumps({"type": "hello"}))
        json.loads(await ws.recv())
        conns.append(ws)
    return conns


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("--rooms", type=int, default=45000)
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--room-ttl-ms", type=int, default=5000)
    ap.add_argument("extra", nargs="*")
    args = ap.parse_args()
    port = free_port()
    cmd = [args.server, "--addr", f"127.0.0.1:{port}", "--max-frames-per-sec", "0",
           "--max-connections-per-user", "0", *args.extra]
    if args.room_ttl_ms:
        cmd += ["--room-ttl-ms", str(args.room_ttl_ms)]
    url = f"ws://127.0.0.1:{port}/ws"
    out = {"server": " ".join(cmd[1:])}
    with running(cmd, port) as proc:
        out["rss_start_kb"] = rss_kb(proc.pid)
        t = time.time()
        await asyncio.wait_for(room_churn(url, args.rooms), 600)
        out["room_churn_s"] = round(time.time() - t, 1)
        time.sleep(0.5)
        out["rss_after_room_churn_kb"] = rss_kb(proc.pid)
        out["rooms_retained_after_churn"] = metric(port, "wsguard_rooms_retained")
        if args.room_ttl_ms:
            time.sleep(args.room_ttl_ms / 1000 * 1.5 + 1)
            out["rss_after_room_ttl_kb"] = rss_kb(proc.pid)
            out["rooms_retained_after_ttl"] = metric(port, "wsguard_rooms_retained")
            out["history_bytes_after_ttl"] = metric(port, "wsguard_history_bytes")
        for round_ in (1, 2):
            before = rss_kb(proc.pid)
            conns = await asyncio.wait_for(open_many(url, args.connections), 600)
            open_rss = rss_kb(proc.pid)
            await asyncio.gather(*(c.close() for c in conns))
            time.sleep(3)
            out[f"conn_round{round_}"] = {"before_kb": before, "open_kb": open_rss, "after_close_kb": rss_kb(proc.pid)}
    print(json.dumps(out, indent=1))


asyncio.run(main())
