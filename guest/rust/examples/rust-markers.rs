// SPDX-License-Identifier: GPL-2.0-or-later
//! Markers of the Rust guest library, with or without a channel (the Rust
//! counterpart of `guest/tests/markers.c` and the named regions):
//!
//! ```text
//! rust-markers
//! ```
//!
//! Registers "early" before initialising from `QEMU_HYPERTRACE_BASE`, prints
//! whether that worked, then emits on client 0 three iterations of
//! region "compute" with a point "tick" inside, on client 1 a region "io"
//! (by id) with the point "early" inside, and finally the plain events
//! arg1 = 1 and arg1 = 0 with data slot 0 = 0xcafe on client 0. It prints
//! the ids it got. Under `ht-user -hypertrace BASE` (4 arguments) the trace
//! holds, as (client, arg1, arg2):
//!
//! ```text
//! (0, NAME, 1)                       "early", announced by init
//! (0, NAME, 2) (0, BEGIN, 2)         "compute"
//! (0, NAME, 3) (0, POINT, 3)         "tick"
//! (0, END, 2)
//! (0, BEGIN, 2) (0, POINT, 3) (0, END, 2)   twice more
//! (1, NAME, 4) (1, BEGIN, 4)         "io"
//! (1, POINT, 1) (1, END, 4)
//! (0, 1, 0xcafe) (0, 0, 0xcafe)
//! ```
//!
//! NAME events carry the address of the name's text in arg3; the program
//! reads "io"'s back from client 1's data slot 1 and prints it. Without a
//! channel (natively, under qemu-user or ht-user without -hypertrace) the
//! markers do nothing and the program runs to its end, exit status 0.

use std::ffi::CStr;
use std::hint::black_box;
use std::ptr;

use qemu_hypertrace as ht;

/// A little work inside a region.
fn work(n: u64) -> u64 {
    (0..black_box(n)).fold(0u64, |acc, i| acc.wrapping_mul(31).wrapping_add(i))
}

fn main() {
    // Registered before init: init announces it on client 0.
    let early = ht::name(0, "early");

    let channel = match ht::init(None) {
        Ok(()) => {
            println!(
                "init: ok, {} clients, {} arguments",
                ht::max_clients(),
                ht::num_args()
            );
            true
        }
        Err(e) => {
            println!("init: failed ({e}): markers do nothing");
            false
        }
    };

    let mut sum = 0u64;
    for i in 0..3 {
        ht::region_begin(0, "compute");
        sum = sum.wrapping_add(work(100 * (i + 1)));
        ht::point(0, "tick");
        ht::region_end(0, "compute");
    }
    black_box(sum);
    // The same text gives the same id.
    let compute = ht::name(0, "compute");
    let tick = ht::name(0, "tick");

    let io = ht::name(1, "io");
    if channel && ht::num_args() >= 2 && ht::max_clients() > 1 {
        // SAFETY: client 1 has at least 2 data slots and this thread is
        // its only user; slot 1 holds the address of the NUL-terminated
        // copy of "io" the library just announced, which lives as long as
        // the program.
        let text = unsafe {
            let addr = ptr::read_volatile(ht::data(1).add(1));
            CStr::from_ptr(addr as usize as *const std::ffi::c_char)
        };
        println!("name at data slot 1: {}", text.to_string_lossy());
    }
    ht::region_begin_id(1, io);
    ht::point_id(1, early);
    ht::region_end_id(1, io);

    // Nothing: the empty name has id 0, and id 0 is ignored.
    let empty = ht::name(0, "");
    ht::region_begin_id(0, empty);
    ht::point(0, "");

    // Two plain events, arg2 = 0xcafe.
    // SAFETY: data() points to at least one slot of client 0 (or to the
    // scratch slots), used only by this thread.
    unsafe { ptr::write_volatile(ht::data(0), 0xcafe) };
    ht::hypertrace(0, 1);
    ht::hypertrace(0, 0);

    println!("ids: early={early} compute={compute} tick={tick} io={io} empty={empty}");
    println!("done");
}
