// SPDX-License-Identifier: GPL-2.0-or-later
//! What the trace learns besides the guest's own events: the names the
//! guest registers (its string table), and the events ht-user makes
//! itself under names of its own: gem5 m5ops (`m5ops`) and the files
//! mapped for execution (module events, for `ht-trace profile`).

use crate::machine::Machine;
use crate::trace::file::InsnCounts;
use crate::trace::{EventKind, EventRecord};

impl Machine {
    /// An event ht-user makes itself (a gem5 m5op): the named event
    /// `arg1` (`op::BEGIN`, `op::END` or `op::POINT`) of the name `name`,
    /// which it registers under one of its own ids on first use, with
    /// `extra` as arg3 and arg4. Needs a channel. Returns what
    /// [`Machine::on_control_store`] returns.
    pub fn on_host_named_event(
        &mut self,
        client: u32,
        arg1: u64,
        name: &str,
        extra: [u64; 2],
        counts: Option<InsnCounts>,
    ) -> bool {
        let Some(channel) = self.hypertrace.as_ref() else {
            return false;
        };
        let (id, new) = channel.host_name(name.as_bytes());
        if new {
            self.record_name(id, name.as_bytes());
            self.trace.rules.learn_name(id, name.as_bytes());
        }
        let values = [u64::from(id), extra[0], extra[1]];
        let padded = values.into_iter().chain(std::iter::repeat(0));
        for (slot, v) in self.trace.args_scratch.iter_mut().zip(padded) {
            *slot = v;
        }
        self.emit_hypertrace(client, arg1, counts, true)
    }

    /// The guest registered a name (the library's NAME store): slot 0 is
    /// its id, slot 1 the address of its text, read now (at most
    /// `NAME_MAX` bytes; an unreadable text is recorded as empty).
    pub(crate) fn on_name_store(&mut self, client: u32) {
        let Some(channel) = self.hypertrace.as_ref() else {
            return;
        };
        let (Some(id), Some(addr)) = (channel.slot(client, 0), channel.slot(client, 1)) else {
            return;
        };
        let id = match u32::try_from(id) {
            Ok(id) if id != 0 && id < crate::hypertrace::HOST_NAME_IDS => id,
            _ => {
                self.hypertrace.as_ref().expect("checked").ignore_store();
                return;
            }
        };
        let mut text = Vec::new();
        let mut byte = [0u8; 1];
        while text.len() < crate::trace::NAME_MAX {
            let Some(at) = addr.checked_add(text.len() as u64) else {
                break;
            };
            if self.lock_process().mem.read(at, &mut byte).is_err() || byte[0] == 0 {
                break;
            }
            text.push(byte[0]);
        }
        self.record_name(id, &text);
        self.trace.rules.learn_name(id, &text);
        self.hypertrace
            .as_mut()
            .expect("checked")
            .set_name(id, text);
    }

    /// Writes the name `id` = `text` into the trace (its string table),
    /// in pieces of a hypertrace record's words.
    pub fn record_name(&mut self, id: u32, text: &[u8]) {
        if !self.trace.record_events {
            return;
        }
        let words = self.recorder().extra_args();
        if words == 0 {
            return;
        }
        let ts_ns = self.stamp();
        let cpu = self.thread_index;
        for (arg1, packed) in crate::trace::name_pieces(text, words) {
            let record = EventRecord {
                ts_ns,
                cpu,
                kind: EventKind::HypertraceName,
                aux: id,
                arg1,
            };
            self.recorder().push_record(record, &packed);
        }
    }

    /// Writes every name known so far into the trace: a forked child's
    /// trace starts with its parent's names.
    pub fn record_known_names(&mut self) {
        let names: Vec<(u32, Vec<u8>)> = match self.hypertrace.as_ref() {
            Some(c) => c.names(),
            None => return,
        };
        for (id, text) in names {
            self.record_name(id, &text);
        }
    }

    /// Writes a module event for each executable file mapping not
    /// reported yet (with `TraceState::report_modules`): its path (a name),
    /// start and end. Called at the start and after the calls that map or
    /// protect memory.
    pub fn report_new_modules(&mut self) {
        // The records are hypertrace events: none while those are off.
        let on = self.trace.enabled.contains(EventKind::Hypertrace) && self.trace.record_events;
        if !self.trace.report_modules || self.hypertrace.is_none() || !on {
            return;
        }
        let new: Vec<(u64, u64, String)> = self
            .lock_process()
            .mem
            .regions()
            .filter(|r| r.perms.contains(crate::mem::Perms::X))
            .filter_map(|r| match &r.kind {
                crate::mem::RegionKind::Memory { name } if name.starts_with('/') => {
                    Some((r.start, r.end, name.clone()))
                }
                _ => None,
            })
            .filter(|(start, _, name)| {
                !self
                    .trace
                    .modules_reported
                    .contains(&(*start, name.clone()))
            })
            .collect();
        let cpu = self.thread_index;
        for (start, end, name) in new {
            self.trace.modules_reported.insert((start, name.clone()));
            self.on_host_named_event(
                cpu,
                crate::hypertrace::op::MODULE,
                &name,
                [start, end],
                None,
            );
        }
    }

    /// A forked child's trace starts empty: the modules again.
    pub fn report_modules_again(&mut self) {
        self.trace.modules_reported.clear();
        self.report_new_modules();
    }
}
