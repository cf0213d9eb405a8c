#!/usr/bin/env python3
"""W8 timeout_cancel: N tasks each wait on an event that never fires, under
a 10 ms timeout (asyncio.timeout, Python 3.11+; asyncio.wait_for before);
all time out and are cancelled cleanly. per_op_ns = wall / N: the cost of
one cancelled wait."""
import asyncio
import time

import common

TIMEOUT_S = 0.010


async def waiter(ev):
    try:
        if hasattr(asyncio, "timeout"):
            async with asyncio.timeout(TIMEOUT_S):
                await ev.wait()
        else:
            await asyncio.wait_for(ev.wait(), TIMEOUT_S)
    except (TimeoutError, asyncio.TimeoutError):
        return 1
    return 0


async def work(n):
    ev = asyncio.Event()
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(waiter(ev)) for _ in range(n)]
    results = await asyncio.gather(*tasks)
    wall = time.perf_counter() - t0
    ok = len(results) == n and sum(results) == n and (n == 0 or wall >= TIMEOUT_S)
    return ok, n, {}


if __name__ == "__main__":
    common.main("timeout_cancel", 100_000, work, __doc__)
