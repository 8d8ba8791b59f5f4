// SPDX-License-Identifier: GPL-2.0-or-later
//! Code one thread writes and another runs, where the CPU needs no flush
//! to see it (x86), under `-sched parallel`.
//!
//! Each engine drops its own translations of a page it stores to (the
//! engine's self-modifying-code check), but not another engine's. So the
//! threads of a process share the set of pages any engine has translated
//! code from, and every engine tells it (engine patch 0042) of:
//!
//! - **a page it translated from** that no engine had code on: the page
//!   joins the set, and the engine stops before running the new block.
//!   It then publishes, as a memory change, the page's invalidation,
//!   which every engine running guest code applies before it goes on,
//!   flushing its TLB: from then on every engine's first store to the page
//!   takes the slow path that reports it. The block is translated again,
//!   from what the page holds once every engine follows;
//! - **a store to a page in the set**: the page leaves the set and the
//!   engine stops before the store; it publishes the page's invalidation
//!   and waits until every engine running guest code has applied it, then
//!   stores. No thread runs the old code once the store is done, as on
//!   x86 hardware.
//!
//! Both go through the journal of memory changes (`parallel::sync_memory`)
//! by way of the engine's queued code flushes (`cpu::apply_code_flushes`).
//! While a process has one engine, its own check is enough: the set only
//! grows, and a new thread's engine starts with a cold TLB, whose first
//! store to each page takes the slow path.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use unicorn_engine::unicorn_const::uc_error;

use crate::machine::engine_ctl::{self, CODE_PAGE_TRANSLATED, CODE_PAGE_WRITTEN};
use crate::machine::{Engine, Machine};
use crate::mem::PAGE_SIZE;

/// The pages some engine of the process has translated code from.
#[derive(Default)]
pub struct CodePages {
    pages: Mutex<HashSet<u64>>,
    /// Engines besides the first (counted by the thread creating one,
    /// before it runs, so the first engine never misses another).
    others: AtomicUsize,
}

impl CodePages {
    fn pages(&self) -> MutexGuard<'_, HashSet<u64>> {
        self.pages.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Another engine is about to run guest code.
    pub fn engine_added(&self) {
        self.others.fetch_add(1, Ordering::SeqCst);
    }

    /// An engine besides the first ended.
    pub fn engine_removed(&self) {
        let _ = self
            .others
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    fn alone(&self) -> bool {
        self.others.load(Ordering::SeqCst) == 0
    }

    /// The set as a forked child starts with it: its one engine has the
    /// parent's translations.
    pub fn for_child(&self) -> CodePages {
        CodePages {
            pages: Mutex::new(self.pages().clone()),
            others: AtomicUsize::new(0),
        }
    }

    /// Whether translating from `page` must first bring every engine to
    /// watch it.
    fn translated(&self, page: u64) -> bool {
        self.pages().insert(page) && !self.alone()
    }

    /// Whether a store to `page` must first drop every engine's code of it.
    fn written(&self, page: u64) -> bool {
        !self.alone() && self.pages().remove(&page)
    }
}

/// Installs the watch in a parallel thread's engine when the architecture
/// needs it ([`crate::arch::TrapHooks::coherent_icache`]).
pub fn watch(uc: &mut Engine<'_>) -> Result<(), uc_error> {
    if !uc.get_data().abi.trap_hooks().coherent_icache {
        return Ok(());
    }
    // The engine keeps its data in one place for its whole life.
    let machine: *mut Machine = uc.get_data_mut();
    // SAFETY: on_code_page takes the Machine, which lives as long as the
    // engine.
    unsafe { engine_ctl::set_code_page_watch(uc, on_code_page, machine.cast()) }
}

/// Patch 0042's callback: see the module.
extern "C" fn on_code_page(
    uc: *mut unicorn_engine_sys::uc_engine,
    event: u32,
    page: u64,
    data: *mut std::ffi::c_void,
) -> libc::c_int {
    // SAFETY: `data` is the engine's Machine (see watch), which lives as
    // long as the engine; the callback runs inside emu_start on this
    // thread, where nothing else touches the Machine meanwhile.
    let machine = unsafe { &mut *data.cast::<Machine>() };
    let Some(thread) = machine.parallel.as_ref() else {
        return 0;
    };
    let pages = &thread.run.code_pages;
    let stop = match event {
        CODE_PAGE_TRANSLATED => pages.translated(page),
        CODE_PAGE_WRITTEN => pages.written(page),
        _ => false,
    };
    if !stop {
        return 0;
    }
    machine.tlb.code_flushes.push((page, PAGE_SIZE));
    // SAFETY: the engine is the one running this callback; stopping it
    // only sets its exit request.
    unsafe { unicorn_engine::unicorn_const::uc_emu_stop(uc) };
    libc::c_int::from(event == CODE_PAGE_WRITTEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alone_an_engine_only_records_pages() {
        let pages = CodePages::default();
        assert!(!pages.translated(0x1000));
        assert!(!pages.written(0x1000));
        assert!(pages.pages().contains(&0x1000));
    }

    #[test]
    fn with_others_new_code_and_stores_to_it_bring_every_engine_along() {
        let pages = CodePages::default();
        pages.translated(0x1000);
        pages.engine_added();
        assert!(pages.translated(0x2000), "a page new to the set");
        assert!(!pages.translated(0x2000), "a page already watched");
        assert!(!pages.written(0x3000), "a page with no code");
        assert!(pages.written(0x1000), "code from before the second engine");
        assert!(!pages.written(0x1000), "its code is gone everywhere");
        pages.engine_removed();
        pages.engine_removed();
        assert!(!pages.written(0x2000), "alone again");
    }

    #[test]
    fn a_forked_child_keeps_the_pages_and_is_alone() {
        let pages = CodePages::default();
        pages.translated(0x1000);
        pages.engine_added();
        let child = pages.for_child();
        assert!(child.pages().contains(&0x1000));
        assert!(child.alone());
    }
}
