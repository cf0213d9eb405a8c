#!/usr/bin/env python3
"""W9 queue_pipe: P = 4 producers and C = 4 consumers pass N integers
through one asyncio.Queue(maxsize=64). Producer p puts its share of
[1, N] in order; each consumer sums what it gets. asyncio's queue has no
close (spool_queue_close ends the C side's consumers with -EPIPE), so
after the producers are done the main task puts one sentinel (None) per
consumer, the usual idiom, and a consumer ends at its sentinel. Checks
that N items summing to N (N + 1) / 2 came through. per_op_ns = wall / N."""
import asyncio

import common

PRODUCERS = 4
CONSUMERS = 4
CAPACITY = 64


async def work(n):
    q = asyncio.Queue(maxsize=CAPACITY)
    sums = [0] * CONSUMERS
    counts = [0] * CONSUMERS

    async def producer(first, last):
        for v in range(first, last + 1):
            await q.put(v)

    async def consumer(i):
        s = c = 0
        while True:
            v = await q.get()
            if v is None:
                break
            s += v
            c += 1
        sums[i], counts[i] = s, c

    consumers = [asyncio.create_task(consumer(i)) for i in range(CONSUMERS)]
    producers = []
    nxt = 1
    for i in range(PRODUCERS):
        share = n // PRODUCERS + (1 if i < n % PRODUCERS else 0)
        producers.append(asyncio.create_task(producer(nxt, nxt + share - 1)))
        nxt += share
    await asyncio.gather(*producers)
    for _ in range(CONSUMERS):
        await q.put(None)
    await asyncio.gather(*consumers)
    ok = sum(counts) == n and sum(sums) == n * (n + 1) // 2 and q.empty()
    return ok, n, {}


if __name__ == "__main__":
    common.main("queue_pipe", 1_000_000, work, __doc__)
