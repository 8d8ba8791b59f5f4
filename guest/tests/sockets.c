/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sockets and epoll with threads: a server thread blocked in accept on an
 * AF_UNIX socket while the main thread computes, then connects and gets
 * its message echoed; a thread blocked in epoll_wait on a pipe until
 * another thread writes to it; a TCP echo and a UDP datagram on
 * 127.0.0.1; error cases. If accept or epoll_wait stopped every thread,
 * this program would never end.
 *
 *   sockets DIR      (DIR: a directory for the AF_UNIX socket)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define ROUNDS 1000000L

static volatile long work;
static volatile long work_at_wakeup = -1;

static void die(const char *what)
{
    printf("FAILED: %s: %s\n", what, strerror(errno));
    exit(1);
}

static const char *errname(int e)
{
    switch (e) {
    case EBADF:
        return "EBADF";
    case EINVAL:
        return "EINVAL";
    case ENOENT:
        return "ENOENT";
    case ECONNREFUSED:
        return "ECONNREFUSED";
    case EFAULT:
        return "EFAULT";
    default:
        return "other";
    }
}

static void compute(void)
{
    for (long i = 0; i < ROUNDS; i++) {
        work = work + 1;
    }
}

/* Reads until `len` bytes came or the peer closed. */
static ssize_t recv_all(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* One connection: read a 5-byte message, print it, send it back. */
static void *echo_server(void *arg)
{
    int listener = (int)(intptr_t)arg;
    int c = accept(listener, NULL, NULL);
    if (c < 0) {
        die("accept");
    }
    work_at_wakeup = work;
    char buf[8] = {0};
    if (recv_all(c, buf, 5) != 5) {
        die("server recv");
    }
    printf("server: got '%s'\n", buf);
    fflush(stdout);
    if (send(c, buf, 5, 0) != 5) {
        die("server send");
    }
    close(c);
    return NULL;
}

static void unix_echo(const char *dir)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/echo.sock", dir);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        die("socket");
    }
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) != 0) {
        die("bind");
    }
    if (listen(s, 4) != 0) {
        die("listen");
    }
    work = 0;
    work_at_wakeup = -1;
    pthread_t t;
    pthread_create(&t, NULL, echo_server, (void *)(intptr_t)s);
    compute();
    printf("unix: main computed %ld rounds while the server waits in accept\n",
           (long)work);
    fflush(stdout);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof addr) != 0) {
        die("connect");
    }
    if (send(c, "hello", 5, 0) != 5) {
        die("send");
    }
    char back[8] = {0};
    if (recv_all(c, back, 5) != 5) {
        die("recv");
    }
    pthread_join(t, NULL);
    printf("unix: echo '%s', accept returned after %ld rounds\n", back,
           (long)work_at_wakeup);
    struct sockaddr_un peer;
    socklen_t len = sizeof peer;
    if (getsockname(s, (struct sockaddr *)&peer, &len) != 0) {
        die("getsockname");
    }
    printf("unix: bound to %s, family %d\n",
           strcmp(peer.sun_path, addr.sun_path) == 0 ? "the path" : "?",
           peer.sun_family);
    close(c);
    close(s);
    unlink(addr.sun_path);
}

static int epfd;

static void *epoll_waiter(void *arg)
{
    (void)arg;
    struct epoll_event ev[4];
    memset(ev, 0, sizeof ev);
    int n = epoll_wait(epfd, ev, 4, -1);
    work_at_wakeup = work;
    if (n < 0) {
        die("epoll_wait");
    }
    printf("epoll: %d event, events %#x, data %#llx\n", n, ev[0].events,
           (unsigned long long)ev[0].data.u64);
    return NULL;
}

static void *pipe_writer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    compute();
    printf("epoll: writer computed %ld rounds\n", (long)work);
    fflush(stdout);
    if (write(fd, "x", 1) != 1) {
        die("write");
    }
    return NULL;
}

static void epoll_pipe(void)
{
    int fds[2];
    if (pipe(fds) != 0) {
        die("pipe");
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        die("epoll_create1");
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = 0x1122334455667788ULL;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fds[0], &ev) != 0) {
        die("epoll_ctl");
    }
    struct epoll_event none[2];
    printf("epoll: nothing ready, timeout 10 ms: %d\n",
           epoll_wait(epfd, none, 2, 10));
    work = 0;
    work_at_wakeup = -1;
    pthread_t w, r;
    pthread_create(&w, NULL, epoll_waiter, NULL);
    pthread_create(&r, NULL, pipe_writer, (void *)(intptr_t)fds[1]);
    pthread_join(r, NULL);
    pthread_join(w, NULL);
    printf("epoll: the waiter woke after %ld rounds\n", (long)work_at_wakeup);
    ev.events = EPOLLOUT;
    ev.data.u64 = 7;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fds[1], &ev) != 0) {
        die("epoll_ctl add write end");
    }
    struct epoll_event got[4];
    memset(got, 0, sizeof got);
    int n = epoll_wait(epfd, got, 4, 0);
    unsigned long long sum = 0;
    for (int i = 0; i < n; i++) {
        sum += got[i].data.u64 + got[i].events;
    }
    printf("epoll: %d ready (both ends), checksum %#llx\n", n, sum);
    if (epoll_ctl(epfd, EPOLL_CTL_DEL, fds[0], NULL) != 0) {
        die("epoll_ctl del");
    }
    n = epoll_wait(epfd, got, 4, 0);
    printf("epoll: after EPOLL_CTL_DEL %d ready, data %llu\n", n,
           (unsigned long long)got[0].data.u64);
    close(epfd);
    close(fds[0]);
    close(fds[1]);
}

static void tcp_echo(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
        die("socket inet");
    }
    int one = 1;
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
        die("setsockopt");
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(s, 4) != 0) {
        die("bind/listen inet");
    }
    socklen_t len = sizeof addr;
    if (getsockname(s, (struct sockaddr *)&addr, &len) != 0) {
        die("getsockname inet");
    }
    printf("tcp: listening on 127.0.0.1, port %s\n",
           ntohs(addr.sin_port) != 0 ? "chosen" : "0");
    work = 0;
    pthread_t t;
    pthread_create(&t, NULL, echo_server, (void *)(intptr_t)s);
    compute();
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof addr) != 0) {
        die("connect inet");
    }
    if (send(c, "tcp!!", 5, 0) != 5) {
        die("send inet");
    }
    char back[8] = {0};
    if (recv_all(c, back, 5) != 5) {
        die("recv inet");
    }
    pthread_join(t, NULL);
    struct sockaddr_in peer;
    len = sizeof peer;
    if (getpeername(c, (struct sockaddr *)&peer, &len) != 0) {
        die("getpeername");
    }
    int type = 0;
    len = sizeof type;
    if (getsockopt(c, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
        die("getsockopt");
    }
    printf("tcp: echo '%s', peer %s, same port %s, SO_TYPE stream %s\n", back,
           inet_ntoa(peer.sin_addr), peer.sin_port == addr.sin_port ? "yes" : "no",
           type == SOCK_STREAM ? "yes" : "no");
    shutdown(c, SHUT_RDWR);
    close(c);
    close(s);
}

static void udp(void)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) {
        die("socket udp");
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) != 0) {
        die("bind udp");
    }
    socklen_t len = sizeof addr;
    if (getsockname(s, (struct sockaddr *)&addr, &len) != 0) {
        die("getsockname udp");
    }
    if (sendto(s, "datagram", 8, 0, (struct sockaddr *)&addr, sizeof addr) != 8) {
        die("sendto");
    }
    char buf[16] = {0};
    struct sockaddr_in from;
    len = sizeof from;
    ssize_t n = recvfrom(s, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &len);
    printf("udp: %zd bytes '%s' from the same port: %s\n", n, buf,
           from.sin_port == addr.sin_port ? "yes" : "no");
    /* sendmsg and recvmsg: two pieces out, two pieces in, with addresses. */
    struct iovec out[2] = {{"gather", 6}, {"+scatter", 8}};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = &addr;
    m.msg_namelen = sizeof addr;
    m.msg_iov = out;
    m.msg_iovlen = 2;
    if (sendmsg(s, &m, 0) != 14) {
        die("sendmsg");
    }
    char first[4] = {0}, rest[16] = {0};
    struct iovec in[2] = {{first, 3}, {rest, sizeof rest - 1}};
    char control[64];
    memset(&m, 0, sizeof m);
    memset(&from, 0, sizeof from);
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = in;
    m.msg_iovlen = 2;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    n = recvmsg(s, &m, 0);
    printf("msg: %zd bytes '%s' '%s', from the same port: %s, namelen %u, "
           "controllen %u, flags %#x\n",
           n, first, rest, from.sin_port == addr.sin_port ? "yes" : "no",
           (unsigned)m.msg_namelen, (unsigned)m.msg_controllen, (unsigned)m.msg_flags);
    close(s);
    int pair[2];
#ifdef __i386__
    /* i386's C libraries may use the direct calls: try socketcall too. */
    long args[4] = {AF_UNIX, SOCK_DGRAM, 0, (long)pair};
    if (syscall(SYS_socketcall, 8 /* SYS_SOCKETPAIR */, args) != 0) {
        die("socketcall(SYS_SOCKETPAIR)");
    }
#else
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, pair) != 0) {
        die("socketpair");
    }
#endif
    send(pair[0], "pair", 4, 0);
    memset(buf, 0, sizeof buf);
    n = recv(pair[1], buf, sizeof buf - 1, 0);
    printf("socketpair: %zd bytes '%s'\n", n, buf);
    close(pair[0]);
    close(pair[1]);
}

static void errors(const char *dir)
{
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    errno = 0;
    int r = epoll_ctl(ep, EPOLL_CTL_ADD, 999, &ev);
    printf("epoll_ctl on a bad fd: %d %s\n", r, errname(errno));
    close(ep);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    errno = 0;
    r = accept(s, NULL, NULL);
    printf("accept on a socket that does not listen: %d %s\n", r, errname(errno));
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/missing.sock", dir);
    errno = 0;
    r = connect(s, (struct sockaddr *)&addr, sizeof addr);
    printf("connect to a missing path: %d %s\n", r, errname(errno));
    close(s);
    /* Wild pointers, passed on by the C library as they are. */
    void *bad = (void *)(uintptr_t)8;
    ep = epoll_create1(0);
    s = socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t len = sizeof addr;
    int e[5];
    errno = 0;
    epoll_wait(ep, bad, 4, 0);
    e[0] = errno;
    errno = 0;
    epoll_ctl(ep, EPOLL_CTL_ADD, s, bad);
    e[1] = errno;
    errno = 0;
    bind(s, bad, sizeof(struct sockaddr_in));
    e[2] = errno;
    errno = 0;
    getsockname(s, bad, &len);
    e[3] = errno;
    errno = 0;
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sendto(s, bad, 4, 0, (struct sockaddr *)&to, sizeof to);
    e[4] = errno;
    printf("bad pointers: epoll_wait %s, epoll_ctl %s, bind %s, getsockname %s, sendto %s\n",
           errname(e[0]), errname(e[1]), errname(e[2]), errname(e[3]), errname(e[4]));
    close(s);
    close(ep);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: sockets DIR\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    unix_echo(argv[1]);
    epoll_pipe();
    tcp_echo();
    udp();
    errors(argv[1]);
    return 0;
}
