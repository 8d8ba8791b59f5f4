/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest-side interface to the hypertrace channel of ht-user.
 *
 * The emulator is started with `-hypertrace BASE` and creates three files:
 *
 *   BASE-config   five native-endian u64: max_clients, client_args,
 *                 client_data_size, control_size, data_size
 *   BASE-data     per-client argument slots (plain shared memory)
 *   BASE-control  one u64 slot per client; storing into it raises an event
 *
 * A client fills its data slots with the extra event arguments and then
 * stores the first argument into its control slot. Each client (for example
 * one per thread) owns its own slots, so clients never need to synchronise
 * with each other.
 */
#ifndef QEMU_HYPERTRACE_H
#define QEMU_HYPERTRACE_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Map the hypertrace channel whose files live next to `base`.
 *
 * If `base` is NULL the environment variable QEMU_HYPERTRACE_BASE is used
 * instead (ht-user sets it to its -hypertrace base for the program it
 * starts). Calling it again after a successful call does nothing and
 * returns 0; concurrent calls from several threads are safe.
 *
 * Returns 0 on success, or -1 with errno set on failure (ENOENT when the
 * channel files do not exist, e.g. when not running under the emulator;
 * EINVAL when no base is given or the config file is malformed).
 */
int qemu_hypertrace_init(const char *base);

/*
 * Unmap the channel set up by qemu_hypertrace_init(). Returns 0 on success
 * (also when the channel was not mapped), -1 with errno set otherwise.
 * Do not call it while other threads may still emit events.
 */
int qemu_hypertrace_fini(void);

/* Number of clients the channel has room for (0 before initialisation). */
uint64_t qemu_hypertrace_max_clients(void);

/*
 * Number of u64 data slots each client has (0 before initialisation).
 * An event has this many arguments: the one passed to qemu_hypertrace()
 * plus data slots 0 .. num_args-2 of the client; the last slot is spare.
 */
uint64_t qemu_hypertrace_num_args(void);

/*
 * Pointer to the first data slot of `client`. The caller must ensure that
 * `client` is below qemu_hypertrace_max_clients(); no check is done.
 * Without a channel (before qemu_hypertrace_init(), after it failed or
 * after qemu_hypertrace_fini()) it returns QEMU_HYPERTRACE_SCRATCH_SLOTS
 * scratch slots shared by every client, so that writing arguments is
 * harmless when the program runs natively or under another emulator.
 */
#define QEMU_HYPERTRACE_SCRATCH_SLOTS 16
uint64_t *qemu_hypertrace_data(uint64_t client);

/*
 * Raise one event for `client` with first argument `arg1`; the remaining
 * arguments are taken from the client's data slots, which must be written
 * before this call. On 64-bit guests this is a single memory store.
 * Without a channel it does nothing (one load and an untaken branch), like
 * gem5's m5ops or Valgrind's client requests outside their tools.
 */
void qemu_hypertrace(uint64_t client, uint64_t arg1);

/*
 * The control slots as mapped by qemu_hypertrace_init() (NULL before).
 * Only for the inline qemu_hypertrace() below.
 */
extern uint64_t *qemu_hypertrace_control_slots;

/*
 * qemu_hypertrace() is inlined into its callers, so that an event costs
 * the guest its one store (two on 32-bit guests) and no call: define
 * QEMU_HYPERTRACE_NO_INLINE before including this header to call the
 * library's function instead. Either way the behaviour is the same.
 */
static inline void qemu_hypertrace_inline(uint64_t client, uint64_t arg1)
{
    uint64_t *slots = qemu_hypertrace_control_slots;

    if (__builtin_expect(slots == 0, 0)) {
        return; /* no channel: a marker does nothing */
    }
    /* Every data-slot store is emitted before the trigger. */
    __asm__ __volatile__("" ::: "memory");
#if UINTPTR_MAX == 0xffffffff
    {
        /* No single 64-bit store: the halves in address order; the host
         * completes the event when the word at offset 4 is written. */
        volatile uint32_t *slot = (volatile uint32_t *)(slots + client);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        slot[0] = (uint32_t)(arg1 >> 32);
        slot[1] = (uint32_t)arg1;
#else
        slot[0] = (uint32_t)arg1;
        slot[1] = (uint32_t)(arg1 >> 32);
#endif
    }
#else
    ((volatile uint64_t *)slots)[client] = arg1;
#endif
}

#ifndef QEMU_HYPERTRACE_NO_INLINE
#define qemu_hypertrace(client, arg1) qemu_hypertrace_inline((client), (arg1))
#endif

/*
 * Named regions and progress points.
 *
 * A name is registered once and gets a small id; events then carry the id
 * and ht-user stores each name once in the trace (its string table), so
 * `ht-trace report` shows regions by name with no --region options.
 *
 * These events use arg1 values the library reserves (QEMU_HYPERTRACE_OP_*,
 * "HTOP" in the top 32 bits): do not pass them to qemu_hypertrace(). The
 * id travels in data slot 0 (arg2), so named events need a channel with at
 * least 2 arguments (`-hypertrace BASE,args=N`, default 4).
 *
 *   NAME   slot 0 = id, slot 1 = address of the NUL-terminated name
 *          (ht-user reads at most QEMU_HYPERTRACE_NAME_MAX bytes of it
 *          while the store executes; the library passes its own copy)
 *   BEGIN  slot 0 = id: a region of that name opens on the client
 *   END    slot 0 = id: the innermost open region of that name closes
 *   POINT  slot 0 = id: a named progress point
 *
 * Ids the library gives are 1 .. 0x7fffffff, per process; ids from
 * 0x80000000 up are ht-user's own (gem5 m5ops). Without a channel, all of
 * this does nothing, like the other markers.
 */
#define QEMU_HYPERTRACE_OP(n) (UINT64_C(0x48544f5000000000) | (uint64_t)(n))
#define QEMU_HYPERTRACE_OP_NAME QEMU_HYPERTRACE_OP(1)
#define QEMU_HYPERTRACE_OP_BEGIN QEMU_HYPERTRACE_OP(2)
#define QEMU_HYPERTRACE_OP_END QEMU_HYPERTRACE_OP(3)
#define QEMU_HYPERTRACE_OP_POINT QEMU_HYPERTRACE_OP(4)
/* Longest name ht-user stores, in bytes; longer names are cut there. */
#define QEMU_HYPERTRACE_NAME_MAX 255
/* Names a process can register. */
#define QEMU_HYPERTRACE_NAMES_MAX 4096

/*
 * The id of `name`, registering it on first use: the same text always
 * gives the same id. With a channel, a first registration tells ht-user
 * the name through `client`'s slots; names registered before
 * qemu_hypertrace_init() are told by it (on client 0). Returns 0 when
 * `name` is NULL or empty or QEMU_HYPERTRACE_NAMES_MAX names exist; the
 * *_id functions ignore id 0. Thread-safe.
 */
uint32_t qemu_hypertrace_name(uint64_t client, const char *name);

/* Open, close, or mark a named region or point: the name is looked up (a
 * hash of its text) on every call; for hot loops register it once with
 * qemu_hypertrace_name() and use the inline *_id variants below. */
void qemu_hypertrace_region_begin(uint64_t client, const char *name);
void qemu_hypertrace_region_end(uint64_t client, const char *name);
void qemu_hypertrace_point(uint64_t client, const char *name);

/* The data slots as mapped by qemu_hypertrace_init() (NULL before) and
 * the slots per client: only for the inline functions below. */
extern uint64_t *qemu_hypertrace_data_slots;
extern uint64_t qemu_hypertrace_slots_per_client;

/* One named event: the id into slot 0, then the control store. */
static inline void qemu_hypertrace_named_inline(uint64_t client, uint64_t op,
                                                uint32_t id)
{
    uint64_t *data = qemu_hypertrace_data_slots;

    if (__builtin_expect(data == 0 || id == 0, 0)) {
        return;
    }
    ((volatile uint64_t *)data)[client * qemu_hypertrace_slots_per_client] = id;
    qemu_hypertrace_inline(client, op);
}

static inline void qemu_hypertrace_region_begin_id(uint64_t client, uint32_t id)
{
    qemu_hypertrace_named_inline(client, QEMU_HYPERTRACE_OP_BEGIN, id);
}

static inline void qemu_hypertrace_region_end_id(uint64_t client, uint32_t id)
{
    qemu_hypertrace_named_inline(client, QEMU_HYPERTRACE_OP_END, id);
}

static inline void qemu_hypertrace_point_id(uint64_t client, uint32_t id)
{
    qemu_hypertrace_named_inline(client, QEMU_HYPERTRACE_OP_POINT, id);
}

#ifdef __cplusplus
}
#endif

#endif /* QEMU_HYPERTRACE_H */
