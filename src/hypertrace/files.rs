// SPDX-License-Identifier: GPL-2.0-or-later
//! The channel's files: created and published, adopted by a forked or
//! executed child, found abandoned, identified by (device, inode) and
//! removed by their owner only.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::Mutex;

use memmap2::MmapMut;

use super::{Channel, ChannelOptions, Layout, MAX_ARGS, MAX_CLIENTS_LIMIT};
use crate::mem::{Encoder, Endian};

/// A file's device and inode.
pub type FileId = (u64, u64);

/// Removes each of `files` that is still the file it was (same device and
/// inode); a file the guest put in its place stays.
fn remove_channel_files(files: &[(PathBuf, FileId)]) {
    for (path, id) in files {
        match path.symlink_metadata() {
            Ok(meta) if (meta.dev(), meta.ino()) == *id => {
                if let Err(e) = std::fs::remove_file(path) {
                    if e.kind() != io::ErrorKind::NotFound {
                        eprintln!("ht-user: cannot remove {}: {e}", path.display());
                    }
                }
            }
            Ok(_) => eprintln!(
                "ht-user: left {} in place: another file replaced the channel's",
                path.display()
            ),
            Err(_) => {}
        }
    }
}

/// The channel files' identities as an executed ht-user is told them
/// (`DEV:INO,DEV:INO,DEV:INO` for -data, -control, -config).
pub fn format_file_ids(ids: &[FileId]) -> String {
    ids.iter()
        .map(|(dev, ino)| format!("{dev}:{ino}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A list of channel file identities ([`format_file_ids`]'s form) that
/// does not parse: the list, and what is wrong in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("channel file ids '{text}': {problem}")]
pub struct FileIdsError {
    pub text: String,
    pub problem: FileIdProblem,
}

/// What is wrong with one identity in a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileIdProblem {
    #[error("expected DEV:INO")]
    NoColon,
    #[error("bad device number")]
    Device,
    #[error("bad inode number")]
    Inode,
}

/// Parses [`format_file_ids`]'s form.
pub fn parse_file_ids(text: &str) -> Result<Vec<FileId>, FileIdsError> {
    text.split(',')
        .map(|pair| {
            let (dev, ino) = pair.split_once(':').ok_or(FileIdProblem::NoColon)?;
            Ok((
                dev.parse().map_err(|_| FileIdProblem::Device)?,
                ino.parse().map_err(|_| FileIdProblem::Inode)?,
            ))
        })
        .collect::<Result<Vec<_>, FileIdProblem>>()
        .map_err(|problem| FileIdsError {
            text: text.to_string(),
            problem,
        })
}

#[derive(Debug)]
pub struct ChannelError(pub String);

impl std::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ChannelError {}

/// Creates `path` whole or not at all: the file is filled under a private
/// name and then renamed into place, refusing to replace an existing file,
/// so no reader ever sees a channel file half made.
fn publish(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<File, ChannelError> {
    use std::os::unix::ffi::OsStrExt;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| {
            ChannelError(format!(
                "cannot create hypertrace channel file {}: {e}",
                path.display()
            ))
        })?;
    let staged = fill(&mut file).map_err(|e| format!("cannot write {}: {e}", path.display()));
    let renamed = staged.and_then(|()| {
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).expect("paths have no NUL");
        let (from, to) = (c(&tmp), c(path));
        // SAFETY: both strings are NUL-terminated paths.
        let rc = unsafe {
            libc::renameat2(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::RENAME_NOREPLACE)
        };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        Err(if e.kind() == io::ErrorKind::AlreadyExists {
            format!(
                "hypertrace channel file {} already exists (another ht-user running, or left over from a crash? remove it to continue)",
                path.display()
            )
        } else {
            format!("cannot create hypertrace channel file {}: {e}", path.display())
        })
    });
    match renamed {
        Ok(()) => Ok(file),
        Err(msg) => {
            let _ = std::fs::remove_file(&tmp);
            Err(ChannelError(msg))
        }
    }
}

/// Watches ht-user's own mapping `view` of the data file `file` for the
/// file shrinking under it (another process truncating it).
fn watch_data(file: &File, view: &MmapMut) -> crate::mem::host_fault::Registration {
    crate::mem::host_fault::watch(
        view.as_ptr(),
        view.len(),
        file.as_raw_fd(),
        0,
        libc::PROT_READ | libc::PROT_WRITE,
    )
}

/// The run that owns a channel holds an exclusive lock on `BASE-data` for
/// as long as it lives (the lock goes with its descriptor, so also when it
/// is killed): a later run can tell abandoned files from a live run's.
fn hold_owner_lock(data: &File) {
    // SAFETY: flock on a descriptor this File owns.
    if unsafe { libc::flock(data.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        tracing::warn!(
            "cannot lock the channel data file: {}",
            io::Error::last_os_error()
        );
    }
}

/// Whether the three files at `opts`'s base are this user's regular files
/// and a whole hypertrace channel: a config of some layout (either byte
/// order) and data and control files of that layout's sizes.
fn is_whole_channel(opts: &ChannelOptions) -> bool {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let size = |suffix: &str| {
        opts.path(suffix)
            .symlink_metadata()
            .ok()
            .filter(|m| m.file_type().is_file() && m.uid() == uid)
            .map(|m| m.len())
    };
    let (Some(40), Some(data_size), Some(control_size)) =
        (size("-config"), size("-data"), size("-control"))
    else {
        return false;
    };
    let Ok(config) = std::fs::read(opts.path("-config")) else {
        return false;
    };
    [Endian::Little, Endian::Big].into_iter().any(|endian| {
        let enc = Encoder { endian };
        let word = |i: usize| {
            let bytes: [u8; 8] = config[i * 8..i * 8 + 8].try_into().expect("40 bytes");
            match endian {
                Endian::Little => u64::from_le_bytes(bytes),
                Endian::Big => u64::from_be_bytes(bytes),
            }
        };
        let (max_clients, args) = (word(0), word(1));
        (1..=MAX_CLIENTS_LIMIT).contains(&max_clients) && (1..=MAX_ARGS).contains(&args) && {
            let layout = Layout::new(max_clients, args);
            layout.encode(enc) == config
                && layout.data_size == data_size
                && layout.control_size == control_size
        }
    })
}

/// Removes the channel files at `opts`'s base when the run that made them
/// is gone: they are a whole channel of this user's (`is_whole_channel`)
/// and nobody holds the lock on `BASE-data`. Says whether it removed them.
fn remove_if_abandoned(opts: &ChannelOptions) -> bool {
    if !is_whole_channel(opts) {
        return false;
    }
    let data_path = opts.path("-data");
    let Ok(data) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&data_path)
    else {
        return false;
    };
    // SAFETY: flock on a descriptor this File owns; released when it drops.
    if unsafe { libc::flock(data.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return false;
    }
    for suffix in ["-config", "-control", "-data"] {
        let _ = std::fs::remove_file(opts.path(suffix));
    }
    true
}

impl Channel {
    pub fn create(opts: &ChannelOptions, endian: Endian) -> Result<Channel, ChannelError> {
        let layout = Layout::new(opts.max_clients, opts.args);
        let enc = Encoder { endian };
        let took_over_abandoned = remove_if_abandoned(opts);
        // Name every file in the way at once, rather than the first only.
        let existing: Vec<String> = ["-config", "-data", "-control"]
            .iter()
            .map(|sfx| opts.path(sfx))
            .filter(|p| p.symlink_metadata().is_ok())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(ChannelError(format!(
                "hypertrace channel file{} {} already exist{} (another ht-user is running with them: end it, or remove {} to continue)",
                if existing.len() > 1 { "s" } else { "" },
                existing.join(", "),
                if existing.len() > 1 { "" } else { "s" },
                if existing.len() > 1 { "them" } else { "it" },
            )));
        }
        let mut channel_files: Vec<(PathBuf, FileId)> = Vec::new();
        let mut create = |suffix: &str, fill: &dyn Fn(&mut File) -> io::Result<()>| {
            let path = opts.path(suffix);
            let file = publish(&path, fill)?;
            let meta = file
                .metadata()
                .map_err(|e| ChannelError(format!("cannot stat {}: {e}", path.display())))?;
            channel_files.push((path, (meta.dev(), meta.ino())));
            Ok::<File, ChannelError>(file)
        };
        let result = (|| {
            // The config comes last: once it exists, the channel is complete.
            let data = create("-data", &|f| f.set_len(layout.data_size))?;
            create("-control", &|f| f.set_len(layout.control_size))?;
            create("-config", &|f| f.write_all(&layout.encode(enc)))?;
            // SAFETY: the data file is ours (created with O_EXCL, mode 0600);
            // a truncation by another process is survived (mem::host_fault);
            // the guest writes it
            // concurrently only from this same thread's emulation.
            let view = unsafe { MmapMut::map_mut(&data) }
                .map_err(|e| ChannelError(format!("cannot map channel data: {e}")))?;
            hold_owner_lock(&data);
            Ok((data, view))
        })();
        match result {
            Ok((data_file, data)) => Ok(Channel {
                took_over_abandoned,
                control_id: channel_files[1].1,
                files: channel_files,
                owner_pid: std::process::id(),
                layout,
                _data_watch: watch_data(&data_file, &data),
                _data_file: data_file,
                data,
                enc,
                words: (0..layout.control_size / 4)
                    .map(|_| AtomicU32::new(0))
                    .collect(),
                ignored_stores: AtomicU64::new(0),
                names: Mutex::default(),
            }),
            Err(e) => {
                // Remove whatever was created before the step that failed.
                remove_channel_files(&channel_files);
                Err(e)
            }
        }
    }

    /// Opens the channel files an earlier ht-user of the same run created
    /// (a guest program executed by a guest), checking that their layout
    /// is the one `opts` asks for. `owner` says whether this process now
    /// removes them when it ends (it is the process that created them and
    /// has executed a new program); `created` are the identities of the
    /// files the run created (-data, -control, -config), which the owner
    /// removes even when the files turn out unusable (a guest corrupted
    /// them before executing a program).
    pub fn adopt(
        opts: &ChannelOptions,
        endian: Endian,
        owner: bool,
        created: Option<&[FileId]>,
    ) -> Result<Channel, ChannelError> {
        let result = Self::open_existing(opts, endian, owner);
        if let (Err(_), true, Some(ids)) = (&result, owner, created) {
            let files: Vec<(PathBuf, FileId)> = ["-data", "-control", "-config"]
                .iter()
                .map(|s| opts.path(s))
                .zip(ids.iter().copied())
                .collect();
            remove_channel_files(&files);
        }
        result
    }

    fn open_existing(
        opts: &ChannelOptions,
        endian: Endian,
        owner: bool,
    ) -> Result<Channel, ChannelError> {
        let layout = Layout::new(opts.max_clients, opts.args);
        let enc = Encoder { endian };
        let err = |path: &Path, e: io::Error| {
            ChannelError(format!(
                "cannot open hypertrace channel file {}: {e}",
                path.display()
            ))
        };
        let config_path = opts.path("-config");
        let config = std::fs::read(&config_path).map_err(|e| err(&config_path, e))?;
        if config != layout.encode(enc) {
            return Err(ChannelError(format!(
                "hypertrace channel file {} describes another layout than -hypertrace asks for",
                config_path.display()
            )));
        }
        let open = |suffix: &str| {
            let path = opts.path(suffix);
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| err(&path, e))
        };
        let data = open("-data")?;
        let control = open("-control")?;
        let meta = control
            .metadata()
            .map_err(|e| ChannelError(format!("cannot stat control file: {e}")))?;
        let data_meta = data
            .metadata()
            .map_err(|e| ChannelError(format!("cannot stat data file: {e}")))?;
        if data_meta.len() < layout.data_size {
            return Err(ChannelError(format!(
                "hypertrace channel file {} is too short",
                opts.path("-data").display()
            )));
        }
        // SAFETY: the data file belongs to this run (its creator shares it
        // with us); it is at least data_size long, and a truncation by
        // another process is survived (mem::host_fault).
        let view = unsafe { MmapMut::map_mut(&data) }
            .map_err(|e| ChannelError(format!("cannot map channel data: {e}")))?;
        if owner {
            // The image before the execve held it; its descriptor closed.
            hold_owner_lock(&data);
        }
        let config_meta =
            std::fs::symlink_metadata(&config_path).map_err(|e| err(&config_path, e))?;
        Ok(Channel {
            files: vec![
                (opts.path("-data"), (data_meta.dev(), data_meta.ino())),
                (opts.path("-control"), (meta.dev(), meta.ino())),
                (config_path, (config_meta.dev(), config_meta.ino())),
            ],
            owner_pid: if owner { std::process::id() } else { 0 },
            took_over_abandoned: false,
            layout,
            _data_watch: watch_data(&data, &view),
            _data_file: data,
            data: view,
            control_id: (meta.dev(), meta.ino()),
            enc,
            words: (0..layout.control_size / 4)
                .map(|_| AtomicU32::new(0))
                .collect(),
            ignored_stores: AtomicU64::new(0),
            names: Mutex::default(),
        })
    }

    /// Whether all three channel files of `opts` exist.
    pub fn files_exist(opts: &ChannelOptions) -> bool {
        ["-config", "-data", "-control"]
            .iter()
            .all(|s| opts.path(s).symlink_metadata().is_ok())
    }

    /// The data file: path, identity and the size ht-user reads it at.
    pub fn data_file(&self) -> (PathBuf, FileId, u64) {
        let (path, id) = &self.files[0];
        (path.clone(), *id, self.layout.data_size)
    }

    /// The identities of the channel's files (-data, -control, -config).
    pub fn file_ids(&self) -> Vec<FileId> {
        self.files.iter().map(|(_, id)| *id).collect()
    }

    /// Device and inode of the control file, to recognise the guest's mmap of it.
    pub fn control_id(&self) -> (u64, u64) {
        self.control_id
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        if self.owner_pid != std::process::id() {
            return;
        }
        remove_channel_files(&self.files);
    }
}
