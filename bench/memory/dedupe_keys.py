"""Resident memory of wsguard-server while one client publishes N distinct idempotency keys.

Usage: dedupe_keys.py SERVER_BINARY [--keys N] [--window W] [-- extra server flags]

Starts the server (dev auth: keys are scoped to an authenticated user; no rate
limit), joins one room and publishes N messages, each with a fresh key, keeping
W publishes in flight; samples VmRSS every N/10 keys and reads
wsguard_dedupe_forgotten_early_total at the end. Prints one JSON object.
Loopback only, bounded.
"""
import argparse, asyncio, json, time

import websockets

from procmem import free_port, metric, rss_kb, running


async def publish_keys(url, n, window, pid, samples):
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "hello", "data": {"token": "keyer"}}))
        await ws.recv()
        await ws.send(json.dumps({"type": "join", "id": "j", "room": "keys"}))
        sent = acked = 0
        step = max(1, n // 10)
        while acked < n:
            while sent < n and sent - acked < window:
                await ws.send(json.dumps({"type": "publish", "id": str(sent), "room": "keys",
                                          "key": f"key-{sent:07d}", "data": sent}))
                sent += 1
            frame = json.loads(await ws.recv())
            if frame.get("type") == "ack" and frame.get("id") not in (None, "j"):
                acked += 1
                if acked % step == 0:
                    samples.append({"keys": acked, "rss_kb": rss_kb(pid)})


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("extra", nargs="*")
    args = ap.parse_args()
    port = free_port()
    cmd = [args.server, "--addr", f"127.0.0.1:{port}", "--insecure-dev-auth", "--max-frames-per-sec", "0", *args.extra]
    out = {"server": " ".join(cmd[1:]), "keys": args.keys}
    with running(cmd, port) as proc:
        out["rss_start_kb"] = rss_kb(proc.pid)
        samples = []
        t = time.time()
        await asyncio.wait_for(publish_keys(f"ws://127.0.0.1:{port}/ws", args.keys, args.window, proc.pid, samples), 1200)
        out["seconds"] = round(time.time() - t, 1)
        out["samples"] = samples
        out["forgotten_early"] = metric(port, "wsguard_dedupe_forgotten_early_total")
        out["history_bytes"] = metric(port, "wsguard_history_bytes")
    print(json.dumps(out, indent=1))


asyncio.run(main())
