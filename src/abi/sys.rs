// SPDX-License-Identifier: GPL-2.0-or-later
//! The system calls ht-user knows ([`Sys`]) and each architecture's
//! numbering of them ([`SyscallTable`]).

use super::calls::for_each_syscall;

/// How strace shows one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    Int,
    /// A C `int` (pid_t), whatever the register holds above it.
    Pid,
    Hex,
    Ptr,
    Str,
    Fd,
    DirFd,
    Oct,
    /// A 64-bit value: one register on 64-bit ABIs, a pair on 32-bit ones.
    Off64,
    OpenFlags,
    Prot,
    MapFlags,
    /// shmget/semget/msgget flags: IPC_CREAT|IPC_EXCL and the mode.
    IpcGetFlags,
    /// shmat flags.
    ShmFlags,
    /// msgsnd/msgrcv flags.
    MsgFlags,
    /// A shmctl, semctl or msgctl command.
    ShmCmd,
    SemCmd,
    MsgCmd,
    /// ipc(2)'s call: the operation's name and the version.
    IpcCall,
}

// The traits a table entry names (see `calls`).
const OUTPUT: u8 = 1;
const SIGPIPE: u8 = 2;
const ADDRESS: u8 = 4;
const RESTART: u8 = 8;

macro_rules! define_sys {
    ($(
        $name:ident ( $($arg:ident),* ) [ $($trait_:ident),* ]
            => |$p:ident, $a:ident| $body:expr
            $(, wait |$wp:ident, $wa:ident| $wait:expr)? ;
    )*) => {
        /// The system calls ht-user knows, by their Linux names.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Sys { $($name,)* }

        impl Sys {
            /// Every call, in the table's order.
            pub const ALL: &'static [Sys] = &[$(Sys::$name),*];

            pub fn from_name(name: &str) -> Option<Sys> {
                match name { $(stringify!($name) => Some(Sys::$name),)* _ => None }
            }

            pub fn name(self) -> &'static str {
                match self { $(Sys::$name => stringify!($name),)* }
            }

            /// How strace shows the arguments.
            pub fn signature(self) -> &'static [Arg] {
                match self { $(Sys::$name => &[$(Arg::$arg),*],)* }
            }

            fn traits(self) -> u8 {
                match self { $(Sys::$name => 0 $(| $trait_)*,)* }
            }

            /// Whether the call could block the host, so that it waits in
            /// the scheduler when other guest threads must run meanwhile.
            pub fn may_wait(self) -> bool {
                match self { $(Sys::$name => false $(|| !stringify!($wait).is_empty())?,)* }
            }
        }
    };
}

for_each_syscall!(define_sys);

impl Sys {
    /// Whether the call can make output appear that the trace's text lines
    /// must precede (it writes to a file, pipe, socket or terminal, or
    /// ends or signals a process): trace lines bound for the guest's own
    /// stream are flushed before such calls only.
    pub fn may_write_output(self) -> bool {
        self.traits() & OUTPUT != 0
    }

    /// Whether EPIPE from the call raises SIGPIPE.
    pub fn raises_sigpipe(self) -> bool {
        self.traits() & SIGPIPE != 0
    }

    /// Whether the result is an address (strace shows it in hex).
    pub fn returns_address(self) -> bool {
        self.traits() & ADDRESS != 0
    }

    /// Whether the call runs again after a handler with SA_RESTART when a
    /// signal interrupts it (EINTR otherwise), as Linux restarts it.
    pub fn restarts(self) -> bool {
        self.traits() & RESTART != 0
    }
}

/// A system call as the guest made it: which one, and its six argument
/// words (raw: decoding is the handler's, with the ABI's help).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    pub sys: Sys,
    pub args: [u64; 6],
}

impl std::ops::Deref for Call {
    type Target = [u64; 6];
    fn deref(&self) -> &[u64; 6] {
        &self.args
    }
}

/// The name ht-user's handlers use for a kernel table entry: the generic
/// tables call `newfstatat` `fstatat`, for example.
/// On 32-bit ABIs the `*64` calls take the handlers' (64-bit) structures
/// and the old `stat` family is left unsupported rather than answered with
/// the wrong layout.
/// `id32` says the table pairs 16-bit id calls with `*32` variants (i386,
/// arm).
fn canonical_name(name: &str, is_64bit: bool, id32: bool) -> &str {
    match (name, is_64bit) {
        ("fstatat", _) => "newfstatat",
        ("stat" | "fstat" | "lstat" | "fcntl", false) => "",
        // i386's old select takes its arguments in a struct: refused.
        ("select", false) => "",
        // sendfile64 takes a 64-bit offset; the 32-bit-offset one is refused.
        ("sendfile", false) => "",
        ("sendfile64", false) => "sendfile",
        // Where ugetrlimit exists, the old getrlimit reports clipped limits.
        ("getrlimit" | "setrlimit", false) if id32 => "",
        ("stat64", false) => "stat",
        ("fstat64", false) => "fstat",
        ("lstat64", false) => "lstat",
        ("fstatat64", false) => "newfstatat",
        // fd, advice and a range: only the descriptor is checked.
        ("arm_fadvise64_64" | "fadvise64_64", _) => "fadvise64",
        ("fcntl64", false) => "fcntl",
        ("ugetrlimit", false) => "getrlimit",
        // 32-bit ABIs with 16-bit ids keep the 32-bit id calls apart.
        ("getuid32", false) => "getuid",
        ("geteuid32", false) => "geteuid",
        ("getgid32", false) => "getgid",
        ("getegid32", false) => "getegid",
        ("setuid32", false) => "setuid",
        ("setgid32", false) => "setgid",
        ("getresuid32", false) => "getresuid",
        ("getresgid32", false) => "getresgid",
        ("getgroups32", false) => "getgroups",
        ("chown32", false) => "chown",
        ("fchown32", false) => "fchown",
        ("lchown32", false) => "lchown",
        // The 16-bit id versions would need truncated ids: refused instead.
        (
            "getuid" | "geteuid" | "getgid" | "getegid" | "setuid" | "setgid" | "getresuid"
            | "getresgid" | "getgroups" | "chown" | "fchown" | "lchown",
            false,
        ) if id32 => "",
        (other, _) => other,
    }
}

/// One architecture's numbering.
pub struct SyscallTable {
    by_number: Vec<Option<Sys>>,
    names: Vec<Option<&'static str>>,
}

impl SyscallTable {
    /// Builds a table from (number, kernel name) pairs.
    pub fn from_names(entries: impl Iterator<Item = (u64, &'static str)>, is_64bit: bool) -> Self {
        let entries: Vec<(u64, &'static str)> = entries.collect();
        let id32 = entries.iter().any(|(_, name)| *name == "getuid32");
        let mut by_number = Vec::new();
        let mut names = Vec::new();
        for (nr, name) in entries {
            let i = nr as usize;
            if i >= by_number.len() {
                by_number.resize(i + 1, None);
                names.resize(i + 1, None);
            }
            by_number[i] = Sys::from_name(canonical_name(name, is_64bit, id32));
            names[i] = Some(name);
        }
        SyscallTable { by_number, names }
    }

    pub fn lookup(&self, nr: u64) -> Option<Sys> {
        self.by_number.get(nr as usize).copied().flatten()
    }

    /// The kernel's name for `nr`, known or not to ht-user.
    pub fn name(&self, nr: u64) -> Option<&'static str> {
        self.names.get(nr as usize).copied().flatten()
    }
}
