// SPDX-License-Identifier: GPL-2.0-or-later
//! Dispatch from the system call table (`abi::calls`): each entry's
//! handler, and its wait for calls that could block the host.

use super::{block, fs, futex, ipc, mm, net, process, signal, thread, time, timer, wait};
use crate::abi::{Call, Errno, ExitKind, Outcome, Sys};
use crate::kernel::Process;

/// The `dirfd` that names the working directory, as an argument word.
const AT_FDCWD: u64 = libc::AT_FDCWD as u64;

macro_rules! define_handlers {
    ($(
        $name:ident ( $($arg:ident),* ) [ $($trait_:ident),* ]
            => |$p:ident, $a:ident| $body:expr
            $(, wait |$wp:ident, $wa:ident| $wait:expr)? ;
    )*) => {
        /// Runs the handler of `call.sys`.
        #[allow(unused_variables)]
        pub(super) fn handle(p: &mut Process, call: &Call) -> Outcome {
            match call.sys {
                $(Sys::$name => {
                    let $p = p;
                    let $a = call;
                    Outcome::from($body)
                })*
            }
        }

        /// For a call that could block the host: `Some(outcome)` when it
        /// must not run as a plain host call now (its thread waits, or
        /// the wait completed it).
        #[allow(unused_variables, unreachable_code)]
        pub(super) fn wait_first(p: &mut Process, call: &Call) -> Option<Outcome> {
            match call.sys {
                $(Sys::$name => {
                    $(
                        let $wp = p;
                        let $wa = call;
                        return $wait;
                    )?
                    None
                })*
            }
        }
    };
}

crate::abi::calls::for_each_syscall!(define_handlers);

#[cfg(test)]
mod tests {
    //! Handlers and strace lines over a process with no engine: guest
    //! memory comes from the mmap handler itself.

    use super::super::{dispatch, strace};
    use crate::abi::{Arg, Errno, Outcome, Sys};
    use crate::kernel::Process;

    fn process(name: &str) -> Process {
        let abi = crate::arch::all()
            .into_iter()
            .find(|a| a.name() == name)
            .expect("a known architecture");
        Process::new(abi, "/bin/true".into()).expect("a process")
    }

    fn value(outcome: Outcome) -> u64 {
        match outcome {
            Outcome::Value(v) => v,
            other => panic!("expected a value, got {other:?}"),
        }
    }

    /// One anonymous read-write page (x86_64's flag values).
    fn page(p: &mut Process) -> u64 {
        const MAP_PRIVATE_ANONYMOUS: u64 = 0x22;
        value(dispatch(
            p,
            Sys::mmap,
            &[0, 4096, 3, MAP_PRIVATE_ANONYMOUS, u64::MAX, 0],
        ))
    }

    #[test]
    fn every_entry_is_named_and_fits_six_argument_words() {
        for &sys in Sys::ALL {
            assert_eq!(Sys::from_name(sys.name()), Some(sys));
            let words: usize = sys
                .signature()
                .iter()
                .map(|&a| if a == Arg::Off64 { 2 } else { 1 })
                .sum();
            assert!(words <= 6, "{}: {words} argument words", sys.name());
        }
        assert!(Sys::write.may_write_output() && Sys::write.raises_sigpipe());
        assert!(Sys::read.may_wait() && !Sys::getpid.may_wait());
        assert!(Sys::mmap2.returns_address() && !Sys::read.returns_address());
    }

    #[test]
    fn a_pipe_carries_bytes_between_guest_buffers() {
        let mut p = process("x86_64");
        let buf = page(&mut p);
        assert_eq!(
            value(dispatch(&mut p, Sys::pipe2, &[buf, 0, 0, 0, 0, 0])),
            0
        );
        let (rd, wr) = (
            u64::from(p.mem.read_u32(buf).unwrap()),
            u64::from(p.mem.read_u32(buf + 4).unwrap()),
        );
        p.mem.write(buf + 64, b"hello").unwrap();
        assert_eq!(
            value(dispatch(&mut p, Sys::write, &[wr, buf + 64, 5, 0, 0, 0])),
            5
        );
        assert_eq!(
            value(dispatch(&mut p, Sys::read, &[rd, buf + 128, 64, 0, 0, 0])),
            5
        );
        assert_eq!(p.mem.read_vec(buf + 128, 5).unwrap(), b"hello");
        assert_eq!(value(dispatch(&mut p, Sys::close, &[wr, 0, 0, 0, 0, 0])), 0);
        assert_eq!(
            dispatch(&mut p, Sys::close, &[wr, 0, 0, 0, 0, 0]),
            Outcome::Error(Errno::EBADF)
        );
    }

    #[test]
    fn wild_pointers_are_efault_not_a_crash() {
        let mut p = process("x86_64");
        assert_eq!(
            dispatch(&mut p, Sys::write, &[1, 0xdead_0000, 4, 0, 0, 0]),
            Outcome::Error(Errno::EFAULT)
        );
        assert_eq!(
            dispatch(&mut p, Sys::uname, &[u64::MAX - 8, 0, 0, 0, 0, 0]),
            Outcome::Error(Errno::EFAULT)
        );
        assert_eq!(
            dispatch(&mut p, Sys::pipe, &[0, 0, 0, 0, 0, 0]),
            Outcome::Error(Errno::EFAULT)
        );
    }

    #[test]
    fn uname_reports_the_guest_machine() {
        let mut p = process("x86_64");
        let buf = page(&mut p);
        assert_eq!(
            value(dispatch(&mut p, Sys::uname, &[buf, 0, 0, 0, 0, 0])),
            0
        );
        // struct utsname: six 65-byte fields, machine the fifth.
        let machine = p.mem.read_cstr(buf + 4 * 65, 65).unwrap();
        assert_eq!(machine, b"x86_64");
        assert_eq!(
            value(dispatch(&mut p, Sys::getpid, &[0; 6])),
            u64::from(std::process::id())
        );
    }

    #[test]
    fn mips_pipe_returns_both_descriptors_in_registers() {
        let mut p = process("mipsel");
        match dispatch(&mut p, Sys::pipe, &[0; 6]) {
            Outcome::Pair(rd, wr) => {
                assert!(rd != wr);
                assert!(p.fds.raw(rd).is_ok() && p.fds.raw(wr).is_ok());
            }
            other => panic!("expected two descriptors, got {other:?}"),
        }
    }

    fn line(arch: &str, sys: Sys, args: [u64; 6], outcome: Outcome) -> String {
        let p = process(arch);
        let nr = (0..6000)
            .find(|&nr| p.abi.syscall_table().lookup(nr) == Some(sys))
            .expect("the call has a number");
        let text = strace::format_call(&p, nr, Some(sys), &args, outcome, false);
        text.split_once(' ').expect("pid first").1.to_string()
    }

    #[test]
    fn strace_reads_64_bit_offsets_from_register_pairs() {
        // i386 passes the pair in the next two words, arm EABI from an
        // even register.
        let i386 = line(
            "i386",
            Sys::pread64,
            [3, 0x1000, 10, 1, 2, 0],
            Outcome::Value(10),
        );
        assert_eq!(i386, "pread64(3,0x1000,10,8589934593) = 10");
        let arm = line(
            "arm",
            Sys::pread64,
            [3, 0x1000, 10, 0, 1, 2],
            Outcome::Value(10),
        );
        assert_eq!(arm, "pread64(3,0x1000,10,8589934593) = 10");
        let x86_64 = line(
            "x86_64",
            Sys::pread64,
            [3, 0x1000, 10, 7, 0, 0],
            Outcome::Value(10),
        );
        assert_eq!(x86_64, "pread64(3,0x1000,10,7) = 10");
    }

    #[test]
    fn strace_names_flags_in_the_guests_numbering() {
        // MIPS: MAP_ANONYMOUS is 0x800.
        let mips = line(
            "mipsel",
            Sys::mmap2,
            [0, 4096, 3, 0x802, u64::from(u32::MAX), 0],
            Outcome::Value(0x7700_0000),
        );
        assert_eq!(
            mips,
            "mmap2(NULL,4096,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0x0) = 0x77000000"
        );
        let i386 = line(
            "i386",
            Sys::openat,
            [u64::from(libc::AT_FDCWD as u32), 0, 0o100000, 0, 0, 0],
            Outcome::Value(3),
        );
        assert_eq!(i386, "openat(AT_FDCWD,NULL,O_RDONLY|O_LARGEFILE,00) = 3");
    }
}
