// SPDX-License-Identifier: GPL-2.0-or-later
//! The ELF loader on arbitrary files: inspection, mapping into a fresh
//! address space, the same file as a program interpreter, the special
//! pages and the initial stack (argv, envp, auxv), as `runner::load` does
//! it but without an engine.
#![no_main]

use std::path::Path;

use ht_user::loader;
use ht_user::mem::AddressSpace;
use libfuzzer_sys::fuzz_target;

/// The argv and envp strings come from the input's last bytes (ELF
/// loading reads only headers and segments, which rarely reach there), so
/// the seeds stay plain ELF files.
fn strings(data: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let tail = &data[data.len().saturating_sub(256)..];
    let Some((&split, rest)) = tail.split_first() else {
        return (Vec::new(), Vec::new());
    };
    let pieces: Vec<Vec<u8>> = rest.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
    let at = usize::from(split) % (pieces.len() + 1);
    let envp = pieces[at..].to_vec();
    let mut argv = pieces;
    argv.truncate(at);
    (argv, envp)
}

fuzz_target!(|data: &[u8]| {
    let program = Path::new("/fuzz/program");
    let Ok(info) = loader::inspect(program, data) else {
        return;
    };
    let abi = info.abi;
    let _ = loader::span(&info);
    let mut mem = AddressSpace::new(abi.endian(), abi.layout());
    let Ok(image) = loader::load(&info, data, &mut mem, None, "/fuzz/program") else {
        return;
    };
    // The file as its own interpreter: accepted only when it is static,
    // and then placed where Linux puts ld.so, next to the program.
    let interp_path = Path::new("/fuzz/ld.so");
    let interp =
        loader::load_interpreter_image(program, interp_path, "/fuzz/ld.so", data, abi, &mut mem)
            .ok();
    if abi.map_special_pages(&mut mem).is_err() {
        return;
    }
    let (argv, envp) = strings(data);
    // What the CPU model ht-user would pick tells the guest (AT_HWCAP).
    let cpu_facts = abi
        .cpu_facts(abi.default_cpu_for(info.flags))
        .unwrap_or_default();
    if let Ok(stack) = loader::build_stack(
        abi,
        &cpu_facts,
        &mut mem,
        &image,
        interp.map_or(0, |i| i.bias),
        b"/fuzz/program",
        &argv,
        &envp,
    ) {
        // What the guest's first instruction would read: argc.
        let mut argc = [0u8; 4];
        assert!(mem.read(stack.sp, &mut argc).is_ok(), "the stack is mapped");
    }
});
