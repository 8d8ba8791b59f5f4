/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Linked into test guests built with glibc where musl is not available:
 * makes stdout line-buffered, so that guest output and hypertrace log
 * lines sharing a stream appear in program order, as with musl.
 */
#include <stdio.h>

__attribute__((constructor)) static void line_buffered_stdout(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
}
