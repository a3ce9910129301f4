"""The server's state for Prometheus: ``--metrics HOST:PORT``, or ``--metrics web`` for
``/metrics`` on the ``--web`` port; either way only to the addresses ``--metrics-allow`` names
(loopback by default).

The text format is made by ``prometheus-client`` (the ``metrics`` extra), from a collector that
reads the chat's counters (:mod:`tcpchat.chat.stats`) and tables when Prometheus asks, and not
before: nothing here runs on the fan-out's path.  A scrape on its own port is answered by a
thread of its own; its reads of the chat are of integers and of a list copied in one step, so it
never waits for the loop nor the loop for it.  Every metric is listed, ready for Grafana, in
docs/operations.rst.
"""

import ipaddress
import logging
import socket
import threading
from collections import Counter

from ..chat.stats import TURN_BUCKETS
from ..text.catalog import _

log = logging.getLogger("tcpchat")

#: Who may read the metrics unless --metrics-allow says otherwise.
LOOPBACK = ("127.0.0.0/8", "::1/128")
#: What everyone else is answered, with 403.
REFUSED = b"Not for your address.\n"


class MissingLibrary(Exception):
    """prometheus-client is not installed: said in one line, with what to install."""


def check_library():
    """Raise :class:`MissingLibrary` now, rather than at the first scrape, if it is."""
    _library()


def _library():
    try:
        import prometheus_client
    except ImportError:
        raise MissingLibrary(_("--metrics needs prometheus-client: pip install "
                               "'tcpchat[metrics]'")) from None
    return prometheus_client


def allow_list(text):
    """The networks of ``--metrics-allow`` (comma-separated addresses or CIDRs); ValueError
    naming the one that is not."""
    networks = []
    for part in (text.split(",") if isinstance(text, str) else text):
        try:
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise ValueError(_("{value!r} is no address or network", value=part)) from None
    return networks


def allowed(networks, host):
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


class ChatCollector:
    """Prometheus' view of one server: the chat's counters and tables, and the store's."""

    def __init__(self, core, store=None):
        self.core = core
        self.store = store

    def collect(self):
        from prometheus_client import core  # the families, in the library's own module
        chat = self.core.chat
        stats = chat.stats
        clients = list(chat.registry.clients)  # one step: the loop may go on meanwhile
        users = Counter(("plain" if client.plain else "irc", client.conn.transport.kind)
                        for client in clients if client.registered)
        family = core.GaugeMetricFamily("tcpchat_users", "Users connected to this server, by "
                                        "kind (irc, plain) and transport (tcp, tls, udp, web)",
                                        labels=("kind", "transport"))
        for (kind, transport), count in sorted(users.items()):
            family.add_metric((kind, transport), count)
        yield family
        yield core.GaugeMetricFamily("tcpchat_connections_registering",
                                     "Connections that have not registered yet",
                                     value=len(chat.registry.registering))
        yield core.GaugeMetricFamily("tcpchat_channels", "Channels with members",
                                     value=len(chat.registry.channels))
        for name, text, value in (
                ("registrations", "Users who registered", stats.registrations),
                ("lines_received", "Lines received from clients", stats.lines_in),
                ("received_bytes", "Bytes received from clients", stats.bytes_in),
                ("sent_bytes", "Bytes sent to clients", stats.sent_bytes(clients)),
                ("deliveries", "Messages queued for clients, once per recipient",
                 stats.deliveries),
                ("sendq_kills", "Clients cut for not reading their output (SendQ exceeded)",
                 stats.sendq_kills),
                ("flood_kills", "Clients cut for flooding (Excess Flood)", stats.flood_kills)):
            yield core.CounterMetricFamily(f"tcpchat_{name}", text, value=value)
        for name, text, label, counts in (
                ("refusals", "Connections refused, by reason", "reason", stats.refusals),
                ("logins", "Logins to accounts, by outcome", "outcome", stats.logins)):
            family = core.CounterMetricFamily(f"tcpchat_{name}", text, labels=(label,))
            for key, count in sorted(counts.items()):
                family.add_metric((key,), count)
            yield family
        cumulative, buckets = 0, []
        for bound, count in zip((*map(str, TURN_BUCKETS), "+Inf"), stats.turn_counts):
            cumulative += count
            buckets.append((bound, cumulative))
        yield core.HistogramMetricFamily("tcpchat_loop_turn_seconds", "How long a turn of the "
                                         "event loop took (select backend)", buckets=buckets,
                                         sum_value=stats.turn_seconds)
        yield core.GaugeMetricFamily(
            "tcpchat_largest_sendq_bytes", "The most output waiting for one client",
            value=max((len(client.out) for client in clients if client.out is not None),
                      default=0))
        yield core.GaugeMetricFamily("tcpchat_start_time_seconds", "When the server started "
                                     "(Unix time)", value=stats.started)
        store = self.store
        if store is not None:
            yield core.GaugeMetricFamily("tcpchat_history_queue_entries", "History entries "
                                         "not on the disk yet", value=store.queued())
            yield core.GaugeMetricFamily("tcpchat_records_queue_changes", "Changes of "
                                         "accounts and rooms not on the disk yet",
                                         value=len(store.changes))


def registry_for(core, store=None):
    """A Prometheus registry of *core*'s metrics and the process's (memory, descriptors)."""
    library = _library()
    registry = library.CollectorRegistry()
    registry.register(ChatCollector(core, store))
    library.ProcessCollector(registry=registry)
    return registry


def page(registry, networks):
    """A handler for the web gateway's ``/metrics``: ``(status, content type, body)`` for a
    request from *host*."""
    library = _library()

    def answer(host):
        if not allowed(networks, host):
            return 403, b"text/plain; charset=utf-8", REFUSED
        return 200, library.CONTENT_TYPE_LATEST.encode(), library.generate_latest(registry)
    return answer


def serve(host, port, registry, networks):
    """Answer scrapes on *host* *port* from a thread of their own; returns the server (its
    ``server_address`` says the port, its ``shutdown()`` stops it)."""
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    application = _library().make_wsgi_app(registry)

    def guarded(environ, start_response):
        if not allowed(networks, environ.get("REMOTE_ADDR", "")):
            start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
            return [REFUSED]
        return application(environ, start_response)

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):  # a line a scrape would fill the log
            pass

    class Server(WSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = make_server(host, port, guarded, server_class=Server, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, name="tcpchat-metrics", daemon=True).start()
    return server
