// SPDX-License-Identifier: GPL-2.0-or-later
//! Unicorn's C engine as ht-user builds it: the pristine `unicorn-engine-sys`
//! 2.1.5 with the patch series in `engine/patches/` (see `PATCHES.md`). The
//! items are those of the pristine crate, so the `unicorn-engine` crate
//! builds against this one unchanged.
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case, dead_code)]
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

mod bindings {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}
pub use bindings::*;

include!(concat!(env!("OUT_DIR"), "/pristine_helpers.rs"));

/// The identity of the patch series this crate was built with
/// (`ht-<count>-<hash>`, or `local` for an engine tree given by
/// `HT_ENGINE_SRC`). [`linked_patch_series`] must return the same string.
pub const PATCH_SERIES: &str = include_str!(concat!(env!("OUT_DIR"), "/patch_series.txt"));

/// The patch series of the engine actually linked, as its C code reports it.
pub fn linked_patch_series() -> &'static str {
    // SAFETY: uc_patch_series returns a pointer to a static NUL-terminated
    // ASCII string compiled into the engine.
    let raw = unsafe { core::ffi::CStr::from_ptr(uc_patch_series()) };
    raw.to_str().unwrap_or("")
}
