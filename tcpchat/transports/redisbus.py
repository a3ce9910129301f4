"""The cluster's bus on Redis: what :class:`tcpchat.cluster.link.ClusterLink` publishes goes
to every node through one pub/sub channel, and the state a node joining later needs (who is on
which node, the rooms' modes and topics, who holds which nick) is kept in Redis beside it.

Theory of operation.  The loop never waits on Redis.  What the link hands over (a record to
publish with its writes, a nick to claim or release, the node's whole state after a
reconnection) goes on a queue, and one thread, the bus thread, takes everything queued at once
and sends the records as one PUBLISH (a JSON line each), inside one MULTI/EXEC with the state
they change when they change any: what was queued meanwhile costs one round trip, and a record
and its state are seen together or not at all.  Claims are Lua scripts in the same transaction
(a nick is held under its folded form and its skeleton, all or nothing), answered back on the
loop through the driver's ``post``.  A second thread reads the channel, decodes the records
and posts them to the loop a batch at a time; at most :data:`IN_FLIGHT`
batches wait there, after which it stops reading and Redis holds the rest (and past its
``client-output-buffer-limit pubsub``, drops this subscriber: the node then heals as after a
restart).

Liveness.  Each node sets ``alive:NODE`` with a time to live of :data:`TTL` seconds and
renews it every :data:`BEAT`.  At each beat a node looks for nodes whose key ran out and reaps
them with one script, which only one node can win: the dead node's nick claims and user records
go, and a ``gone`` record tells the others, who show its users' QUITs as a netsplit.  So a
node killed with ``kill -9`` is let go within :data:`TTL` + :data:`BEAT` seconds.

Faults.  When Redis cannot be reached (or the queue passes :data:`QUEUE` jobs, a Redis that
stalls), the link is told the node is *split*, once, and what waits is dropped (claims are
answered "cannot check").  The thread reconnects with a growing pause (:data:`BACKOFF`); past
:data:`TTL` seconds apart, the link lets the other nodes' users go, as they let this node's go.
Once connected again, the link hands over its whole state: the node claims its users' nicks
again, rewrites its user records, and reads everyone else's, so that the shared state is rebuilt
from what the nodes hold.

Keys, under a prefix (``tcpchat:``): ``bus`` (the channel), ``nodes`` (a set), ``names``
(node -> server name), ``alive:NODE``, ``users:NODE`` (uid -> user record), ``claims:NODE``
(the nick keys its users hold), ``nick:FOLDED`` and ``look:SKELETON`` (-> uid), and
``room:FOLDED`` (-> room record), ``records`` (accounts and registered rooms) and
``history:TARGET`` (the newest entries of each target's history).

A Redis Cluster is found at connection (``INFO cluster``).  Then the prefix is a hash tag
(``{tcpchat}:``), so that every key is in one slot and the transactions and scripts work as on
one Redis (the scripts name one key, for the cluster to route them, and build the others from
their arguments), and the channel is a shard channel (``SPUBLISH``/``SSUBSCRIBE``) on its
slot's master.  One master carries the chat; the cluster gives it failover, not more room.
"""

import collections
import json
import logging
import queue
import threading
import time

from ..cluster.memory import HISTORY_LINES, nick_keys, releasable

log = logging.getLogger("tcpchat")

#: Seconds a node's liveness key lives, and between renewals.
TTL = 3.0
BEAT = 1.0
#: Jobs that may wait for the bus thread; past them, the node counts itself split (see the
#: module's doc).
QUEUE = 100_000
#: Batches of received records that may wait for the loop, and records a batch (at least:
#: one PUBLISH is never split).
IN_FLIGHT = 64
BATCH = 1000
#: Seconds a Redis call may take before the connection counts as lost.
TIMEOUT = 2.0
#: A target's history list is trimmed to HISTORY_LINES once this many entries were pushed to
#: it (so it holds at most HISTORY_LINES + TRIM_EVERY).
TRIM_EVERY = 100
#: The pause between reconnections: from the first, doubling, up to the second.
BACKOFF = (0.1, 2.0)

_CLAIM = """
for _, key in ipairs(KEYS) do
  local owner = redis.call('get', key)
  if owner and owner ~= ARGV[1] then return 0 end
end
for _, key in ipairs(KEYS) do
  redis.call('set', key, ARGV[1])
  redis.call('sadd', ARGV[2], key)
end
return 1
"""

_RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[1] then
    redis.call('del', key)
    redis.call('srem', ARGV[2], key)
  end
end
return 0
"""

# Takes the entry with msgid ARGV[1] out of the history list KEYS[1] (a redaction).
_UNHISTORY = """
for _, entry in ipairs(redis.call('lrange', KEYS[1], 0, -1)) do
  if cjson.decode(entry)[1] == ARGV[1] then redis.call('lrem', KEYS[1], 1, entry) end
end
return 0
"""

# A renamed room's history list (KEYS[1]) under its new name (KEYS[2]), if it has one.
_REHISTORY = """
if redis.call('exists', KEYS[1]) == 1 then redis.call('rename', KEYS[1], KEYS[2]) end
return 0
"""

# Drops the claims of node ARGV[2] (under prefix ARGV[1]): all of them, before its users
# claim their nicks again after a reconnection.
_DROP_CLAIMS = """
local claims = ARGV[1] .. 'claims:' .. ARGV[2]
local mine = ARGV[2] .. '.'
for _, key in ipairs(redis.call('smembers', claims)) do
  local owner = redis.call('get', key)
  if owner and string.sub(owner, 1, #mine) == mine then redis.call('del', key) end
end
redis.call('del', claims)
return 0
"""

# Reaps node ARGV[2] if its liveness key is gone and nobody reaped it yet; tells the others
# on channel ARGV[3] with the command ARGV[4] (PUBLISH, or SPUBLISH on a Redis Cluster).
# (KEYS[1], the set of nodes, is named so that a Redis Cluster sends it to its keys' node.)
_REAP = """
local prefix, node = ARGV[1], ARGV[2]
if redis.call('exists', prefix .. 'alive:' .. node) == 1 then return 0 end
if redis.call('srem', prefix .. 'nodes', node) == 0 then return 0 end
local mine = node .. '.'
for _, key in ipairs(redis.call('smembers', prefix .. 'claims:' .. node)) do
  local owner = redis.call('get', key)
  if owner and string.sub(owner, 1, #mine) == mine then redis.call('del', key) end
end
redis.call('del', prefix .. 'claims:' .. node, prefix .. 'users:' .. node)
redis.call('hdel', prefix .. 'names', node)
redis.call(ARGV[4], ARGV[3], '* ' .. cjson.encode({t = 'gone', node = node}))
return 1
"""


class Broken(Exception):
    """The session with Redis must start again (its reader failed, or the queue
    overflowed, or this node was reaped while it stalled)."""


#: What a subscription's pushes that carry a message are called (classic and sharded).
_MESSAGES = ("message", "smessage")
#: What :meth:`RedisBus.close` queues: the bus thread's last job.
_STOP = ("stop",)


def redact_url(url):
    """*url* with any password in it masked, for the log."""
    scheme, sep, rest = url.partition("://")
    credentials, at, place = rest.rpartition("@")
    if not at:
        return url
    user = credentials.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{place}"


def _dumps(record):
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


class RedisBus:
    """One node's bus to the Redis at *url* (``redis://``, ``rediss://`` or ``unix://``).
    Set :attr:`link` and :attr:`post` (the driver's ``post_completed``), then :meth:`start`."""

    def __init__(self, url, node, name, password=None, prefix="tcpchat:", ttl=TTL, beat=BEAT,
                 bound=QUEUE):
        import redis  # the cluster extra; the server checked it is there
        self._redis = redis
        self.url, self.node, self.name, self.password = url, node, name, password
        self.ttl, self.beat, self.bound = ttl, beat, bound
        #: Every key's prefix: *prefix*, or on a Redis Cluster the same as a hash tag
        #: (``{tcpchat}:``), so that every key is in one slot and scripts and transactions
        #: may use several.
        self.base_prefix = prefix
        self._use_prefix(prefix)
        self._told_sharded = False
        self._publish_command = "PUBLISH"
        # Each record on the channel starts with its node, so that a node passes its own by
        # (the reaper's start with "*").
        self._origin = node + " "
        self.link = None
        self.post = None
        self._jobs = queue.SimpleQueue()
        self._overflowed = False
        self._stopping = threading.Event()
        self._in_flight = threading.BoundedSemaphore(IN_FLIGHT)
        self._thread = threading.Thread(target=self._run, name="tcpchat-bus", daemon=True)
        self._reader = None
        self._pubsub = self._publisher = None
        #: Records sent and received, and jobs dropped while split (the bus thread's).
        self.counts = collections.Counter()
        #: Jobs refused past the bound (the loop's).
        self.refused = 0
        #: History entries pushed to each target's list since it was last trimmed.
        self._pushed = collections.Counter()

    def start(self):
        self._thread.start()

    def _use_prefix(self, prefix):
        self.prefix = prefix
        self.channel = prefix + "bus"

    def close(self):
        """Leave the cluster: the others are told at once (not after :data:`TTL`)."""
        self._stopping.set()
        self._jobs.put(_STOP)
        self._thread.join(TIMEOUT * 3)

    # -- What the link calls, on the loop --------------------------------------------------

    def _queue(self, job):
        if self._overflowed or self._jobs.qsize() >= self.bound:
            self.refused += 1
            if not self._overflowed:
                self._overflowed = True  # the bus thread drops the queue and starts again
                self._jobs.put(("broken",))
            return False
        self._jobs.put(job)
        return True

    def publish(self, record, writes):
        self._queue(("publish", record, writes))

    def claim(self, nick, uid, done):
        if not self._queue(("claim", nick, uid, done)):
            done(None)
        return True

    def release(self, nick, uid, keep=None):
        self._queue(("release", nick, uid, keep))

    def resync(self, users, rooms, records=()):
        self._queue(("resync", users, rooms, records))

    # -- The bus thread --------------------------------------------------------------------

    def _run(self):
        pause, apart_since, lost = BACKOFF[0], None, False
        while not self._stopping.is_set():
            connection = None
            try:
                connection = self._connect()
                pause, apart_since, lost = BACKOFF[0], None, False
                self._serve(connection)
            except (self._redis.RedisError, OSError, Broken) as exc:
                if not self._stopping.is_set():  # once a split: then each try, for debugging
                    log.log(logging.DEBUG if apart_since else logging.WARNING,
                            "cluster: Redis at %s: %s", redact_url(self.url),
                            exc or type(exc).__name__)
            finally:
                self._end_session(connection)
            if self._stopping.is_set():
                break
            self.post(lambda _: self.link.split(), None)
            apart_since = apart_since or time.monotonic()
            if not lost and time.monotonic() - apart_since > self.ttl:
                lost = True  # the others have let this node go by now
                self.post(lambda _: self.link.lost(), None)
            self._stopping.wait(pause)
            pause = min(pause * 2, BACKOFF[1])

    def _connect(self):
        options = dict(password=self.password, socket_timeout=TIMEOUT,
                       socket_connect_timeout=TIMEOUT, decode_responses=True)
        redis = self._redis.Redis.from_url(self.url, **options)
        sharded = bool(redis.info("cluster").get("cluster_enabled"))
        if sharded:  # a Redis Cluster: its client, keys in one slot, sharded pub/sub
            redis.close()
            redis = self._redis.RedisCluster.from_url(self.url, **options)
            self._use_prefix("{" + self.base_prefix.rstrip(":") + "}:")
        else:
            self._use_prefix(self.base_prefix)
        self._publish_command = "SPUBLISH" if sharded else "PUBLISH"
        redis.ping()
        if sharded and not self._told_sharded:
            self._told_sharded = True
            log.info("cluster: a Redis Cluster: keys under %s, sharded pub/sub on %s",
                     self.prefix, self.channel)
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self._drop_claims = redis.register_script(_DROP_CLAIMS)
        self._reap = redis.register_script(_REAP)
        self._unhistory = redis.register_script(_UNHISTORY)
        self._rehistory = redis.register_script(_REHISTORY)
        # The channel's own node (on a Redis Cluster, the master of its slot) serves the
        # subscription and the bus's own connection for publishing.
        owner = (redis.get_redis_connection(redis.get_node_from_key(self.channel)) if sharded
                 else redis)
        # On the node that runs them: a cluster's pipeline does not load them itself.
        for script in (self._claim, self._release, self._drop_claims, self._reap,
                       self._unhistory, self._rehistory):
            owner.script_load(script.script)
        pubsub = owner.pubsub()
        (pubsub.ssubscribe if sharded else pubsub.subscribe)(self.channel)
        confirmed = pubsub.get_message(timeout=TIMEOUT)  # so nothing after this is missed
        if not confirmed or confirmed["type"] not in ("subscribe", "ssubscribe"):
            raise Broken("no subscription")
        self._pubsub = pubsub
        self._publisher = owner.connection_pool.get_connection()
        self._overflowed = self._resynced = False
        self._drain_jobs()  # what was queued while apart is in the state handed over next
        self._beat(redis)
        self.post(lambda _: self.link.connected(), None)
        return redis

    def _end_session(self, redis):
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:  # closing what broke: nothing more to do with it
                pass
        if self._reader is not None:
            self._reader.join(TIMEOUT * 2)
            self._reader = None
        if self._stopping.is_set() and redis is not None:
            try:
                redis.delete(self.prefix + "alive:" + self.node)
                self._reap(keys=[self.prefix + "nodes"],
                           args=[self.prefix, self.node, self.channel, self._publish_command])
            except (self._redis.RedisError, OSError):
                pass
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            publisher.disconnect()
        if redis is not None:
            redis.close()
        self._drain_jobs()

    def _drain_jobs(self):
        """Drop what waits, answering claims "cannot check"."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job[0] == "claim":
                self.post(job[3], None)
            self.counts["dropped"] += job is not _STOP

    def _serve(self, redis):
        next_beat = time.monotonic() + self.beat
        while True:
            try:
                jobs = [self._jobs.get(timeout=max(0.0, next_beat - time.monotonic()))]
            except queue.Empty:
                jobs = []
            while jobs and len(jobs) < 10_000:
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            if _STOP in jobs:
                return  # closing
            self._send(redis, jobs)
            if time.monotonic() >= next_beat:
                self._beat(redis)
                next_beat = time.monotonic() + self.beat

    def _send(self, redis, jobs):
        """Everything queued, in order: the state writes and the claims in one transaction,
        with the records as one PUBLISH (a line each) at its end; then the claims'
        answers.  (Most batches are records alone: no transaction is made for them.)"""
        pipe, records, claims, history = None, [], [], []
        users, claims_key = self.prefix + "users:" + self.node, self.prefix + "claims:" + self.node
        for job in jobs:
            kind = job[0]
            if kind == "publish":
                _kind, record, writes = job
                for write in writes:
                    if write[0] == "history":  # needs no transaction (see _flush)
                        history.append(write)
                        continue
                    pipe = pipe or redis.pipeline(transaction=True)
                    self._write(pipe, users, write)
                if record is not None:
                    records.append(_dumps(record))
            elif kind == "claim":
                pipe = pipe or redis.pipeline(transaction=True)
                claims.append((len(pipe), job[3]))
                self._claim(keys=self._keys(nick_keys(job[1])), args=[job[2], claims_key],
                            client=pipe)
            elif kind == "release":
                keys = self._keys(releasable(job[1], job[3]))
                if keys:
                    pipe = pipe or redis.pipeline(transaction=True)
                    self._release(keys=keys, args=[job[2], claims_key], client=pipe)
            elif kind == "resync":
                self._flush(redis, pipe, records, claims, history)  # what came before, then it
                pipe, records, claims, history = None, [], [], []
                self._resync(redis, *job[1:])
            elif kind == "broken":
                raise Broken("the queue overflowed: Redis does not keep up")
        self._flush(redis, pipe, records, claims, history)

    def _flush(self, redis, pipe, records, claims, history):
        if history:  # each target's list: a JSON entry more, and now and then the oldest
            # past the bound out (a command less for most messages)
            pipe = pipe or redis.pipeline(transaction=False)
            pushed = self._pushed
            for _kind, key, entry in history:
                pipe.rpush(self.prefix + "history:" + key, _dumps(entry))
                pushed[key] += 1
            for key in {key for _kind, key, _entry in history}:
                if pushed[key] >= TRIM_EVERY:
                    pushed[key] = 0
                    pipe.ltrim(self.prefix + "history:" + key, -HISTORY_LINES, -1)
        if records:
            payload = self._origin + "\n".join(records)  # JSON has no raw line ends
            if pipe is not None:
                pipe.execute_command(self._publish_command, self.channel, payload)
            else:  # the usual case, messages alone: one command on the bus thread's own
                # connection (less CPU than through the client's pool: the bench measures it)
                self._publisher.send_command(self._publish_command, self.channel, payload)
                self._publisher.read_response()
            self.counts["sent"] += len(records)
        if pipe is not None:
            results = pipe.execute()
            for index, done in claims:
                self.post(done, bool(results[index]))

    def _keys(self, keys):
        return [self.prefix + key for key in keys]

    def _write(self, pipe, users, write):
        kind = write[0]
        if kind == "user":
            pipe.hset(users, write[1], _dumps(write[2]))
        elif kind == "unuser":
            pipe.hdel(users, write[1])
        elif kind == "room":
            pipe.set(self.prefix + "room:" + write[1], _dumps(write[2]))
        elif kind == "unroom":
            pipe.delete(self.prefix + "room:" + write[1])
        elif kind == "unhistory":
            self._unhistory(keys=[self.prefix + "history:" + write[1]], args=[write[2]],
                            client=pipe)
        elif kind == "rehistory":
            self._rehistory(keys=[self.prefix + "history:" + write[1],
                                  self.prefix + "history:" + write[2]], client=pipe)
        elif kind == "record":
            _kind, kind, key, data = write
            if data is None:
                pipe.hdel(self.prefix + "records", f"{kind}:{key}")
            else:
                pipe.hset(self.prefix + "records", f"{kind}:{key}", _dumps(data))

    def _beat(self, redis):
        prefix = self.prefix
        pipe = redis.pipeline(transaction=True)
        pipe.set(prefix + "alive:" + self.node, self.name, px=int(self.ttl * 1000))
        pipe.sadd(prefix + "nodes", self.node)
        pipe.hset(prefix + "names", self.node, self.name)
        pipe.smembers(prefix + "nodes")
        _alive, added, _name, nodes = pipe.execute()
        if added and getattr(self, "_resynced", False):
            self._resynced = False
            raise Broken("this node was let go while it did not answer")
        for node in nodes:
            if node != self.node and not redis.exists(prefix + "alive:" + node):
                if self._reap(keys=[prefix + "nodes"],
                              args=[prefix, node, self.channel, self._publish_command]):
                    log.warning("cluster: node %s stopped answering: its users are let go", node)

    def _resync(self, redis, users, rooms, records):
        """The link's whole state: claim its nicks again, rewrite its records, tell the
        others; then read everyone's and hand it back, and start reading the channel."""
        prefix, node = self.prefix, self.node
        claims_key, users_key = prefix + "claims:" + node, prefix + "users:" + node
        self._drop_claims(keys=[prefix + "nodes"], args=[prefix, node])
        collisions, kept = [], []
        for record in users:
            if self._claim(keys=self._keys(nick_keys(record["nick"])),
                           args=[record["uid"], claims_key]):
                kept.append(record)
            else:
                collisions.append(record["uid"])
        pipe = redis.pipeline(transaction=True)
        pipe.delete(users_key)
        for record in kept:
            pipe.hset(users_key, record["uid"], _dumps(record))
        for folded, room in rooms.items():
            pipe.set(prefix + "room:" + folded, _dumps(room), nx=True)
        for kind, key, data in records:  # what the cluster holds wins
            pipe.hsetnx(prefix + "records", f"{kind}:{key}", _dumps(data))
        origin = self._origin
        publish = self._publish_command
        pipe.execute_command(publish, self.channel,
                             origin + _dumps({"t": "node", "node": node, "name": self.name}))
        for record in kept:
            pipe.execute_command(publish, self.channel, origin + _dumps({"t": "user", "u": record}))
        pipe.execute()
        self.post(lambda snapshot: self.link.whole_again(snapshot, collisions),
                  self._snapshot(redis))
        self._resynced = True
        self._reader = threading.Thread(target=self._read, args=(self._pubsub,),
                                        name="tcpchat-bus-reader", daemon=True)
        self._reader.start()

    def _snapshot(self, redis):
        prefix = self.prefix
        names = redis.hgetall(prefix + "names")
        nodes = redis.smembers(prefix + "nodes")
        users = []
        for node in nodes:
            users += map(json.loads, redis.hvals(prefix + "users:" + node))
        rooms = {}
        keys = list(redis.scan_iter(prefix + "room:*", count=1000))
        for key, value in zip(keys, redis.mget(keys) if keys else ()):
            if value is not None:
                rooms[key[len(prefix) + 5:]] = json.loads(value)
        records = [(*field.split(":", 1), json.loads(value))
                   for field, value in redis.hgetall(prefix + "records").items()]
        history = {}
        for key in redis.scan_iter(prefix + "history:*", count=1000):
            history[key[len(prefix) + 8:]] = list(map(json.loads, redis.lrange(key, 0, -1)))
        return {"nodes": {node: names.get(node, node) for node in nodes}, "users": users,
                "rooms": rooms, "records": records, "history": history}

    # -- The reader thread -----------------------------------------------------------------

    def _read(self, pubsub):
        """Records from the channel to the loop, a batch at a time, until the session ends.

        It reads the subscription's connection itself (each reply a ``[kind, channel,
        data]`` push, parsed by hiredis), as ``PubSub.get_message`` does but without the
        layers of Python around it, which each message paid (``python -m
        tcpchat.bench.cluster``: the bus threads' CPU a message went from about 140 to 110
        µs); many messages on the channel are this node's own, read only to be passed by."""
        node, origin = self.node, self._origin
        connection = pubsub.connection
        try:
            while not self._stopping.is_set():
                if not connection.can_read(timeout=self.beat):
                    continue
                batch = []
                while True:
                    kind, _channel, data = connection.read_response(
                        disconnect_on_error=False, push_request=True, timeout=TIMEOUT)[:3]
                    if kind in _MESSAGES and not data.startswith(origin):
                        for line in data.partition(" ")[2].split("\n"):
                            record = json.loads(line)
                            if record.get("t") == "gone" and record.get("node") == node:
                                raise Broken("the other nodes let this one go")
                            batch.append(record)
                    if len(batch) >= BATCH or not connection.can_read(timeout=0):
                        break
                if batch:
                    self.counts["received"] += len(batch)
                    self._in_flight.acquire()
                    self.post(self._apply, batch)
        except (self._redis.RedisError, OSError, ValueError, TypeError, AttributeError,
                Broken) as exc:
            if not self._stopping.is_set() and self._pubsub is pubsub:
                log.info("cluster: reading the bus: %s", exc or type(exc).__name__)
                self._jobs.put(("broken",))

    def _apply(self, batch):
        """On the loop: the link applies *batch*; the reader may post another."""
        try:
            self.link.received(batch)
        finally:
            self._in_flight.release()
