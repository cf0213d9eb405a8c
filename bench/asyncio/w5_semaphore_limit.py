#!/usr/bin/env python3
"""W5 semaphore_limit: N tasks behind Semaphore(100), each holds it for a
1 ms sleep; gather them all. The figure is the wall time (ideal
N / 100 * 1 ms = 1.000 s for N = 100,000); per_op_ns = wall / N.
Checks that every task ran and that no more than 100 ever held the semaphore."""
import asyncio

import common

LIMIT = 100
HOLD_S = 0.001


async def work(n):
    sem = asyncio.Semaphore(LIMIT)
    state = {"held": 0, "max_held": 0, "done": 0}

    async def worker():
        async with sem:
            state["held"] += 1
            if state["held"] > state["max_held"]:
                state["max_held"] = state["held"]
            await asyncio.sleep(HOLD_S)
            state["held"] -= 1
            state["done"] += 1

    tasks = [asyncio.create_task(worker()) for _ in range(n)]
    await asyncio.gather(*tasks)
    ok = (state["done"] == n and state["held"] == 0
          and state["max_held"] <= LIMIT and (n < LIMIT or state["max_held"] == LIMIT))
    return ok, n, {}


if __name__ == "__main__":
    common.main("semaphore_limit", 100_000, work, __doc__)
