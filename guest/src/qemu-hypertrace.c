/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest library for the hypertrace channel (user mode).
 *
 * See include/qemu-hypertrace.h for the interface and the channel layout.
 */
#define _POSIX_C_SOURCE 200809L

/* This file defines the function the header inlines by default. */
#define QEMU_HYPERTRACE_NO_INLINE
#include "qemu-hypertrace.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HT_ENV_BASE "QEMU_HYPERTRACE_BASE"

/* Order of the u64 fields in BASE-config. */
enum {
    CFG_MAX_CLIENTS,
    CFG_CLIENT_ARGS,
    CFG_CLIENT_DATA_SIZE,
    CFG_CONTROL_SIZE,
    CFG_DATA_SIZE,
    CFG_COUNT
};

static pthread_mutex_t ht_lock = PTHREAD_MUTEX_INITIALIZER;
/* Non-zero once the channel is mapped; read locklessly on the fast path. */
static int ht_ready;

static uint64_t ht_max_clients;
static uint64_t ht_client_args;
static uint64_t *ht_data;
static size_t ht_data_size;
uint64_t *qemu_hypertrace_control_slots;
static size_t ht_control_size;

/* Return a newly allocated "<base><suffix>", or NULL with errno set. */
static char *ht_path(const char *base, const char *suffix)
{
    size_t blen = strlen(base);
    size_t slen = strlen(suffix);
    char *p = malloc(blen + slen + 1);

    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(p, base, blen);
    memcpy(p + blen, suffix, slen + 1);
    return p;
}

/* Read exactly `len` bytes; a short file is reported as EINVAL. */
static int ht_read_full(int fd, void *buf, size_t len)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            errno = EINVAL;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int ht_read_config(const char *base, uint64_t cfg[CFG_COUNT])
{
    char *path = ht_path(base, "-config");
    int fd, err;

    if (path == NULL) {
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    err = errno;
    free(path);
    if (fd < 0) {
        errno = err;
        return -1;
    }
    if (ht_read_full(fd, cfg, CFG_COUNT * sizeof(uint64_t)) != 0) {
        err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    close(fd);
    return 0;
}

/* Map BASE<suffix> shared and read-write; returns MAP_FAILED on error. */
static void *ht_map(const char *base, const char *suffix, size_t len)
{
    char *path = ht_path(base, suffix);
    void *addr;
    int fd, err;

    if (path == NULL) {
        return MAP_FAILED;
    }
    fd = open(path, O_RDWR | O_CLOEXEC);
    err = errno;
    free(path);
    if (fd < 0) {
        errno = err;
        return MAP_FAILED;
    }
    addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    err = errno;
    close(fd);
    errno = err;
    return addr;
}

/* Check the config values for consistency; sets errno to EINVAL if bad. */
static int ht_check_config(const uint64_t cfg[CFG_COUNT])
{
    uint64_t max_clients = cfg[CFG_MAX_CLIENTS];
    uint64_t client_args = cfg[CFG_CLIENT_ARGS];
    uint64_t control_size = cfg[CFG_CONTROL_SIZE];
    uint64_t data_size = cfg[CFG_DATA_SIZE];

    if (max_clients == 0 || control_size == 0 || data_size == 0 ||
        control_size > SIZE_MAX || data_size > SIZE_MAX ||
        max_clients > control_size / sizeof(uint64_t) ||
        (client_args != 0 &&
         client_args > data_size / sizeof(uint64_t) / max_clients)) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int qemu_hypertrace_init(const char *base)
{
    uint64_t cfg[CFG_COUNT];
    void *data, *control;
    int ret = -1;
    int err;

    if (__atomic_load_n(&ht_ready, __ATOMIC_ACQUIRE)) {
        return 0;
    }

    pthread_mutex_lock(&ht_lock);
    if (ht_ready) {
        ret = 0;
        goto out;
    }

    if (base == NULL) {
        base = getenv(HT_ENV_BASE);
    }
    if (base == NULL || base[0] == '\0') {
        err = EINVAL;
        goto out_err;
    }

    if (ht_read_config(base, cfg) != 0 || ht_check_config(cfg) != 0) {
        err = errno;
        goto out_err;
    }

    data = ht_map(base, "-data", (size_t)cfg[CFG_DATA_SIZE]);
    if (data == MAP_FAILED) {
        err = errno;
        goto out_err;
    }
    control = ht_map(base, "-control", (size_t)cfg[CFG_CONTROL_SIZE]);
    if (control == MAP_FAILED) {
        err = errno;
        munmap(data, (size_t)cfg[CFG_DATA_SIZE]);
        goto out_err;
    }

    ht_max_clients = cfg[CFG_MAX_CLIENTS];
    ht_client_args = cfg[CFG_CLIENT_ARGS];
    ht_data = data;
    ht_data_size = (size_t)cfg[CFG_DATA_SIZE];
    qemu_hypertrace_control_slots = control;
    ht_control_size = (size_t)cfg[CFG_CONTROL_SIZE];
    __atomic_store_n(&ht_ready, 1, __ATOMIC_RELEASE);
    ret = 0;
    goto out;

out_err:
    pthread_mutex_unlock(&ht_lock);
    errno = err;
    return -1;
out:
    pthread_mutex_unlock(&ht_lock);
    return ret;
}

int qemu_hypertrace_fini(void)
{
    int ret = 0;
    int err = 0;

    pthread_mutex_lock(&ht_lock);
    if (ht_ready) {
        __atomic_store_n(&ht_ready, 0, __ATOMIC_RELEASE);
        if (munmap(qemu_hypertrace_control_slots, ht_control_size) != 0) {
            ret = -1;
            err = errno;
        }
        if (munmap(ht_data, ht_data_size) != 0 && ret == 0) {
            ret = -1;
            err = errno;
        }
        qemu_hypertrace_control_slots = NULL;
        ht_control_size = 0;
        ht_data = NULL;
        ht_data_size = 0;
        ht_max_clients = 0;
        ht_client_args = 0;
    }
    pthread_mutex_unlock(&ht_lock);
    if (ret != 0) {
        errno = err;
    }
    return ret;
}

uint64_t qemu_hypertrace_max_clients(void)
{
    return ht_max_clients;
}

uint64_t qemu_hypertrace_num_args(void)
{
    return ht_client_args;
}

uint64_t *qemu_hypertrace_data(uint64_t client)
{
    /* Without a channel, harmless scratch slots for any client. */
    static uint64_t scratch[QEMU_HYPERTRACE_SCRATCH_SLOTS];

    if (!__atomic_load_n(&ht_ready, __ATOMIC_ACQUIRE)) {
        return scratch;
    }
    return ht_data + (size_t)(client * ht_client_args);
}

void qemu_hypertrace(uint64_t client, uint64_t arg1)
{
    qemu_hypertrace_inline(client, arg1);
}
