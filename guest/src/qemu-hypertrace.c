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
uint64_t *qemu_hypertrace_data_slots;
uint64_t qemu_hypertrace_slots_per_client;
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


/*
 * Registered names: an open-addressing hash table of the library's own
 * copies (ht-user reads a name while the NAME store executes, and a copy
 * cannot change under it). Guarded by ht_lock; ids are indices + 1.
 */
#define HT_NAME_BUCKETS (2 * QEMU_HYPERTRACE_NAMES_MAX)
static char *ht_names[QEMU_HYPERTRACE_NAMES_MAX];
static uint32_t ht_name_count;
static uint32_t ht_name_bucket[HT_NAME_BUCKETS]; /* id, 0: empty */

static uint32_t ht_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    }
    return h;
}

/* Tell ht-user that `id` is `name`, on `client`. Needs the channel. */
static void ht_tell_name(uint64_t client, uint32_t id)
{
    uint64_t *slots;

    if (qemu_hypertrace_data_slots == NULL) {
        return;
    }
    if (client >= ht_max_clients) {
        client = 0;
    }
    slots = qemu_hypertrace_data_slots + client * qemu_hypertrace_slots_per_client;
    ((volatile uint64_t *)slots)[0] = id;
    ((volatile uint64_t *)slots)[1] = (uint64_t)(uintptr_t)ht_names[id - 1];
    qemu_hypertrace_inline(client, QEMU_HYPERTRACE_OP_NAME);
}

/* Called with ht_lock held once the channel is mapped. */
static void ht_announce_names(void)
{
    for (uint32_t id = 1; id <= ht_name_count; id++) {
        ht_tell_name(0, id);
    }
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
    ht_control_size = (size_t)cfg[CFG_CONTROL_SIZE];
    /* The inline named markers need slot 0 and the NAME op slot 1. */
    qemu_hypertrace_slots_per_client = ht_client_args;
    if (ht_client_args >= 2) {
        qemu_hypertrace_data_slots = data;
    }
    qemu_hypertrace_control_slots = control;
    __atomic_store_n(&ht_ready, 1, __ATOMIC_RELEASE);
    ht_announce_names();
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
        qemu_hypertrace_data_slots = NULL;
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

uint32_t qemu_hypertrace_name(uint64_t client, const char *name)
{
    size_t len;
    uint32_t h, id = 0;
    char *copy;

    if (name == NULL || name[0] == '\0') {
        return 0;
    }
    len = strnlen(name, QEMU_HYPERTRACE_NAME_MAX);
    h = ht_hash(name, len);
    pthread_mutex_lock(&ht_lock);
    for (uint32_t i = 0; i < HT_NAME_BUCKETS; i++) {
        uint32_t *bucket = &ht_name_bucket[(h + i) % HT_NAME_BUCKETS];
        if (*bucket == 0) {
            if (ht_name_count == QEMU_HYPERTRACE_NAMES_MAX) {
                break;
            }
            copy = malloc(len + 1);
            if (copy == NULL) {
                break;
            }
            memcpy(copy, name, len);
            copy[len] = '\0';
            ht_names[ht_name_count++] = copy;
            id = ht_name_count;
            *bucket = id;
            if (ht_ready) {
                ht_tell_name(client, id);
            }
            break;
        }
        if (strncmp(ht_names[*bucket - 1], name, len) == 0 &&
            ht_names[*bucket - 1][len] == '\0') {
            id = *bucket;
            break;
        }
    }
    pthread_mutex_unlock(&ht_lock);
    return id;
}

void qemu_hypertrace_region_begin(uint64_t client, const char *name)
{
    qemu_hypertrace_region_begin_id(client, qemu_hypertrace_name(client, name));
}

void qemu_hypertrace_region_end(uint64_t client, const char *name)
{
    qemu_hypertrace_region_end_id(client, qemu_hypertrace_name(client, name));
}

void qemu_hypertrace_point(uint64_t client, const char *name)
{
    qemu_hypertrace_point_id(client, qemu_hypertrace_name(client, name));
}
