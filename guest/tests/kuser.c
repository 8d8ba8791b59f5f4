/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The arm kuser helpers Linux maps at 0xffff0f00 (its
 * Documentation/arch/arm/kernel_user_helpers.rst): the version word,
 * __kuser_get_tls, __kuser_cmpxchg, __kuser_memory_barrier and
 * __kuser_cmpxchg64, successes and failures. Other architectures have no
 * such page and print one line saying so.
 */
#include <stdint.h>
#include <stdio.h>

#if defined(__arm__)
#define KUSER(offset) (0xffff0f00u + (offset))

typedef void *get_tls_fn(void);
typedef int cmpxchg_fn(int oldval, int newval, volatile int *ptr);
typedef void barrier_fn(void);
typedef int cmpxchg64_fn(const int64_t *oldval, const int64_t *newval, volatile int64_t *ptr);

int main(void)
{
    int32_t version = *(volatile int32_t *)KUSER(0xfc);
    get_tls_fn *get_tls = (get_tls_fn *)KUSER(0xe0);
    cmpxchg_fn *cmpxchg = (cmpxchg_fn *)KUSER(0xc0);
    barrier_fn *barrier = (barrier_fn *)KUSER(0xa0);
    cmpxchg64_fn *cmpxchg64 = (cmpxchg64_fn *)KUSER(0x60);

    printf("version %d\n", version);
    printf("get_tls is the thread pointer: %d\n", get_tls() == __builtin_thread_pointer());

    volatile int word = 1;
    int ok = cmpxchg(1, 2, &word);
    printf("cmpxchg 1->2: %s, word %d\n", ok == 0 ? "swapped" : "refused", word);
    ok = cmpxchg(1, 3, &word);
    printf("cmpxchg 1->3: %s, word %d\n", ok == 0 ? "swapped" : "refused", word);

    barrier();

    volatile int64_t wide = 0x100000001LL;
    const int64_t old = 0x100000001LL, new = 0x200000002LL, other = 0x100000002LL;
    ok = cmpxchg64(&old, &new, &wide);
    printf("cmpxchg64: %s, %llx\n", ok == 0 ? "swapped" : "refused", (unsigned long long)wide);
    /* The low words match, the high ones do not. */
    const int64_t high_differs = 0x300000002LL;
    ok = cmpxchg64(&high_differs, &other, &wide);
    printf("cmpxchg64 high word differs: %s, %llx\n", ok == 0 ? "swapped" : "refused",
           (unsigned long long)wide);
    const int64_t low_differs = 0x200000003LL;
    ok = cmpxchg64(&low_differs, &old, &wide);
    printf("cmpxchg64 low word differs: %s, %llx\n", ok == 0 ? "swapped" : "refused",
           (unsigned long long)wide);
    return 0;
}
#else
int main(void)
{
    printf("no kuser helpers on this architecture\n");
    return 0;
}
#endif
