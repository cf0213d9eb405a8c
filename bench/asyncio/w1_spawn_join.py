#!/usr/bin/env python3
"""W1 spawn_join: create N tasks that each return their index, gather them
all, check the sum. per_op_ns = wall / N."""
import asyncio

import common


async def child(i):
    return i


async def work(n):
    tasks = [asyncio.create_task(child(i)) for i in range(n)]
    results = await asyncio.gather(*tasks)
    ok = len(results) == n and sum(results) == n * (n - 1) // 2
    return ok, n, {}


if __name__ == "__main__":
    common.main("spawn_join", 1_000_000, work, __doc__)
