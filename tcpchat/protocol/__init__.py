"""The wire, below everything else: IRC messages and their parsing, line framing, nick and
channel names, numerics, the IRCv3 helpers and datagram numbering.  Sans-IO; imports nothing
from the layers above."""
