/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Consistency checks of the clocks seen by the guest. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static int failures;

static void check(int cond, const char *what)
{
    printf("%s %s\n", cond ? "ok" : "FAIL", what);
    if (!cond) {
        failures++;
    }
}

static int64_t ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

int main(void)
{
    struct timespec t0, t1, req, res, rt;
    struct timeval tv;
    time_t now;
    int rc0, rc1, rc2;

    rc0 = clock_gettime(CLOCK_MONOTONIC, &t0);
    req.tv_sec = 0;
    req.tv_nsec = 20 * 1000 * 1000;
    rc1 = nanosleep(&req, NULL);
    rc2 = clock_gettime(CLOCK_MONOTONIC, &t1);
    check(rc0 == 0 && rc2 == 0, "clock_gettime monotonic");
    check(rc1 == 0, "nanosleep 20ms");
    check(ts_ns(&t1) - ts_ns(&t0) >= 20 * 1000 * 1000,
          "monotonic elapsed >= 20ms");

    rc0 = clock_gettime(CLOCK_REALTIME, &rt);
    rc1 = gettimeofday(&tv, NULL);
    now = time(NULL);
    check(rc0 == 0, "clock_gettime realtime");
    check(rc1 == 0, "gettimeofday");
    check(now != (time_t)-1, "time");
    {
        int64_t a = rt.tv_sec, b = tv.tv_sec, c = now;
        int64_t ab = a > b ? a - b : b - a;
        int64_t ac = a > c ? a - c : c - a;
        check(ab <= 2 && ac <= 2, "realtime clocks agree within 2s");
    }
    check(rt.tv_sec > 1500000000, "realtime after 2017");

    rc0 = clock_getres(CLOCK_MONOTONIC, &res);
    check(rc0 == 0 && ts_ns(&res) > 0, "clock_getres monotonic > 0");

    return failures ? 1 : 0;
}
