#!/usr/bin/env python3
"""W3 ping_pong: two tasks hand a token back and forth through two
semaphores that start at 0. A: release s2, acquire s1; B: acquire s2,
release s1; M round trips. per_op_ns = wall / (2 M) (per hand-off)."""
import asyncio

import common


async def work(m):
    s1 = asyncio.Semaphore(0)
    s2 = asyncio.Semaphore(0)
    token = [0]  # incremented by whoever holds the token: 2 per round trip

    async def a():
        for _ in range(m):
            token[0] += 1
            s2.release()
            await s1.acquire()

    async def b():
        for _ in range(m):
            await s2.acquire()
            token[0] += 1
            s1.release()

    ta = asyncio.create_task(a())
    tb = asyncio.create_task(b())
    await ta
    await tb
    ok = token[0] == 2 * m and s1._value == 0 and s2._value == 0
    return ok, 2 * m, {}


if __name__ == "__main__":
    common.main("ping_pong", 1_000_000, work, __doc__)
