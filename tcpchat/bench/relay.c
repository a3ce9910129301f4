/* The trivial relay in C: the calibration target of ``python -m tcpchat.bench``.
 *
 * The least a chat server can do, done as cheaply as C on epoll does it, so that what the
 * generator reaches against it is this machine's ceiling, which no server can be shown above.
 * (The relay in Python, relay.py, is the fallback where no C compiler is; it is itself the
 * limit near 3 M deliveries a second.)  It speaks the same as relay.py:
 *
 *   relay PORT irc|plain
 *
 * IRC: NICK sets the prefix, USER gets 001, JOIN gets the end of NAMES (and the client then
 * receives what others say), PING gets PONG, PRIVMSG is relayed.  Plain: the first line is the
 * name, answered "*** Type a line..."; "/who" is answered "*** 2 people in #bench: ..."; every
 * other line is relayed as "name: line".  A read's messages are prefixed into one buffer and
 * appended once to every other member's output; each socket is written once per loop turn,
 * and watched for writing only while it has output waiting.  Nothing is bounded: it is for a
 * generator that reads everything, on loopback.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE (256 * 1024)
#define MAX_EVENTS 512

struct buffer {
    char *data;
    size_t len, cap;
};

struct peer {
    int fd;
    char prefix[160];
    size_t prefix_len;
    int member;           /* in the room: others' messages reach it */
    int dirty;            /* on this turn's list of sockets to write */
    int watching_write;
    struct buffer in, out;
};

static int plain, listener, epoll_fd;
static struct peer **members;
static int nmembers, members_cap;
static struct peer **dirty, **gone;
static int ndirty, dirty_cap, ngone, gone_cap;
static struct buffer relayed; /* this read's messages, prefixed */
static volatile sig_atomic_t running = 1;

static void append(struct buffer *buffer, const char *data, size_t len) {
    if (buffer->len + len > buffer->cap) {
        size_t cap = buffer->cap ? buffer->cap : 4096;
        while (cap < buffer->len + len) cap *= 2;
        buffer->data = realloc(buffer->data, cap);
        if (!buffer->data) { perror("realloc"); exit(1); }
        buffer->cap = cap;
    }
    memcpy(buffer->data + buffer->len, data, len);
    buffer->len += len;
}

static void mark_dirty(struct peer *peer) {
    if (peer->dirty) return;
    if (ndirty == dirty_cap) {
        dirty_cap = dirty_cap ? dirty_cap * 2 : 256;
        dirty = realloc(dirty, dirty_cap * sizeof *dirty);
    }
    dirty[ndirty++] = peer;
    peer->dirty = 1;
}

static void write_to(struct peer *peer, const char *data, size_t len) {
    append(&peer->out, data, len);
    mark_dirty(peer);
}

static void join(struct peer *peer) {
    if (peer->member) return;
    if (nmembers == members_cap) {
        members_cap = members_cap ? members_cap * 2 : 256;
        members = realloc(members, members_cap * sizeof *members);
    }
    members[nmembers++] = peer;
    peer->member = 1;
}

static void drop(struct peer *peer) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, peer->fd, NULL);
    close(peer->fd);
    peer->fd = -1;
    for (int i = 0; i < nmembers; i++)
        if (members[i] == peer) { members[i] = members[--nmembers]; break; }
    peer->member = 0;
    /* Freed at the end of the turn, when no list holds it any more. */
    if (ngone == gone_cap) {
        gone_cap = gone_cap ? gone_cap * 2 : 64;
        gone = realloc(gone, gone_cap * sizeof *gone);
    }
    gone[ngone++] = peer;
}

static void relay_line(struct peer *peer, const char *line, size_t len) {
    append(&relayed, peer->prefix, peer->prefix_len);
    append(&relayed, line, len);
    append(&relayed, "\r\n", 2);
}

static void take_line(struct peer *peer, char *line, size_t len) {
    char reply[512];
    if (plain) {
        if (!peer->prefix_len) {
            peer->prefix_len = (size_t)snprintf(peer->prefix, sizeof peer->prefix, "%.*s: ",
                                                (int)(len < 100 ? len : 100), line);
            join(peer);
            write_to(peer, "*** Type a line and press Enter\r\n", 33);
        } else if (len == 4 && memcmp(line, "/who", 4) == 0) {
            write_to(peer, "*** 2 people in #bench: everyone\r\n", 34);
        } else {
            relay_line(peer, line, len);
        }
        return;
    }
    if (len > 8 && memcmp(line, "PRIVMSG ", 8) == 0) {
        relay_line(peer, line, len);
    } else if (len > 5 && memcmp(line, "NICK ", 5) == 0) {
        size_t nick = len - 5 < 100 ? len - 5 : 100;
        peer->prefix_len = (size_t)snprintf(peer->prefix, sizeof peer->prefix,
                                            ":%.*s!b@127.0.0.1 ", (int)nick, line + 5);
    } else if (len > 5 && memcmp(line, "USER ", 5) == 0) {
        char *bang = memchr(peer->prefix, '!', peer->prefix_len);
        int nick = bang ? (int)(bang - peer->prefix - 1) : 1;
        write_to(peer, reply, (size_t)snprintf(reply, sizeof reply, ":relay 001 %.*s :hi\r\n",
                                               nick, peer->prefix + 1));
    } else if (len > 5 && memcmp(line, "JOIN ", 5) == 0) {
        join(peer);
        write_to(peer, reply, (size_t)snprintf(reply, sizeof reply,
                                               ":relay 366 x %.*s :End of /NAMES list\r\n",
                                               (int)(len - 5 < 200 ? len - 5 : 200), line + 5));
    } else if (len > 5 && memcmp(line, "PING ", 5) == 0) {
        write_to(peer, reply, (size_t)snprintf(reply, sizeof reply, ":relay PONG relay %.*s\r\n",
                                               (int)(len - 5 < 400 ? len - 5 : 400), line + 5));
    }
}

static void take(struct peer *peer, char *data, size_t len) {
    append(&peer->in, data, len);
    char *start = peer->in.data, *end = peer->in.data + peer->in.len;
    relayed.len = 0;
    for (char *newline; (newline = memchr(start, '\n', (size_t)(end - start))); start = newline + 1) {
        size_t line = (size_t)(newline - start);
        if (line && start[line - 1] == '\r') line--;
        take_line(peer, start, line);
    }
    size_t rest = (size_t)(end - start);
    memmove(peer->in.data, start, rest);
    peer->in.len = rest;
    if (relayed.len)  /* the read's messages: one append to every other member */
        for (int i = 0; i < nmembers; i++)
            if (members[i] != peer) write_to(members[i], relayed.data, relayed.len);
}

static void watch(struct peer *peer, int write) {
    if (peer->watching_write == write) return;
    struct epoll_event event = {.events = EPOLLIN | (write ? EPOLLOUT : 0), .data.ptr = peer};
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, peer->fd, &event);
    peer->watching_write = write;
}

static void flush(struct peer *peer) {
    size_t done = 0;
    while (done < peer->out.len) {
        ssize_t sent = send(peer->fd, peer->out.data + done, peer->out.len - done, MSG_NOSIGNAL);
        if (sent > 0) { done += (size_t)sent; continue; }
        if (sent < 0 && errno == EINTR) continue;
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        drop(peer);
        return;
    }
    memmove(peer->out.data, peer->out.data + done, peer->out.len - done);
    peer->out.len -= done;
    watch(peer, peer->out.len > 0);
}

static void accept_all(void) {
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) return;
        int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        struct peer *peer = calloc(1, sizeof *peer);
        peer->fd = fd;
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = peer};
        epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
    }
}

static void stop(int signal_number) {
    (void)signal_number;
    running = 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: relay PORT irc|plain\n");
        return 2;
    }
    plain = strcmp(argv[2], "plain") == 0;
    signal(SIGTERM, stop);
    signal(SIGINT, stop);
    listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 4096)) {
        perror("listen");
        return 1;
    }
    epoll_fd = epoll_create1(0);
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event);
    static char buffer[READ_SIZE];
    struct epoll_event events[MAX_EVENTS];
    while (running) {
        int count = epoll_wait(epoll_fd, events, MAX_EVENTS, 1000);
        for (int i = 0; i < count; i++) {
            struct peer *peer = events[i].data.ptr;
            if (!peer) { accept_all(); continue; }
            if (peer->fd < 0) continue;
            if (events[i].events & EPOLLOUT) mark_dirty(peer);
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t got = recv(peer->fd, buffer, sizeof buffer, 0);
                if (got > 0) {
                    take(peer, buffer, (size_t)got);
                } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                    drop(peer);
                }
            }
        }
        for (int i = 0; i < ndirty; i++) {
            struct peer *peer = dirty[i];
            peer->dirty = 0;
            if (peer->fd >= 0) flush(peer);
        }
        ndirty = 0;
        for (int i = 0; i < ngone; i++) {
            free(gone[i]->in.data);
            free(gone[i]->out.data);
            free(gone[i]);
        }
        ngone = 0;
    }
    return 0;
}
