"""tcpchat: a small chat server that speaks IRC to IRC clients and plain lines to netcat."""

__version__ = "0.1.0"
