"""The chat server a Python programmer reaches for first, on asyncio: a benchmark target.

Not tcpchat: the textbook design, to measure tcpchat against.  ``asyncio.start_server``, a
coroutine per client that reads a line at a time, and a ``write`` to every other client for
each line; nothing bounded, no flood control, no framing beyond ``readline``.  It speaks the
plain protocol of the benchmark's relay (the first line is a name, answered ``*** Type a
line...``; ``/who`` is answered ``*** 2 people in #bench: ...``; any other line goes to
everyone else as ``name: line``), so the load generators drive it as they drive tcpchat's
plain mode.  On the default event loop, or on uvloop (``--uvloop``; ``pip install
'tcpchat[bench]'``).

``python -m tcpchat.bench.asyncio_chat --port PORT [--uvloop]``
"""

import argparse
import asyncio
import signal
import sys

WELCOME = b"*** Type a line and press Enter\r\n"
WHO = b"*** 2 people in #bench: everyone\r\n"


class Room:
    def __init__(self):
        self.writers = set()

    async def serve(self, reader, writer):
        name = (await reader.readline()).strip()
        if not name:
            writer.close()
            return
        prefix = name + b": "
        self.writers.add(writer)
        writer.write(WELCOME)
        try:
            while line := await reader.readline():
                line = line.rstrip(b"\r\n")
                if line == b"/who":
                    writer.write(WHO)
                    continue
                said = prefix + line + b"\r\n"
                for other in self.writers:
                    if other is not writer:
                        other.write(said)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()


async def main(port, host):
    room = Room()
    server = await asyncio.start_server(room.serve, host, port, limit=1 << 16, backlog=4096)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stopping.set)
    async with server:
        await stopping.wait()


def run(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args(argv)
    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            sys.exit("--uvloop needs uvloop: pip install 'tcpchat[bench]'")
        uvloop.run(main(args.port, args.host))
    else:
        asyncio.run(main(args.port, args.host))


if __name__ == "__main__":
    run()
