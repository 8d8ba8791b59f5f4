/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Minimal guest: one line on stdout, exit status 0. */
#include <stdio.h>

int main(void)
{
    printf("hello from the guest\n");
    return 0;
}
