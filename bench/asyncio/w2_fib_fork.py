#!/usr/bin/env python3
"""W2 fib_fork: recursive fib(n) where every call with n >= 2 creates two
tasks, fib(n-1) and fib(n-2), and awaits both (no cutoff). The root call is a
task too, so fib(n) makes 2*F(n+1) - 1 tasks (242,785 for n = 25).
--n is the fib argument; the JSON "n" is the task count, "fib_n" the argument.
per_op_ns = wall / tasks."""
import asyncio

import common


async def fib(n):
    if n < 2:
        return n
    a = asyncio.create_task(fib(n - 1))
    b = asyncio.create_task(fib(n - 2))
    return await a + await b


def fib_iter(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


async def work(fib_n):
    tasks = 2 * fib_iter(fib_n + 1) - 1
    result = await asyncio.create_task(fib(fib_n))
    ok = result == fib_iter(fib_n)
    return ok, tasks, {"n": tasks, "fib_n": fib_n}


if __name__ == "__main__":
    common.main("fib_fork", 25, work, __doc__)
