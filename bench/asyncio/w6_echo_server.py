#!/usr/bin/env python3
"""W6 tcp_echo: the asyncio (or uvloop) echo server that bench/echo_client
drives (see shared/bench/WORKLOADS.md; bench/compare.py starts it).

  --variant streams   asyncio.start_server, a task per connection reading
                      with reader.read(65536), writer.write + await drain
  --variant protocol  loop.create_server with an asyncio.Protocol whose
                      data_received writes the data back
  --loop asyncio|uvloop, --host (default 127.0.0.1), --port (default 8888;
  0: any free port)

Prints "listening on HOST:PORT" on stderr once it accepts connections;
stops on SIGINT or SIGTERM (exit 0).
"""
import argparse
import asyncio
import signal
import sys

import common


async def handle(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def eof_received(self):
        return False  # close the transport


async def serve(args):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.variant == "streams":
        server = await asyncio.start_server(handle, args.host, args.port, backlog=4096)
    else:
        server = await loop.create_server(Echo, args.host, args.port, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    sys.stderr.write(f"listening on {args.host}:{port}\n")
    sys.stderr.flush()
    async with server:
        await stop.wait()
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", choices=("streams", "protocol"), default="streams")
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8888)
    args = p.parse_args()
    return common.run_in_loop(args.loop, lambda: serve(args))


if __name__ == "__main__":
    sys.exit(main())
