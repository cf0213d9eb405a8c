#!/usr/bin/env python3
"""W4 sleep_many: N tasks each sleep 1.0 s concurrently; gather them all.
The figure is the wall time (ideal 1.000 s); per_op_ns = wall / N."""
import asyncio
import time

import common

SLEEP_S = 1.0


async def sleeper(i):
    await asyncio.sleep(SLEEP_S)
    return i


async def work(n):
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(sleeper(i)) for i in range(n)]
    results = await asyncio.gather(*tasks)
    wall = time.perf_counter() - t0
    ok = (len(results) == n and sum(results) == n * (n - 1) // 2
          and (n == 0 or wall >= SLEEP_S))
    return ok, n, {}


if __name__ == "__main__":
    common.main("sleep_many", 100_000, work, __doc__)
