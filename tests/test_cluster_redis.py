"""Several servers as one chat through a real Redis (Debian's redis-server, started here on a
Unix socket in the test's folder: no port to pick), each server a process of its own, as
`--cluster` runs them.  .ci/run installs redis-server; elsewhere the tests are skipped without
it (under CI, a missing redis-server is a failure)."""

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from helpers import ROOT, TIMEOUT, LineSocket, register_irc, register_plain, wait_until
from tcpchat.bench.targets import start_on_free_ports

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None and os.environ.get("CI") != "true",
                                reason="redis-server is not installed")


def answers(family, address):
    """Whether a redis-server answers PING at *address*, asked with a bound wait: what holds
    the address may be something else that never answers."""
    try:
        with socket.socket(family) as probe:
            probe.settimeout(1)
            probe.connect(address)
            probe.sendall(b"PING\r\n")
            return probe.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class Redis:
    """A redis-server of the test's own, on a Unix socket in *folder*; with *tls* (the CA,
    certificate and key files), also on a TLS port, which ``url`` then names."""

    def __init__(self, folder, *options, tls=None):
        self.socket = os.path.join(folder, "redis.sock")
        self.url = f"unix://{self.socket}"
        self.options = options
        self.tls = tls
        self.process = None
        self.start()

    def start(self):
        # Redis takes no port 0 for TLS: a free one is asked of the system.
        started = start_on_free_ports(1 if self.tls else 0, self._start,
                                      lambda ports: self._answers())
        assert started, "redis-server did not start"
        ports, (self.process,) = started
        if self.tls:
            self.url = f"rediss://127.0.0.1:{ports[0]}/0?ssl_ca_certs={self.tls['ca.pem']}"

    def _start(self, ports):
        options = list(self.options)
        if self.tls:
            options += ["--tls-port", str(ports[0]), "--tls-cert-file", str(self.tls["cert.pem"]),
                        "--tls-key-file", str(self.tls["key.pem"]), "--tls-ca-cert-file",
                        str(self.tls["ca.pem"]), "--tls-auth-clients", "no"]
        return [subprocess.Popen(
            [REDIS, "--port", "0", "--unixsocket", self.socket, "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", *options],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]

    def _answers(self):
        return answers(socket.AF_UNIX, self.socket)

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait(TIMEOUT)
            self.process = None
            try:
                os.unlink(self.socket)
            except FileNotFoundError:
                pass


class Node:
    """``python -m tcpchat.server --cluster URL`` on a port of its own; its log is read as it
    comes (so that the pipe never fills) and can be waited on."""

    def __init__(self, redis, *arguments):
        import sys
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tcpchat.server", "--port", "0", "--cluster", redis.url,
             *arguments], stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.log = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read_log, daemon=True).start()
        line = self.wait_for(r"listening on \S+ port (\d+)")
        self.address = ("127.0.0.1", int(re.search(r"port (\d+)", line).group(1)))
        self.wait_for("cluster: whole")

    def _read_log(self):
        for line in self.process.stderr:
            with self._changed:
                self.log.append(line)
                self._changed.notify_all()

    def wait_for(self, pattern, after=0):
        """The first log line from index *after* on that matches *pattern*."""
        deadline = time.monotonic() + TIMEOUT
        with self._changed:
            while True:
                for line in self.log[after:]:
                    if re.search(pattern, line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise AssertionError(f"no log line like {pattern!r}: {self.log}")
                self._changed.wait(left)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(TIMEOUT)


def knows(peer, nick):
    """Whether *peer*'s node knows *nick* (WHOIS: 311, or 401 while its record is on its
    way from the other node)."""
    peer.send(f"WHOIS {nick}")
    seen = peer.expect(lambda line: " 311 " in line or " 401 " in line)
    peer.expect(" 318 ")
    return " 311 " in seen


@pytest.fixture
def redis(tmp_path):
    server = Redis(str(tmp_path))
    yield server
    server.stop()


@pytest.fixture
def nodes(redis):
    started = []

    def start(*arguments):
        node = Node(redis, *arguments)
        started.append(node)
        return node
    yield start
    for node in started:
        node.stop()


def test_users_on_two_nodes_talk_see_each_other_and_share_the_nicks(nodes):
    alpha = nodes()
    ann = register_irc(alpha.address, "ann")
    beta = nodes()  # it knows #lobby and ann as it starts: nadia joins ann's room
    nadia = register_plain(beta.address, "nadia")  # a netcat user, on the other node
    ann.expect("JOIN #lobby")  # nadia's, from beta
    ann.send("PRIVMSG #lobby :hello beta")
    nadia.expect("ann: hello beta")
    nadia.send("hi alpha")
    assert ann.expect("PRIVMSG").endswith(":nadia!nadia@127.0.0.1 PRIVMSG #lobby :hi alpha")
    ann.send("WHOIS nadia", "NAMES #lobby", "LUSERS")
    assert ann.expect(" 311 ").split()[3:6] == ["nadia", "nadia", "127.0.0.1"]
    assert ann.expect(" 353 ").endswith(":@ann nadia")
    assert "on 2 servers" in ann.expect(" 251 ")

    taken = LineSocket(beta.address)
    taken.send("NICK ANN", "USER x 0 * :x")
    assert " 433 " in taken.expect(" 433 ")
    for peer in (ann, nadia, taken):
        peer.close()


def test_one_nick_asked_for_on_two_nodes_at_once_goes_to_exactly_one(nodes):
    alpha, beta = nodes(), nodes()
    for round_ in range(10):
        nick = f"sam{round_}"
        peers = [LineSocket(alpha.address), LineSocket(beta.address)]
        for peer in peers:  # both before either answers
            peer.send_bytes(f"NICK {nick}\r\nUSER s 0 * :s\r\n".encode())
        outcomes = sorted(peer.expect(lambda line: " 001 " in line or " 433 " in line)
                          .split()[1] for peer in peers)
        assert outcomes == ["001", "433"], nick
        for peer in peers:
            peer.close()


def ann_and_bob(nodes):
    """Two nodes, ann on the first and bob on the second, once the second knows ann."""
    alpha, beta = nodes(), nodes()
    ann = register_irc(alpha.address, "ann")
    bob = register_irc(beta.address, "bob")
    assert wait_until(lambda: knows(bob, "ann"), interval=0.05)
    return alpha, beta, ann, bob


def test_a_node_killed_with_kill_9_lets_its_users_go_and_their_nicks_free(nodes):
    alpha, beta, ann, bob = ann_and_bob(nodes)
    started = time.monotonic()
    alpha.process.kill()  # SIGKILL: no goodbye
    quit_line = bob.expect("QUIT")
    waited = time.monotonic() - started
    assert quit_line.startswith(":ann!ann@127.0.0.1 QUIT :")
    assert waited < 3.0 + 1.0 + 4.0  # TTL + a beat (docs/cluster.rst), with room for a busy CI
    register_irc(beta.address, "ann").close()
    for peer in (ann, bob):
        peer.close()


def test_a_node_that_stops_tells_the_others_at_once(nodes):
    alpha, _beta, ann, bob = ann_and_bob(nodes)
    alpha.stop()
    assert bob.expect("QUIT").startswith(":ann!ann@127.0.0.1 QUIT :")
    ann.close(), bob.close()


def test_messages_of_one_sender_arrive_in_order_once_on_every_node(nodes):
    alpha, beta, gamma = nodes("--no-flood-control"), nodes(), nodes()
    ann = register_irc(alpha.address, "ann")
    readers = [register_irc(beta.address, "bob"), register_irc(gamma.address, "cat")]
    ann.expect("cat")  # cat's join reached alpha: everyone is in
    count = 2500  # past a batch of the bus's reader (1000), where one was once lost
    ann.send(*(f"PRIVMSG #lobby :line {number}" for number in range(count)))
    for reader in readers:
        got = [reader.expect("PRIVMSG").rsplit(" ", 1)[1] for _ in range(count)]
        assert got == [str(number) for number in range(count)]
    ann.send("PING :end")
    assert "PRIVMSG" not in ann.expect("PONG")  # no echo of its own lines came first
    for peer in [ann, *readers]:
        peer.close()


def test_a_redis_restart_splits_the_chat_and_it_heals(nodes, redis):
    alpha, beta = nodes(), nodes()
    ann, amy = register_irc(alpha.address, "ann"), register_irc(alpha.address, "amy")
    bob = register_irc(beta.address, "bob")
    ann.expect("JOIN #lobby")  # bob's
    redis.stop()
    assert "The chat is split" in ann.expect("NOTICE")
    ann.send("PRIVMSG #lobby :only here", "NICK annie")
    assert amy.expect("PRIVMSG").endswith(":only here")  # the node's own chat goes on
    assert " 437 " in ann.expect(" 437 ")
    assert "The chat is split" in bob.expect("NOTICE")

    redis.start()
    assert "whole again" in ann.expect("whole again")
    assert "whole again" in bob.expect("whole again")
    ann.send("PRIVMSG #lobby :together again")
    assert bob.expect("together again").endswith(":ann!ann@127.0.0.1 PRIVMSG #lobby :together again")
    for peer in (ann, amy, bob):
        peer.close()


def test_a_stalled_redis_does_not_stall_a_node_s_own_chat(nodes, redis):
    alpha = nodes()
    ann, amy = register_irc(alpha.address, "ann"), register_irc(alpha.address, "amy")
    ann.expect("JOIN #lobby")
    redis.process.send_signal(signal.SIGSTOP)
    try:  # each line is published to a Redis that does not answer, and still delivered here
        for number in range(20):
            ann.send(f"PRIVMSG #lobby :tick {number}")
            amy.expect(f"tick {number}")
    finally:
        redis.process.send_signal(signal.SIGCONT)
    for peer in (ann, amy):
        peer.close()


def test_cluster_options_are_checked_at_start(tmp_path):
    from helpers import run_server
    result = run_server("--cluster", "http://localhost")
    assert result.returncode == 2 and "redis://" in result.stderr.splitlines()[-1]
    result = run_server("--node-name", "x")
    assert result.returncode == 2 and "--node-name needs --cluster" in result.stderr
    result = run_server("--cluster", "redis://127.0.0.1:1/0", "--cluster-password-file",
                        str(tmp_path / "missing"))
    assert result.returncode == 2 and "--cluster-password-file" in result.stderr


def test_workers_share_one_port_and_are_one_chat(nodes):
    first = nodes("--workers", "2")
    assert wait_until(lambda: sum("cluster: whole" in line for line in first.log) == 2)
    peers = [register_irc(first.address, f"user{number}") for number in range(16)]
    last = peers[-1]

    def everyone_known():  # each registered on its node first, then the other heard
        last.send("LUSERS")
        return last.expect(" 266 ").split()[3] == "16"
    assert wait_until(everyone_known, interval=0.05)
    servers = set()
    for number in range(16):
        last.send(f"WHOIS user{number}")
        servers.add(last.expect(" 312 ").split()[4])
    # The kernel spread the 16 connections over both processes (all on one: 2 in 65536).
    assert servers == {f"127.0.0.1:{first.address[1]}/0", f"127.0.0.1:{first.address[1]}/1"}
    last.send("LUSERS")
    assert last.expect(" 266 ").split()[3:5] == ["16", "16"]
    peers[0].send("PRIVMSG #lobby :to everyone, on both")
    for peer in peers[1:]:
        peer.expect("to everyone, on both")
    for peer in peers:
        peer.close()


def test_a_password_from_a_file_opens_a_redis_that_asks_for_one(tmp_path):
    redis = Redis(str(tmp_path), "--requirepass", "s3cret pass")
    secret = tmp_path / "redis-password"
    secret.write_text("s3cret pass\n")
    node = None
    try:
        node = Node(redis, "--cluster-password-file", str(secret))  # whole: it got in
        assert not any("s3cret" in line for line in node.log)
    finally:
        if node is not None:
            node.stop()
        redis.stop()


class Loop:
    """The loop's side of a bus, played by the test: what the bus posts, run in order."""

    def __init__(self):
        self.posted = queue.Queue()
        self.calls = []

    def post(self, done, result):
        self.posted.put((done, result))

    def run_until(self, condition):
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            done, result = self.posted.get(timeout=max(0.01, deadline - time.monotonic()))
            done(result)


class RecordingLink:
    def __init__(self, loop):
        self.loop, self.bus = loop, None

    def connected(self):
        self.loop.calls.append("connected")
        self.bus.resync([], {})

    def whole_again(self, snapshot, collisions):
        self.loop.calls.append("whole")

    def split(self):
        self.loop.calls.append("split")

    def lost(self):
        self.loop.calls.append("lost")

    def received(self, records):
        self.loop.calls.extend(records)


def test_past_its_bound_a_stalled_bus_counts_the_node_split_drops_and_heals(redis):
    from tcpchat.transports.redisbus import RedisBus
    loop = Loop()
    bus = RedisBus(redis.url, "n1", "one", bound=5)
    bus.link, bus.post = RecordingLink(loop), loop.post
    bus.link.bus = bus
    bus.start()
    try:
        loop.run_until(lambda: "whole" in loop.calls)
        redis.process.send_signal(signal.SIGSTOP)
        answers = []
        for number in range(20):  # the bus thread is stuck on the first: the queue fills
            bus.publish({"t": "talk", "n": number}, ())
        bus.claim("sam", "n1.1", answers.append)
        assert answers == [None]  # past the bound: "cannot check", at once
        loop.run_until(lambda: "split" in loop.calls)
        redis.process.send_signal(signal.SIGCONT)
        loop.run_until(lambda: loop.calls.count("whole") == 2)  # connected again, healed
        assert bus.refused >= 14  # what came past the bound was refused, not queued
    finally:
        redis.process.send_signal(signal.SIGCONT)
        bus.close()


def test_an_account_registered_on_one_node_logs_in_on_a_node_started_after(nodes):
    import base64
    alpha = nodes()
    bob = register_irc(alpha.address, "bob")
    bob.send("REGISTER * * :a long password")
    assert "SUCCESS" in bob.expect("REGISTER")
    beta = nodes()  # reads the account from Redis as it joins
    peer = LineSocket(beta.address)
    payload = base64.b64encode(b"\0bob\0a long password").decode()
    peer.send("CAP REQ :sasl", "AUTHENTICATE PLAIN", f"AUTHENTICATE {payload}")
    assert " 903 " in peer.expect(lambda line: " 903 " in line or " 904 " in line)
    for each in (bob, peer):
        each.close()


@pytest.mark.parametrize("url, shown", [
    ("redis://:s3cret@db.lan:6379/0", "redis://:***@db.lan:6379/0"),
    ("rediss://chat:s3cret@db.lan/1", "rediss://chat:***@db.lan/1"),
    ("redis://db.lan:6379/0", "redis://db.lan:6379/0"),
    ("unix:///run/redis.sock", "unix:///run/redis.sock"),
])
def test_a_password_in_the_url_is_never_logged(url, shown):
    from tcpchat.transports.redisbus import redact_url
    assert redact_url(url) == shown


def test_a_udp_user_on_one_node_talks_with_a_tcp_user_on_another(nodes):
    from helpers import register_irc_udp
    alpha, beta = nodes("--udp"), nodes()
    ann = register_irc_udp(alpha.address, "ann")
    bob = register_irc(beta.address, "bob")
    ann.expect("JOIN #lobby")  # bob's, over UDP
    bob.send("PRIVMSG #lobby :hello udp")
    assert ann.expect("hello udp").endswith(":bob!bob@127.0.0.1 PRIVMSG #lobby :hello udp")
    ann.send("PRIVMSG #lobby :hello tcp")
    assert bob.expect("hello tcp").endswith(":ann!ann@127.0.0.1 PRIVMSG #lobby :hello tcp")
    ann.close(), bob.close()


def test_a_node_started_later_answers_chathistory_with_what_was_said_before_it(nodes, redis):
    import redis as redis_library
    alpha = nodes()
    ann = register_irc(alpha.address, "ann")
    ann.send("PRIVMSG #lobby :before beta", "PRIVMSG #lobby :still before beta")
    kept = redis_library.Redis.from_url(redis.url)
    assert wait_until(lambda: kept.llen("tcpchat:history:#lobby") >= 3)  # a JOIN, two lines
    kept.close()
    beta = nodes()  # it reads what the cluster kept of #lobby as it joins
    bob = LineSocket(beta.address)
    bob.send("CAP REQ :draft/chathistory batch", "NICK bob", "USER bob 0 * :bob", "CAP END")
    bob.expect(" 366 ")
    bob.send("CHATHISTORY LATEST #lobby * 10")
    said = []
    while not said or not said[-1].startswith("BATCH -") and " BATCH -" not in said[-1]:
        said.append(bob.read_line())
    texts = [line.rsplit(" :", 1)[1] for line in said if " PRIVMSG " in line]
    assert texts == ["before beta", "still before beta"]
    ann.close(), bob.close()


def test_two_nodes_talk_through_a_redis_over_tls(tmp_path):
    """``rediss://``: Redis's TLS port, its certificate from a CA of the test's own, named in
    the URL."""
    import trustme
    ca = trustme.CA()
    served = ca.issue_cert("127.0.0.1")
    files = {name: tmp_path / name for name in ("ca.pem", "cert.pem", "key.pem")}
    ca.cert_pem.write_to_path(files["ca.pem"])
    served.cert_chain_pems[0].write_to_path(files["cert.pem"])
    served.private_key_pem.write_to_path(files["key.pem"])
    redis = Redis(str(tmp_path), tls=files)
    started = []
    try:
        started += [Node(redis), Node(redis)]
        ann = register_irc(started[0].address, "ann")
        bob = register_irc(started[1].address, "bob")
        assert wait_until(lambda: knows(bob, "ann"), interval=0.05)
        bob.send("PRIVMSG ann :over TLS to Redis")
        assert ann.expect("over TLS").endswith(":bob!bob@127.0.0.1 PRIVMSG ann :over TLS to Redis")
        ann.close(), bob.close()
    finally:
        for node in started:
            node.stop()
        redis.stop()



#: Seconds ``redis-cli --cluster create`` may take (see RedisCluster).
CLUSTER_JOIN = 6 * TIMEOUT


class RedisCluster:
    """Three redis-server masters in cluster mode, on loopback ports the system gave free (a
    Redis Cluster takes no port 0: its nodes must name each other's), made one cluster with
    ``redis-cli --cluster create``; on fresh ports if a node finds its own taken."""

    def __init__(self, folder):
        self.folder = folder
        self.processes = []
        started = start_on_free_ports(6, self._start, lambda ports: all(
            self._answers(port) for port in ports[:3]))  # a client and a bus port each
        if started is None:
            pytest.fail("redis-server did not start in cluster mode:\n" + self._logs())
        ports, self.processes = started
        self.ports = ports[:3]
        self.url = f"redis://127.0.0.1:{self.ports[0]}/0"
        # It waits for the nodes to agree, looking once a second: 1 to 6 s on an idle
        # machine, and past TIMEOUT once under a full suite's load (a CI run at c51bf0b).
        made = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{port}" for port in self.ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=CLUSTER_JOIN)
        assert made.returncode == 0, made.stdout + made.stderr
        assert wait_until(lambda: all(self._ready(port) for port in self.ports))

    def _start(self, ports):
        self.homes = [os.path.join(self.folder, str(port)) for port in ports[:3]]
        processes = []
        for port, bus, home in zip(ports[:3], ports[3:], self.homes):
            os.makedirs(home)
            processes.append(subprocess.Popen(
                [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-port", str(bus), "--cluster-config-file", "nodes.conf", "--dir",
                 home, "--logfile", os.path.join(home, "redis.log"), "--save", "",
                 "--appendonly", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return processes

    def _logs(self):
        """The last lines each node of the last attempt logged."""
        logs = []
        for home in self.homes:
            try:
                with open(os.path.join(home, "redis.log")) as log:
                    logs.append(home + ":\n" + "".join(log.readlines()[-5:]))
            except FileNotFoundError:
                logs.append(home + ": no log")
        return "\n".join(logs)

    @staticmethod
    def _answers(port):
        return answers(socket.AF_INET, ("127.0.0.1", port))

    @staticmethod
    def _ready(port):
        return "cluster_state:ok" in subprocess.run(
            ["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True, text=True,
            timeout=TIMEOUT).stdout

    def stop(self):
        for process in self.processes:
            process.kill()
            process.wait(TIMEOUT)
        self.processes = []


def test_nodes_on_a_redis_cluster_go_through_sharded_pub_sub(tmp_path):
    cluster = RedisCluster(str(tmp_path))
    started = []
    try:
        started += [Node(cluster), Node(cluster)]
        alpha, beta = started
        alpha.wait_for(r"a Redis Cluster: keys under \{tcpchat\}:, sharded pub/sub")
        ann = register_irc(alpha.address, "ann")
        bob = register_irc(beta.address, "bob")
        ann.expect("JOIN #lobby")  # bob's
        ann.send("PRIVMSG #lobby :through a shard")
        assert bob.expect("through a shard").endswith(":ann!ann@127.0.0.1 PRIVMSG #lobby :through a shard")
        taken = LineSocket(beta.address)
        taken.send("NICK ann", "USER x 0 * :x")
        assert " 433 " in taken.expect(" 433 ")  # the claim script ran on the slot's master
        alpha.process.kill()
        assert bob.expect("QUIT").startswith(":ann!ann@127.0.0.1 QUIT :")  # reaped
        for peer in (ann, bob, taken):
            peer.close()
    finally:
        for node in started:
            node.stop()
        cluster.stop()


def test_a_browser_s_user_on_one_node_talks_with_a_netcat_user_on_another(nodes):
    pytest.importorskip("wsproto")
    from helpers import WebPeer
    alpha, beta = nodes("--web", "0"), nodes()
    web_port = int(re.search(r"port (\d+) \(web\)", alpha.wait_for(r"\(web\)")).group(1))
    page = WebPeer(("127.0.0.1", web_port))
    page.send("NICK wendy", "USER wendy 0 * :Wendy")
    page.expect(" 366 ")
    nadia = register_plain(beta.address, "nadia")
    page.expect("JOIN #lobby")  # nadia's, from beta
    nadia.send("hello browser")
    assert page.expect("hello browser").endswith(":nadia!nadia@127.0.0.1 PRIVMSG #lobby :hello browser")
    page.send("PRIVMSG #lobby :hello netcat")
    nadia.expect("wendy: hello netcat")
    page.close(), nadia.close()


def test_without_the_redis_library_cluster_says_what_to_install():
    import sys
    script = ("import sys; sys.modules['redis'] = None; from tcpchat.server import main; "
              "sys.exit(main(['--port', '0', '--cluster', 'redis://127.0.0.1/0']))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=TIMEOUT, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "--cluster needs the redis library: pip install 'tcpchat[cluster]'")
