/* The fan-out load generator in C, for ``python -m tcpchat.bench --generator c``.
 *
 * The Python generator (load.py) is the limit of what it can measure: against the trivial
 * relay it tops out near 3 M deliveries a second, and the server waits for it half the time.
 * This one does the same fan-out from one thread with epoll, at a few tens of nanoseconds a
 * delivery, so that the server is what runs out first.
 *
 *   loadgen [--rate RATE] HOST PORT PROTO CLIENTS SENDERS WINDOW WARMUP SECONDS [STALL]
 *
 * PROTO is irc or plain.  Every client registers (IRC: NICK, USER, JOIN #bench; plain: its
 * name, which puts it in the server's default room); the first SENDERS clients send, each
 * keeping at most WINDOW messages in flight: a message is complete once every other client
 * has it.  Every message's text carries "~#TTSSSS:QQQQQQQQQ" (run, sender, sequence), so
 * any server and either protocol can be checked the same way: each receiver must see each
 * other sender's sequence numbers exactly in order, none lost, none twice.  After WARMUP
 * seconds it counts deliveries for SECONDS.  It prints a line of JSON when the counting starts,
 * {"measuring": true}, and one when it ends, {"deliveries": N, "seconds": S}; then it sends no
 * more and waits for every message in flight to reach every client, and prints {"checked":
 * true}.  It prints {"error": "..."} as soon as anything is wrong (exit status 1): a message out
 * of order, one received twice, or one that never reaches every client: no client got any of
 * its sender's messages for STALL seconds (default 10).  Lines that are not messages (JOINs,
 * numerics) are skipped; a PING is answered.
 *
 * With --rate, the loop is open instead (the latency scenario): RATE messages a second in all,
 * on a fixed schedule whatever the server does (sender s's message k is due at k + s/SENDERS
 * intervals of SENDERS/RATE seconds from the start; WINDOW is not used), each sent when it is
 * due (a timerfd: epoll counts its timeout in whole milliseconds).  Every receiver is read as
 * soon as data comes, as each user's own client would be, and each delivery counted while
 * measuring gives a latency: from the message's *scheduled* send to its receipt, so that a
 * stalled server cannot hide its stall by holding back the sends.  The end line then also holds
 * "samples" and "p50_us", "p90_us", "p99_us", "max_us" (to the microsecond).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (256 * 1024)
#define MAX_SENDERS 64
#define TEXT_PAD 40 /* "~#TTSSSS:QQQQQQQQQ " and padding: about 64 bytes of text */
/* A message not at every receiver this long after any receiver last got one of its sender's
 * is lost: a window that never opens again would otherwise look like a slow server, not a
 * wrong one.  Counted from the last delivery, not from the last message every receiver had,
 * and long: a slow server (asyncio's, at 500 members and 128 in flight) may serve a sender
 * seconds after the others, and complete its messages now and then only. */
static double stall_seconds = 10.0;

struct client {
    int fd;
    char *in;          /* an unfinished line */
    size_t in_len;
    char *out;         /* what the socket has not taken yet */
    size_t out_len, out_cap;
    int registered;    /* saw the end of NAMES (IRC) or the welcome (plain) */
    long expected[MAX_SENDERS]; /* next sequence number due from each sender */
};

static struct client *clients;
static int nclients, nsenders, plain;
static long sent[MAX_SENDERS];
static long delivered; /* counted only while measuring */
/* This run's own, in its nicks and its records: a server may still hold the last run's
 * clients (a nick in use would never register) and relay their last messages. */
static char tag[3];
static int measuring;
/* The open loop (--rate): messages a second in all (0: the closed loop), when the schedule
 * starts, a sender's interval between messages, and the latencies counted while measuring, in
 * microseconds, one bucket each up to HISTOGRAM_US (the rest in the last) and the largest. */
#define HISTOGRAM_US 1000000
#define LOOK 0.01
static double rate, origin, interval;
static long *histogram, samples;
static double slowest;

static double due(int sender, long seq) {
    return origin + (seq + (double)sender / nsenders) * interval;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(const char *what) {
    printf("{\"error\": \"%s\"}\n", what);
    exit(1);
}

static void queue(struct client *c, const char *data, size_t len) {
    if (c->out_len + len > c->out_cap) {
        c->out_cap = (c->out_len + len) * 2;
        c->out = realloc(c->out, c->out_cap);
        if (!c->out) fail("out of memory");
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

static void flush_out(struct client *c) {
    while (c->out_len) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            fail(strerror(errno));
        }
        memmove(c->out, c->out + n, c->out_len - n);
        c->out_len -= n;
    }
}

static double arrived; /* when the read being handled came (open loop) */

static void record_latency(int sender, long seq) {
    double late = arrived - due(sender, seq);
    long us = late < 0 ? 0 : (long)(late * 1e6);
    histogram[us < HISTOGRAM_US ? us : HISTOGRAM_US - 1]++;
    samples++;
    if (late > slowest) slowest = late;
}

static void line(struct client *c, int index, const char *s, size_t len) {
    const char *mark = memmem(s, len, "~#", 2);
    if (mark && (size_t)(mark - s) + 18 <= len && mark[8] == ':') {
        if (memcmp(mark + 2, tag, 2) != 0) return; /* the last run's */
        int sender = atoi(mark + 4);
        long seq = atol(mark + 9);
        if (sender < 0 || sender >= nsenders || sender == index) fail("a record from nobody");
        if (seq != c->expected[sender]) {
            static char why[160];
            snprintf(why, sizeof why, "client %d got %ld from sender %d, expected %ld",
                     index, seq, sender, c->expected[sender]);
            fail(why);
        }
        c->expected[sender] = seq + 1;
        if (measuring) {
            delivered++;
            if (rate) record_latency(sender, seq);
        }
        return;
    }
    if (len >= 5 && memcmp(s, "PING ", 5) == 0) {
        queue(c, "PONG ", 5);
        queue(c, s + 5, len - 5);
        queue(c, "\r\n", 2);
        return;
    }
    if (!c->registered) {
        /* IRC: the end of NAMES for #bench; plain: the first "***" line after the name (the
         * greeting before it is a NOTICE). */
        if (plain ? (len >= 4 && memcmp(s, "*** ", 4) == 0)
                  : (memmem(s, len, " 366 ", 5) != NULL))
            c->registered = 1;
        if (len >= 6 && memcmp(s, "ERROR ", 6) == 0) fail("a client was refused");
    }
}

static void readable(struct client *c, int index, char *buffer) {
    for (;;) {
        ssize_t n = recv(c->fd, buffer, READ_SIZE, 0);
        if (n == 0) fail("the server closed a connection");
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            fail(strerror(errno));
        }
        if (rate) arrived = now();
        char *start = buffer, *end = buffer + n, *nl;
        if (c->in_len) { /* finish the line the last read cut */
            nl = memchr(start, '\n', end - start);
            size_t take = nl ? (size_t)(nl - start + 1) : (size_t)(end - start);
            c->in = realloc(c->in, c->in_len + take);
            memcpy(c->in + c->in_len, start, take);
            c->in_len += take;
            if (!nl) continue;
            line(c, index, c->in, c->in_len);
            c->in_len = 0;
            start = nl + 1;
        }
        while (start < end && (nl = memchr(start, '\n', end - start))) {
            line(c, index, start, nl - start);
            start = nl + 1;
        }
        if (start < end) {
            c->in = realloc(c->in, end - start);
            memcpy(c->in, start, end - start);
            c->in_len = end - start;
        }
        if (n < READ_SIZE) return;
    }
}

static void send_message(int sender) {
    static const char pad[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    char text[128];
    int len = plain
        ? snprintf(text, sizeof text, "~#%s%04d:%09ld %.*s\r\n", tag, sender, sent[sender],
                   TEXT_PAD, pad)
        : snprintf(text, sizeof text, "PRIVMSG #bench :~#%s%04d:%09ld %.*s\r\n", tag, sender,
                   sent[sender], TEXT_PAD, pad);
    queue(&clients[sender], text, len);
    sent[sender]++;
}

/* How many of *sender*'s messages every other client has; *reached*: how many deliveries of
 * them in all. */
static long completed(int sender, long *reached) {
    long least = sent[sender], sum = 0;
    for (int i = 0; i < nclients; i++) {
        if (i == sender) continue;
        if (clients[i].expected[sender] < least) least = clients[i].expected[sender];
        sum += clients[i].expected[sender];
    }
    *reached = sum;
    return least;
}

/* *sender*'s messages every other client has, failing if none of them reached anyone for
 * stall_seconds while some are in flight (*reached_before*, *progress_at*: what the last look
 * saw, and when it last saw more). */
static long watch(int sender, double t, long *reached_before, double *progress_at) {
    long reached, done = completed(sender, &reached);
    if (reached > *reached_before) {
        *reached_before = reached;
        *progress_at = t;
    } else if (done < sent[sender] && t - *progress_at > stall_seconds) {
        static char why[160];
        snprintf(why, sizeof why, "message %ld of sender %d never reached every client "
                 "(none of its sender's reached anyone for %.0f s)", done, sender,
                 stall_seconds);
        fail(why);
    }
    return done;
}

static int timer = -1; /* the open loop's timerfd, in the epoll set as index nclients */

/* Send what is queued, wait up to *timeout_ms* for what arrives, and read it; returns whether
 * something was left to send. */
static int exchange(int epoll, struct epoll_event *events, char *buffer, int timeout_ms) {
    int waiting = 0;
    for (int i = 0; i < nclients; i++) {
        if (clients[i].out_len) flush_out(&clients[i]);
        waiting |= clients[i].out_len != 0;
    }
    /* A sender the server is not reading yet is tried again in a millisecond. */
    int n = epoll_wait(epoll, events, nclients + 1, waiting ? 1 : timeout_ms);
    for (int k = 0; k < n; k++) {
        int i = events[k].data.u32;
        if (i == nclients) { /* the open loop's timer: a send is due */
            unsigned long long expirations;
            if (read(timer, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
                fail(strerror(errno));
            continue;
        }
        readable(&clients[i], i, buffer);
    }
    return waiting;
}

static int set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* The latency below which *share* of the samples fell, in microseconds: the sample at index
 * share * (samples - 1) in order, as the Python generator takes it. */
static long percentile(double share) {
    long index = (long)(share * (samples - 1)), seen = 0;
    for (long us = 0; us < HISTOGRAM_US; us++) {
        seen += histogram[us];
        if (seen > index) return us;
    }
    return HISTOGRAM_US;
}

/* Wake the loop at *when* (monotonic seconds): the open loop's next send. */
static void arm(double when) {
    struct itimerspec at = {.it_value = {.tv_sec = (time_t)when,
                                         .tv_nsec = (long)((when - (time_t)when) * 1e9)}};
    if (at.it_value.tv_sec == 0 && at.it_value.tv_nsec == 0) at.it_value.tv_nsec = 1;
    if (timerfd_settime(timer, TFD_TIMER_ABSTIME, &at, NULL) < 0) fail("timerfd_settime");
}

/* Keep every sender's window full (or, open loop, send each message when it is due), send
 * what is queued, read what arrived; count deliveries once the warm-up is over; then wait for
 * what is still in flight. */
static int run(int epoll, char *buffer, long window, double warmup, double seconds) {
    struct epoll_event *events = malloc(sizeof *events * (nclients + 1));
    double measure_from = now() + warmup, stop = measure_from + seconds, started = 0;
    double next_look = 0;
    long reached_before[MAX_SENDERS] = {0};
    double progress_at[MAX_SENDERS];
    for (int s = 0; s < nsenders; s++) progress_at[s] = now();
    for (;;) {
        double t = now();
        if (!measuring && t >= measure_from) {
            measuring = 1;
            started = t;
            printf("{\"measuring\": true}\n"); /* the caller starts its CPU clocks */
            fflush(stdout);
        }
        if (t >= stop) break;
        double next = stop;
        /* The open loop looks for a lost message every LOOK seconds, not at every wake-up:
         * at each of its 99 000 reads a second, the look over every receiver was most of
         * what the generator did. */
        int look = !rate || t >= next_look;
        if (rate && look) next_look = t + LOOK;
        for (int s = 0; s < nsenders; s++) {
            long done = look ? watch(s, t, &reached_before[s], &progress_at[s]) : 0;
            if (!rate) {
                while (sent[s] - done < window) send_message(s);
                continue;
            }
            while (due(s, sent[s]) <= t) send_message(s);
            if (due(s, sent[s]) < next) next = due(s, sent[s]);
        }
        if (rate) arm(next);
        exchange(epoll, events, buffer, 100);
    }
    double spent = now() - started;
    if (!rate) {
        printf("{\"deliveries\": %ld, \"seconds\": %.6f}\n", delivered, spent);
    } else {
        if (!samples) fail("no message reached anyone while measuring");
        printf("{\"deliveries\": %ld, \"seconds\": %.6f, \"samples\": %ld, \"p50_us\": %ld, "
               "\"p90_us\": %ld, \"p99_us\": %ld, \"max_us\": %.0f}\n", delivered, spent,
               samples, percentile(0.5), percentile(0.9), percentile(0.99), slowest * 1e6);
    }
    fflush(stdout);
    /* What is in flight must arrive too: a message lost near the end is lost all the same. */
    for (int outstanding = 1; outstanding;) {
        double t = now();
        outstanding = 0;
        for (int s = 0; s < nsenders; s++)
            outstanding |= watch(s, t, &reached_before[s], &progress_at[s]) < sent[s];
        outstanding |= exchange(epoll, events, buffer, 100);
    }
    printf("{\"checked\": true}\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "--rate") == 0) {
        rate = atof(argv[2]);
        if (rate <= 0) fail("the rate must be more than 0");
        argc -= 2;
        argv += 2;
    }
    if (argc != 9 && argc != 10) {
        fprintf(stderr, "usage: loadgen [--rate RATE] HOST PORT irc|plain CLIENTS SENDERS "
                        "WINDOW WARMUP SECONDS [STALL]\n");
        return 2;
    }
    if (argc == 10) stall_seconds = atof(argv[9]);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &address.sin_addr) != 1) fail("not an IPv4 address");
    plain = strcmp(argv[3], "plain") == 0;
    nclients = atoi(argv[4]);
    nsenders = atoi(argv[5]);
    long window = atol(argv[6]);
    double warmup = atof(argv[7]), seconds = atof(argv[8]);
    if (nsenders > MAX_SENDERS || nsenders >= nclients) fail("too many senders");
    clients = calloc(nclients, sizeof *clients);
    char *buffer = malloc(READ_SIZE);
    int epoll = epoll_create1(0);

    tag[0] = 'a' + getpid() % 26; /* nicks of 8 characters: ngircd allows 9 */
    tag[1] = 'a' + getpid() / 26 % 26;
    for (int i = 0; i < nclients; i++) {
        struct client *c = &clients[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c->fd, (struct sockaddr *)&address, sizeof address) < 0)
            fail(strerror(errno));
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char hello[128];
        int len = plain ? snprintf(hello, sizeof hello, "%s%05d\r\n", tag, i)
                        : snprintf(hello, sizeof hello,
                                   "NICK %s%05d\r\nUSER c 0 * :c\r\nJOIN #bench\r\n", tag, i);
        if (send(c->fd, hello, len, 0) != len) fail("cannot register");
        struct epoll_event event = {.events = EPOLLIN, .data.u32 = i};
        if (epoll_ctl(epoll, EPOLL_CTL_ADD, c->fd, &event) < 0) fail("epoll_ctl");
        /* Blocking until it is registered (one at a time keeps it simple), then not. */
        struct timeval second = {.tv_sec = 1};
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &second, sizeof second);
        double deadline = now() + 60; /* ngircd takes its time to accept many */
        while (!c->registered) {
            if (now() > deadline) fail("a client was not registered within 60 seconds");
            readable(c, i, buffer);
        }
        if (set_nonblocking(c->fd) < 0) fail("cannot make a socket non-blocking");
    }
    if (rate) {
        timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
        struct epoll_event event = {.events = EPOLLIN, .data.u32 = nclients};
        if (timer < 0 || epoll_ctl(epoll, EPOLL_CTL_ADD, timer, &event) < 0) fail("timerfd");
        histogram = calloc(HISTOGRAM_US, sizeof *histogram);
        if (!histogram) fail("out of memory");
        interval = nsenders / rate;
        origin = now() + 0.01;
    }
    return run(epoll, buffer, window, warmup, seconds);
}
