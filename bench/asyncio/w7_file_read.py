#!/usr/bin/env python3
"""W7 file_read: read F files of 16 KiB each from a temporary directory, at
most 64 in flight (Semaphore(64)); check the total bytes. asyncio has no file
I/O of its own, so each file is read the way asyncio users do it: open, read
and close in a thread (asyncio.to_thread, the loop's default executor).
The files are created before the timed part and removed after it.
The figure is files/s ("files_per_s"); per_op_ns = wall / F."""
import asyncio
import os
import shutil
import tempfile

import common

FILE_SIZE = 16384
LIMIT = 64


def read_file(path):
    with open(path, "rb") as f:
        return len(f.read())


async def work(n):
    d = tempfile.mkdtemp(prefix="spool_w7_py_")
    try:
        data = bytes((ord("a") + i % 26) for i in range(FILE_SIZE))
        paths = [os.path.join(d, f"{i:06d}") for i in range(n)]
        for p in paths:
            with open(p, "wb") as f:
                f.write(data)

        loop = asyncio.get_running_loop()
        sem = asyncio.Semaphore(LIMIT)
        state = {"in_flight": 0, "max_in_flight": 0}

        async def one(path):
            async with sem:
                state["in_flight"] += 1
                state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
                try:
                    return await asyncio.to_thread(read_file, path)
                finally:
                    state["in_flight"] -= 1

        t0 = loop.time()
        sizes = await asyncio.gather(*[asyncio.create_task(one(p)) for p in paths])
        wall = loop.time() - t0
    finally:
        shutil.rmtree(d, ignore_errors=True)

    total = sum(sizes)
    ok = (len(sizes) == n and all(s == FILE_SIZE for s in sizes)
          and total == n * FILE_SIZE and state["max_in_flight"] <= LIMIT)
    extra = {"files_per_s": round(n / wall, 1) if wall > 0 else 0.0,
             "max_in_flight": state["max_in_flight"], "wall_s": round(wall, 6),
             "per_op_ns": round(wall * 1e9 / n, 1) if n else 0.0}
    return ok, n, extra


if __name__ == "__main__":
    common.main("file_read", 10_000, work, __doc__)
