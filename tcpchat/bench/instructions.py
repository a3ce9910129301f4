"""What a message costs the core, in instructions: counted by valgrind's callgrind, the same
count run after run, where seconds on this machine swing by more than the changes measured.

The core alone (no sockets), as the select loop drives it at saturation: 100 members in one
room, 10 of them sending 4 lines each a turn, the room's batches recorded as broadcasts
(sending them is the kernel's, and no server's Python changes it).  Each tree runs twice
under callgrind, for a few turns and for many; what the many cost more, over the messages
they had more, is a message's cost, start-up and registration left out.  With history (in
memory, as ``python -m tcpchat.server`` keeps it) the loop's thread and the writer's are
counted apart, the writer once it has written every message.

    python -m tcpchat.bench.instructions [--trees REV,REV,...] [--turns N] [--loop]

With ``--loop``, the everyday shape through the select loop instead: one line a turn from one
member of the room, read from a loopback socket, handled, and written to the 99 others'
sockets, so that the loop's own work and the user-space part of its sends are counted with
the core's (the kernel's part is not).  The others' sockets are read in the same thread after
each turn: what that costs, the same for every tree, is in the count too.

``--trees`` takes git revisions (as ``--targets NAME@REV`` does) and ``.``, the working tree
(the default).  Instructions are not time: a change that makes memory colder (history's rows,
freed 20 ms after they were made) costs more time than its count says, so a claim of speed
still needs ``python -m tcpchat.bench``'s paired rounds beside this.  Needs valgrind
(``apt-get install valgrind``); each tree takes about a minute.
"""

import argparse
import glob
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

from .targets import ROOT, export

MEMBERS, SENDERS, LINES = 100, 10, 4
#: The turns of the short run: what it costs is start-up, taken off the long run's.
FEW = 10
LINE = b"PRIVMSG #lobby :~#010001:000000001 " + b"x" * 40 + b"\r\n"


def run_turns(folder, package, turns, history):
    """In the child valgrind runs: *turns* turns through the core of *package*, found in
    *folder*, with history in memory or none; then the store closed, which waits for the
    writer to write every message, so that all its work is counted."""
    sys.path.insert(0, folder)
    core_members = importlib.import_module(f"{package}.bench.core").core_members
    transport = importlib.import_module(f"{package}.chat.connection").Transport
    store = None
    if history:
        sqlite = importlib.import_module(f"{package}.store.sqlite")
        store = sqlite.SqliteStore(None, lines=1000, total=100_000)  # as the server's
        # What a server of that tree did when it kept history (until it queued no tuples).
        getattr(sqlite, "collect_young_objects_past_history", lambda: None)()

    class Direct(transport):
        __slots__ = ()
        direct = True  # the driver sends broadcasts itself, as the select loop does

    connections, drain = core_members(MEMBERS, transport_class=Direct, history=store)
    delivery = connections[0].core.chat.delivery
    senders = connections[:SENDERS]
    data = LINE * LINES
    for _ in range(turns):
        delivery.quiet = True  # every queue was sent: the loop's flush says so
        for sender in senders:
            sender.receive_data(data)
        delivery.take_broadcasts()
        drain()
    if store is not None:
        store.close()


def run_loop_turns(folder, package, turns, history):
    """In the child valgrind runs, with ``--loop``: *turns* turns of the select loop of
    *package*, each one line from the first member, then the others' sockets read."""
    sys.path.insert(0, folder)

    def module(name):
        return importlib.import_module(f"{package}.{name}")
    store = (module("store.sqlite").SqliteStore(None, lines=1000, total=100_000)  # as run_turns
             if history else None)
    bench_core = module("bench.core")
    loop = module("transports.selectloop").SelectLoop(
        module("core").ChatCore(bench_core.bench_config(), history=store),
        module("transports.driver").listen("127.0.0.1", 0))
    loop._timeout = lambda: 0.05  # a turn waits for its line, never for a timer
    clients = module("bench.turn").members_of(loop, MEMBERS)
    sender, others = clients[0], clients[1:]
    for sock in others:
        sock.setblocking(True)  # the line is there once the turn is over (loopback)
        sock.settimeout(10)
    buffer = bytearray(1 << 16)
    for _ in range(turns):
        sender.send(bench_core.LINE)
        loop._turn()
        for sock in others:
            sock.recv_into(buffer)
    if store is not None:
        store.close()


def counted(tree, turns, history, folder, through_loop=False):
    """Instructions callgrind counted in a run of *turns* of *tree* (``(folder, package)``):
    ``(the main thread's, the other threads')``."""
    out = os.path.join(folder, f"callgrind.{turns}.{int(history)}")
    command = ["valgrind", "--tool=callgrind", "--separate-threads=yes",
               f"--callgrind-out-file={out}", sys.executable, "-m", "tcpchat.bench.instructions",
               "--child", *tree, str(turns), "on" if history else "off",
               "loop" if through_loop else "core"]
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if run.returncode != 0:
        raise SystemExit(f"{tree[0]}: the run under valgrind failed:\n{run.stderr[-2000:]}")
    threads = sorted(glob.glob(out + "-*"))
    totals = [_total(path) for path in threads]
    return totals[0], sum(totals[1:])


def _total(path):
    """The instructions a callgrind output file counted (its ``summary:`` line)."""
    with open(path) as lines:
        for line in lines:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise ValueError(f"{path}: no summary line")


def per_message(tree, turns, history, folder, through_loop=False):
    """``(loop, others)``: instructions a message, on the loop's thread and on the rest."""
    few_loop, few_rest = counted(tree, FEW, history, folder, through_loop)
    many_loop, many_rest = counted(tree, turns, history, folder, through_loop)
    messages = (turns - FEW) * (1 if through_loop else SENDERS * LINES)
    return (many_loop - few_loop) / messages, (many_rest - few_rest) / messages


def report(rows, through_loop=False):
    """The table of :func:`main`: *rows* are ``(tree, history, loop, others)``, each tree's
    without history, then with it."""
    if through_loop:
        shape = (f"through the select loop (callgrind): one line a turn into {MEMBERS} members "
                 "over loopback, the sends' user space and the members' reads included")
    else:
        shape = (f"through the core (callgrind): {MEMBERS} members, {SENDERS} senders x "
                 f"{LINES} lines a turn, broadcasts recorded")
    lines = [f"instructions a message {shape}",
             f"  {'tree':<12}{'history':>8}{'loop':>10}{'writer':>10}{'all':>10}"]
    for tree, history, loop, others in rows:
        writer = f"{others:10,.0f}" if history else f"{'-':>10}"
        lines.append(f"  {tree:<12}{'on' if history else 'off':>8}{loop:10,.0f}{writer}"
                     f"{loop + others:10,.0f}")
    for (tree, _, loop, _), (_, _, history_loop, writer) in zip(rows[::2], rows[1::2]):
        lines.append(f"  {tree}: with history, {(history_loop + writer) / loop - 1:.1%} more "
                     f"(the loop's thread {history_loop / loop - 1:.1%}, the writer "
                     f"{writer / loop:.1%})")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", default=".",
                        help="git revisions, and . for the working tree (default: .)")
    parser.add_argument("--turns", type=int, default=200,
                        help=f"turns of the long run (default 200; {FEW} for the short one)")
    parser.add_argument("--loop", action="store_true",
                        help="one line a turn through the select loop, sends included")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        folder, package, turns, history, shape = args.child
        run = run_loop_turns if shape == "loop" else run_turns
        run(folder, package, int(turns), history == "on")
        return
    if shutil.which("valgrind") is None:
        sys.exit("tcpchat.bench.instructions needs valgrind: apt-get install valgrind")
    if args.turns <= FEW:
        parser.error(f"--turns must be more than {FEW}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="tcpchat-instructions-") as folder:
        for tree in args.trees.split(","):
            where = (str(ROOT), "tcpchat")
            if tree != ".":
                # Beside this process's tcpchat, under a name of its own (as compare does).
                where = (os.path.join(folder, tree), "tcpchat_tree")
                os.mkdir(where[0])
                export(tree, where[0], package=where[1])
            for history in (False, True):
                print(f"... {tree}, history {'on' if history else 'off'}", file=sys.stderr)
                rows.append((tree, history, *per_message(where, args.turns, history, folder,
                                                         args.loop)))
    print(report(rows, args.loop))


if __name__ == "__main__":
    main()
