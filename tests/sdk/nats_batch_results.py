"""A Python NATS client (nats-py) consuming a batch's results as they finish.

Usage: python3 nats_batch_results.py NATS_URL EXPECTED SECONDS
Prints `ready` once subscribed to sy.results.* and sy.batches.>, then waits for EXPECTED
results of one batch (by their Switchyard-Batch-Id header, each Switchyard-Custom-Id once)
and that batch's progress saying completed. Prints `ok results N <batch id>` and
`ok progress`.
"""
import asyncio
import json
import sys

import nats


async def main():
    url, expected, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    nc = await nats.connect(url)
    seen = {}
    done = asyncio.Event()
    finished = set()
    completed = asyncio.Event()

    async def on_result(msg):
        h = msg.headers or {}
        batch = h.get("Switchyard-Batch-Id")
        if not batch:
            return
        assert json.loads(msg.data)["status"] in ("completed", "failed"), msg.data
        ids = seen.setdefault(batch, set())
        assert h["Switchyard-Custom-Id"] not in ids, "a line's result twice"
        ids.add(h["Switchyard-Custom-Id"])
        if len(ids) == expected:
            done.set()
            if batch in finished:
                completed.set()

    async def on_progress(msg):
        b = json.loads(msg.data)
        if b["status"] == "completed":
            finished.add(b["id"])
            if len(seen.get(b["id"], ())) == expected:
                completed.set()

    await nc.subscribe("sy.results.*", cb=on_result)
    await nc.subscribe("sy.batches.>", cb=on_progress)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.wait_for(asyncio.gather(done.wait(), completed.wait()), timeout=seconds)
    batch = next(b for b, ids in seen.items() if len(ids) == expected)
    print(f"ok results {expected} {batch}")
    print("ok progress")
    await nc.close()


asyncio.run(main())
