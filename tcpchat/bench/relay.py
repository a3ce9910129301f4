"""A trivial relay: the least a chat server can do, to measure the load generator against.

It answers just enough of the protocol for the generator to set up (a welcome, the end of a
NAMES list, PONG, plain mode's prompt and /who) and relays every other line to every other
client, prefixed as a real server would.  Steady-state lines cost no Python per line: a read's
worth of ``PRIVMSG`` lines gets the sender's prefix with one ``bytes.replace`` and is appended
once to each other client's buffer, and each socket is written once per loop turn.  So it
relays far faster than any real server, and what the generator reaches against it is the
generator's own ceiling.

``python -m tcpchat.bench.relay --port PORT [--proto irc|plain]``
"""

import argparse
import selectors
import signal
import socket

from ..transports.driver import listen
from ..transports.selectloop import set_watch


class Peer:
    __slots__ = ("sock", "prefix", "pending", "out", "events")

    def __init__(self, sock):
        self.sock = sock
        self.prefix = None
        self.pending = b""
        self.out = bytearray()
        self.events = selectors.EVENT_READ


class Relay:
    def __init__(self, listener, proto):
        self.listener = listener
        self.proto = proto
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ, None)
        self.peers = []
        self.ready = set()
        self.running = True

    def serve(self):
        buffer = bytearray(1 << 18)
        while self.running:
            for key, mask in self.selector.select(1.0):
                peer = key.data
                if peer is None:
                    self._accept()
                    continue
                if mask & selectors.EVENT_WRITE:
                    self.ready.add(peer)
                if mask & selectors.EVENT_READ:
                    try:
                        count = peer.sock.recv_into(buffer)
                    except OSError:
                        count = 0
                    if not count:
                        self._drop(peer)
                        continue
                    self._take(peer, peer.pending + bytes(buffer[:count]))
            ready, self.ready = self.ready, set()
            for peer in ready:  # a send that fails drops its peer, and leaves this set alone
                if peer.sock.fileno() != -1:
                    self._send(peer)

    def _accept(self):
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = Peer(sock)
        self.selector.register(sock, selectors.EVENT_READ, peer)

    def _drop(self, peer):
        self.selector.unregister(peer.sock)
        peer.sock.close()
        if peer in self.peers:
            self.peers.remove(peer)
        self.ready.discard(peer)

    def _take(self, peer, data):
        end = data.rfind(b"\n") + 1
        peer.pending = data[end:]
        lines = data[:end]
        if not lines:
            return
        if peer.prefix is not None:
            if self.proto == "plain":  # a line that starts with "/" is a command (/who)
                messages_only = not lines.startswith(b"/") and b"\n/" not in lines
            else:
                messages_only = (lines.startswith(b"PRIVMSG ") and lines.count(b"\n") ==
                                 lines.count(b"\nPRIVMSG ") + 1)
            if messages_only:
                # Every line is a message: one replace prefixes them all.
                relayed = peer.prefix + lines[:-1].replace(b"\n", b"\n" + peer.prefix) + b"\n"
                self._broadcast(peer, relayed)
                return
        for line in lines.split(b"\n")[:-1]:
            self._line(peer, line.rstrip(b"\r"))

    def _line(self, peer, line):
        if self.proto == "plain":
            if peer.prefix is None:
                name = line.decode().strip()
                peer.prefix = name.encode() + b": "
                self.peers.append(peer)
                self._write(peer, b"*** Type a line and press Enter\r\n")
            elif line == b"/who":
                self._write(peer, b"*** 2 people in #bench: everyone\r\n")
            else:
                self._broadcast(peer, peer.prefix + line + b"\r\n")
            return
        words = line.split(b" ")
        command = words[0].upper()
        if command == b"NICK":
            peer.prefix = b":" + words[1] + b"!b@127.0.0.1 "
        elif command == b"USER":
            self._write(peer, b":relay 001 " + peer.prefix[1:].split(b"!")[0] + b" :hi\r\n")
        elif command == b"JOIN":
            self.peers.append(peer)
            self._write(peer, b":relay 366 x " + words[1] + b" :End of /NAMES list\r\n")
        elif command == b"PING":
            self._write(peer, b":relay PONG relay " + line[5:] + b"\r\n")
        elif command == b"PRIVMSG":
            self._broadcast(peer, peer.prefix + line + b"\r\n")

    def _broadcast(self, sender, data):
        for peer in self.peers:
            if peer is not sender:
                peer.out += data
                self.ready.add(peer)

    def _write(self, peer, data):
        peer.out += data
        self.ready.add(peer)

    def _send(self, peer):
        try:
            sent = peer.sock.send(peer.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._drop(peer)
            return
        del peer.out[:sent]
        wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if peer.out else 0)
        peer.events = set_watch(self.selector, peer.sock, peer.events, wanted, peer)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--proto", choices=["irc", "plain"], default="irc")
    args = parser.parse_args(argv)
    relay = Relay(listen(args.host, args.port), args.proto)

    def stop(*_):
        relay.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    relay.serve()


if __name__ == "__main__":
    main()
