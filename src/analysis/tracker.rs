// SPDX-License-Identifier: GPL-2.0-or-later
//! Pairing opens and closes into regions as the events go by
//! ([`Tracker`]).

use std::collections::HashMap;

use super::RegionSpec;
use crate::hypertrace::op;
use crate::trace::file::{Event, EventKind, InsnCounts};
use crate::trace::NameAssembler;

/// A region whose close was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionSpan {
    /// Index into [`Tracker::labels`].
    pub label: usize,
    pub client: u32,
    pub thread: u32,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Record index of the opening event.
    pub open_index: u64,
    /// Nesting depth on its client when it opened (0: outermost).
    pub depth: usize,
    /// Progress points emitted while it was the innermost open region.
    pub progress: u64,
    /// Guest instructions retired and blocks executed between its open
    /// and close stores, when the trace counts them and one thread
    /// emitted both.
    pub counts: Option<InsnCounts>,
}

impl RegionSpan {
    pub fn duration_ns(&self) -> u64 {
        self.end_ns - self.start_ns
    }
}

/// What one event is, once regions are accounted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Opened a region (label index).
    Open(usize),
    /// Closed a region.
    Close(RegionSpan),
    /// Closed one region and opened another (`a=1:2,b=2:3`).
    CloseOpen(RegionSpan, usize),
    /// A close value with no region of that kind open on its client.
    UnmatchedClose,
    /// A progress point; the innermost region open on its client, if any.
    Progress(Option<usize>),
}

struct OpenRegion {
    /// None: a named region (the library's BEGIN), `key` its name id.
    spec: Option<usize>,
    key: Option<u64>,
    label: usize,
    start_ns: u64,
    thread: u32,
    open_index: u64,
    progress: u64,
    counts: Option<InsnCounts>,
}

/// What a region label stands for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LabelKey {
    /// A `--region` spec and the value of its key argument.
    Spec(usize, Option<u64>),
    /// A region the guest named: its name, so that the same name under
    /// two ids (after an execve) is one label.
    Named(String),
}

/// Pairs opens and closes, one event at a time, per client.
pub struct Tracker {
    specs: Vec<RegionSpec>,
    /// Region names in order of first appearance.
    pub labels: Vec<String>,
    label_ids: HashMap<LabelKey, usize>,
    open: HashMap<u32, Vec<OpenRegion>>,
    /// The guest's names so far (the trace's name records), by id.
    names: HashMap<u32, String>,
    pieces: NameAssembler,
}

impl Tracker {
    pub fn new(specs: Vec<RegionSpec>) -> Self {
        Tracker {
            specs,
            labels: Vec::new(),
            label_ids: HashMap::new(),
            open: HashMap::new(),
            names: HashMap::new(),
            pieces: NameAssembler::default(),
        }
    }

    /// Takes any record: a name record updates the names, a
    /// guest_hypertrace event is classified ([`Tracker::classify`]),
    /// other kinds are ignored (None).
    pub fn feed(&mut self, ev: &Event<'_>) -> Option<Kind> {
        match ev.kind {
            // ht-user's module records are for the profile alone.
            EventKind::Hypertrace if ev.arg1 == op::MODULE => None,
            EventKind::Hypertrace => Some(self.classify(ev)),
            EventKind::HypertraceName => {
                let words: Vec<u64> = ev.args().collect();
                if let Some((id, text)) = self.pieces.piece(ev.client, ev.arg1, &words) {
                    self.names
                        .insert(id, String::from_utf8_lossy(&text).into_owned());
                }
                None
            }
            _ => None,
        }
    }

    /// The name of guest name id `id` (`name #ID` if the trace lacks it).
    pub fn name(&self, id: u64) -> String {
        u32::try_from(id)
            .ok()
            .and_then(|id| self.names.get(&id))
            .cloned()
            .unwrap_or_else(|| format!("name #{id}"))
    }

    /// The name of a named progress point (the library's POINT), else None.
    pub fn point_name(&self, ev: &Event<'_>) -> Option<String> {
        (ev.arg1 == op::POINT).then(|| self.name(ev.arg(2).unwrap_or(0)))
    }

    fn named_label(&mut self, id: u64) -> usize {
        let key = LabelKey::Named(self.name(id));
        if let Some(&label) = self.label_ids.get(&key) {
            return label;
        }
        let LabelKey::Named(name) = &key else {
            unreachable!()
        };
        let label = self.labels.len();
        self.labels.push(name.clone());
        self.label_ids.insert(key, label);
        label
    }

    pub fn specs(&self) -> &[RegionSpec] {
        &self.specs
    }

    fn label(&mut self, spec: usize, key: Option<u64>) -> usize {
        if let Some(&id) = self.label_ids.get(&LabelKey::Spec(spec, key)) {
            return id;
        }
        let s = &self.specs[spec];
        let name = match (key, s.key_arg) {
            (Some(v), Some(k)) if s.key_value.is_none() => format!("{} arg{k}={v}", s.name),
            _ => s.name.clone(),
        };
        let id = self.labels.len();
        self.labels.push(name);
        self.label_ids.insert(LabelKey::Spec(spec, key), id);
        id
    }

    pub fn classify(&mut self, ev: &Event<'_>) -> Kind {
        match ev.arg1 {
            op::BEGIN => {
                let id = ev.arg(2).unwrap_or(0);
                let label = self.named_label(id);
                self.open.entry(ev.client).or_default().push(OpenRegion {
                    spec: None,
                    key: Some(id),
                    label,
                    start_ns: ev.ts_ns,
                    thread: ev.thread,
                    open_index: ev.index,
                    progress: 0,
                    counts: ev.counts,
                });
                return Kind::Open(label);
            }
            op::END => {
                return match self.close(ev) {
                    Some(span) => Kind::Close(span),
                    None => Kind::UnmatchedClose,
                };
            }
            _ => {}
        }
        let closes = self.specs.iter().any(|s| s.close == ev.arg1);
        let opens = self.specs.iter().position(|s| s.opened_by(ev));
        if !closes && opens.is_none() {
            let inside = self
                .open
                .get_mut(&ev.client)
                .and_then(|stack| stack.last_mut())
                .map(|o| {
                    o.progress += 1;
                    o.label
                });
            return Kind::Progress(inside);
        }
        let mut closed = None;
        let mut unmatched = false;
        if closes {
            closed = self.close(ev);
            unmatched = closed.is_none();
        }
        let opened = opens.map(|spec| {
            let key = self.specs[spec].key_arg.and_then(|k| ev.arg(k));
            let label = self.label(spec, key);
            self.open.entry(ev.client).or_default().push(OpenRegion {
                spec: Some(spec),
                key,
                label,
                start_ns: ev.ts_ns,
                thread: ev.thread,
                open_index: ev.index,
                progress: 0,
                counts: ev.counts,
            });
            label
        });
        match (closed, opened) {
            (Some(c), Some(o)) => Kind::CloseOpen(c, o),
            (Some(c), None) => Kind::Close(c),
            (None, Some(o)) => Kind::Open(o),
            (None, None) => {
                debug_assert!(unmatched);
                Kind::UnmatchedClose
            }
        }
    }

    fn close(&mut self, ev: &Event<'_>) -> Option<RegionSpan> {
        let stack = self.open.get_mut(&ev.client)?;
        let specs = &self.specs;
        let pos = if ev.arg1 == op::END {
            // The innermost open region of that name id.
            let id = ev.arg(2).unwrap_or(0);
            stack
                .iter()
                .rposition(|o| o.spec.is_none() && o.key == Some(id))?
        } else {
            let closes = |o: &OpenRegion| o.spec.is_some_and(|s| specs[s].close == ev.arg1);
            // Same key first (regions told apart by an argument), then the
            // innermost region this value closes.
            let by_key = stack.iter().rposition(|o| {
                closes(o)
                    && o.key.is_some()
                    && o.spec
                        .and_then(|s| specs[s].key_arg)
                        .and_then(|k| ev.arg(k))
                        == o.key
            });
            by_key.or_else(|| stack.iter().rposition(closes))?
        };
        let o = stack.remove(pos);
        // Counters are per thread: a region closed by another thread has
        // no instruction count.
        let counts = match (o.counts, ev.counts) {
            (Some(open), Some(close)) if o.thread == ev.thread => Some(InsnCounts {
                insns: close.insns.wrapping_sub(open.insns),
                blocks: close.blocks.wrapping_sub(open.blocks),
            }),
            _ => None,
        };
        Some(RegionSpan {
            label: o.label,
            client: ev.client,
            thread: o.thread,
            start_ns: o.start_ns,
            end_ns: ev.ts_ns,
            open_index: o.open_index,
            depth: pos,
            progress: o.progress,
            counts,
        })
    }

    /// Regions still open, oldest first, as spans ending where they start.
    pub fn unclosed(&self) -> Vec<RegionSpan> {
        let mut v: Vec<RegionSpan> = self
            .open
            .iter()
            .flat_map(|(&client, stack)| {
                stack.iter().enumerate().map(move |(depth, o)| RegionSpan {
                    label: o.label,
                    client,
                    thread: o.thread,
                    start_ns: o.start_ns,
                    end_ns: o.start_ns,
                    open_index: o.open_index,
                    depth,
                    progress: o.progress,
                    counts: None,
                })
            })
            .collect();
        v.sort_by_key(|s| s.open_index);
        v
    }
}
