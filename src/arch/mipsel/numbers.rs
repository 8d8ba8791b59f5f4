// SPDX-License-Identifier: GPL-2.0-or-later
//! MIPS's own numbering, as tables of (MIPS value, host value): open and
//! mmap flags, socket options and types, errno, signals, rlimits, ioctls,
//! fcntl commands (read through `KernelAbi`).

/// open(2) flags: (mips bit, x86 bit).
/// MIPS `SOL_SOCKET`, and the `SO_*` options whose numbers differ from the
/// host's, as (guest, host) pairs; other guest options are refused.
pub(crate) const MIPS_SOL_SOCKET: u64 = 0xffff;
pub(crate) const SOCKOPTS: &[(u64, i32)] = &[
    (0x0001, libc::SO_DEBUG),
    (0x0004, libc::SO_REUSEADDR),
    (0x0008, libc::SO_KEEPALIVE),
    (0x0010, libc::SO_DONTROUTE),
    (0x0020, libc::SO_BROADCAST),
    (0x0080, libc::SO_LINGER),
    (0x0100, libc::SO_OOBINLINE),
    (0x0200, libc::SO_REUSEPORT),
    (0x1001, libc::SO_SNDBUF),
    (0x1002, libc::SO_RCVBUF),
    (0x1003, libc::SO_SNDLOWAT),
    (0x1004, libc::SO_RCVLOWAT),
    (0x1007, libc::SO_ERROR),
    (0x1008, libc::SO_TYPE),
    (0x1009, libc::SO_ACCEPTCONN),
    (0x1028, libc::SO_PROTOCOL),
    (0x1029, libc::SO_DOMAIN),
    (12, libc::SO_PRIORITY),
    (17, libc::SO_PASSCRED),
    (18, libc::SO_PEERCRED),
];

pub(crate) const OPEN_FLAGS: &[(u64, u64)] = &[
    (0x0008, 0o2000),    // O_APPEND
    (0x0010, 0o10000),   // O_DSYNC
    (0x0080, 0o4000),    // O_NONBLOCK
    (0x0100, 0o100),     // O_CREAT
    (0x0400, 0o200),     // O_EXCL
    (0x0800, 0o400),     // O_NOCTTY
    (0x1000, 0o20000),   // FASYNC
    (0x2000, 0o100000),  // O_LARGEFILE
    (0x4000, 0o4000000), // __O_SYNC
    (0x8000, 0o40000),   // O_DIRECT
];

/// mmap(2) flags: (mips bit, x86 bit).
pub(crate) const MMAP_FLAGS: &[(u64, u64)] = &[
    (0x0400, 0x4000),   // MAP_NORESERVE
    (0x0800, 0x0020),   // MAP_ANONYMOUS
    (0x1000, 0x0100),   // MAP_GROWSDOWN
    (0x2000, 0x0800),   // MAP_DENYWRITE
    (0x4000, 0x1000),   // MAP_EXECUTABLE
    (0x8000, 0x2000),   // MAP_LOCKED
    (0x10000, 0x8000),  // MAP_POPULATE
    (0x20000, 0x10000), // MAP_NONBLOCK
    (0x40000, 0x20000), // MAP_STACK
    (0x80000, 0x40000), // MAP_HUGETLB
];

/// Host (generic) errno to MIPS errno, for the values that differ.
pub(crate) fn mips_errno(e: i32) -> i32 {
    match e {
        35 => 45,            // EDEADLK
        36 => 78,            // ENAMETOOLONG
        37 => 46,            // ENOLCK
        38 => 89,            // ENOSYS
        39 => 93,            // ENOTEMPTY
        40 => 90,            // ELOOP
        42 => 35,            // ENOMSG
        43 => 36,            // EIDRM
        44..=51 => e - 7,    // ECHRNG .. EL2HLT
        52..=57 => e - 2,    // EBADE .. EBADSLT
        72 => 74,            // EMULTIHOP
        74 => 77,            // EBADMSG
        75 => 79,            // EOVERFLOW
        76 => 80,            // ENOTUNIQ
        77 => 81,            // EBADFD
        78 => 82,            // EREMCHG
        79..=83 => e + 4,    // ELIBACC .. ELIBEXEC
        84 => 88,            // EILSEQ
        85 => 91,            // ERESTART
        86 => 92,            // ESTRPIPE
        87 => 94,            // EUSERS
        88..=92 => e + 7,    // ENOTSOCK .. ENOPROTOOPT
        93..=104 => e + 27,  // EPROTONOSUPPORT .. ECONNRESET
        105..=107 => e + 27, // ENOBUFS .. ENOTCONN
        108 => 143,          // ESHUTDOWN
        109 => 144,          // ETOOMANYREFS
        110 => 145,          // ETIMEDOUT
        111 => 146,          // ECONNREFUSED
        112 => 147,          // EHOSTDOWN
        113 => 148,          // EHOSTUNREACH
        114 => 149,          // EALREADY
        115 => 150,          // EINPROGRESS
        116 => 151,          // ESTALE
        117 => 135,          // EUCLEAN
        118..=120 => e + 19, // ENOTNAM .. EISNAM
        121 => 140,          // EREMOTEIO
        122 => 1133,         // EDQUOT
        123 => 159,          // ENOMEDIUM
        124 => 160,          // EMEDIUMTYPE
        125 => 158,          // ECANCELED
        126..=129 => e + 35, // ENOKEY .. EKEYREJECTED
        130 => 165,          // EOWNERDEAD
        131 => 166,          // ENOTRECOVERABLE
        132 => 167,          // ERFKILL
        133 => 168,          // EHWPOISON
        other => other,
    }
}

/// Signal numbers that differ from the host's: (guest, host). SIGEMT (7)
/// has no host twin and is reported as SIGBUS, whose host number maps
/// back to the guest's SIGBUS (10), listed first.
pub(crate) const SIGNALS: &[(u64, u64)] = &[
    (10, 7),  // SIGBUS
    (7, 7),   // SIGEMT
    (12, 31), // SIGSYS
    (16, 10), // SIGUSR1
    (17, 12), // SIGUSR2
    (18, 17), // SIGCHLD
    (19, 30), // SIGPWR
    (20, 28), // SIGWINCH
    (21, 23), // SIGURG
    (22, 29), // SIGIO
    (23, 19), // SIGSTOP
    (24, 20), // SIGTSTP
    (25, 18), // SIGCONT
    (26, 21), // SIGTTIN
    (27, 22), // SIGTTOU
    (28, 26), // SIGVTALRM
    (29, 27), // SIGPROF
    (30, 24), // SIGXCPU
    (31, 25), // SIGXFSZ
];

/// getrlimit/setrlimit resources that differ: (guest, host).
pub(crate) const RLIMITS: &[(u64, u64)] = &[
    (5, 7), // RLIMIT_NOFILE
    (6, 9), // RLIMIT_AS
    (7, 5), // RLIMIT_RSS
    (8, 6), // RLIMIT_NPROC
    (9, 8), // RLIMIT_MEMLOCK
];

/// The ioctls ht-user translates: (MIPS request, host request). termios
/// has another layout on MIPS: not a terminal, for now.
pub(crate) const IOCTLS: &[(u64, u64)] = &[
    (0x4008_7468, 0x5413), // TIOCGWINSZ
    (0x8008_7467, 0x5414), // TIOCSWINSZ
    (0x467f, 0x541b),      // FIONREAD
    (0x667e, 0x5421),      // FIONBIO
    (0x6601, 0x5451),      // FIOCLEX
    (0x6602, 0x5450),      // FIONCLEX
    (0x4004_7477, 0x540f), // TIOCGPGRP
];

/// fcntl commands that differ: (guest, host); the host's numbers that
/// mean something else on MIPS are refused.
pub(crate) const FCNTL_CMDS: &[(u64, u64)] = &[
    (14, 5), // F_GETLK
    (24, 8), // F_SETOWN
    (23, 9), // F_GETOWN
    (5, u64::MAX),
    (8, u64::MAX),
    (9, u64::MAX),
];

/// SOCK_DGRAM is 1 and SOCK_STREAM 2 on MIPS.
pub(crate) const SOCKET_TYPES: &[(u64, u64)] =
    &[(1, libc::SOCK_DGRAM as u64), (2, libc::SOCK_STREAM as u64)];
