// SPDX-License-Identifier: GPL-2.0-or-later
//! A compact file (format 2.0) opened: its chunks decoded into fixed-size
//! records in memory, each checked where it is in the file.

use std::path::Path;

use super::*;
use crate::trace::compact;

impl TraceFile {
    /// [`TraceFile::from_bytes`] for a compact file: decodes its chunks
    /// into fixed-size records in memory, checking each record (kind,
    /// timestamp) where it is in the file.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn from_compact(
        path: &Path,
        bytes: Vec<u8>,
        info: TraceInfo,
        version: (u16, u16),
        header_size: usize,
        record_size: usize,
        declared_count: Option<u64>,
        opts: ReadOptions,
    ) -> Result<TraceFile, TraceError> {
        let fail = |offset: usize, record: Option<u64>, message: String| TraceError {
            path: path.to_path_buf(),
            offset: Some(offset as u64),
            record,
            message,
        };
        let b: &[u8] = &bytes;
        let extra_args = info.hypertrace_words();
        let mut fixed = b[..header_size].to_vec();
        let mut whole = 0u64;
        let mut last_ts = info.anchor.monotonic_ns;
        let mut words = Vec::new();
        // Where the records run out early: (record offset, message).
        let mut cut: Option<(usize, String)> = None;
        // Offset of record `declared_count`, if the file holds more.
        let mut past_declared = None;
        let mut at = header_size;
        while at < b.len() {
            let Some((payload, count)) = compact::chunk_header(b, at) else {
                let have = b.len() - at;
                cut = Some((
                    at,
                    format!("truncated: the file ends inside the chunk header at byte {at} ({have} of {} bytes)", compact::CHUNK_HEADER),
                ));
                break;
            };
            let start = at + compact::CHUNK_HEADER;
            let have = b.len() - start;
            if have < payload {
                // The writer counts a chunk written once it is whole: the
                // records of a torn one are not read.
                cut = Some((
                    at,
                    format!("truncated: the chunk at byte {at} is incomplete ({have} of {payload} payload bytes)"),
                ));
                break;
            }
            let p = &b[start..start + payload];
            let mut dec = compact::Decoder::default();
            let mut pos = 0;
            for _ in 0..count {
                let rec_at = start + pos;
                if Some(whole) == declared_count {
                    past_declared.get_or_insert(rec_at);
                }
                let d = match dec.decode(p, &mut pos, extra_args, &mut words) {
                    Ok(d) => d,
                    Err(e) if e.incomplete => {
                        return Err(fail(
                            start + e.at,
                            Some(whole),
                            format!("corrupt: the record runs past the end of its chunk (the chunk at byte {at} declares {count} records in {payload} bytes)"),
                        ));
                    }
                    Err(e) => {
                        return Err(fail(
                            start + e.at,
                            Some(whole),
                            format!("corrupt: {}", e.message),
                        ));
                    }
                };
                if RECORD_FIXED_SIZE + 8 * words.len() > record_size {
                    return Err(fail(
                        rec_at,
                        Some(whole),
                        format!(
                            "corrupt: record kind {} does not fit the header's record_size {record_size}",
                            d.kind as u32
                        ),
                    ));
                }
                if d.ts_ns < last_ts {
                    let what = if whole == 0 {
                        "the header's clock anchor".to_string()
                    } else {
                        format!("the previous record's {last_ts}")
                    };
                    return Err(fail(
                        rec_at,
                        Some(whole),
                        format!("corrupt: timestamp {} is earlier than {what}", d.ts_ns),
                    ));
                }
                last_ts = d.ts_ns;
                encode_any(
                    &mut fixed,
                    record_size,
                    d.ts_ns,
                    info.pid,
                    d.thread,
                    d.kind,
                    d.aux,
                    d.arg1,
                    &words,
                );
                whole += 1;
            }
            if pos != payload {
                return Err(fail(
                    start + pos,
                    Some(whole),
                    format!("corrupt: the chunk at byte {at} declares {payload} payload bytes, its {count} records end after {pos}"),
                ));
            }
            at = start + payload;
        }
        let mut truncation = None;
        let mut records = whole;
        if let Some((offset, msg)) = &cut {
            if !opts.allow_truncated {
                return Err(fail(
                    *offset,
                    Some(whole),
                    format!("{msg}; --allow-truncated reads the {whole} whole records before it"),
                ));
            }
            truncation = Some(format!("record {whole} at byte {offset}: {msg}"));
        }
        if let Some(declared) = declared_count {
            let end = cut.as_ref().map_or(b.len(), |c| c.0);
            if declared > whole && truncation.is_none() {
                let msg = format!(
                    "truncated: the header announces {declared} records, the file ends before this one"
                );
                if !opts.allow_truncated {
                    return Err(fail(
                        end,
                        Some(whole),
                        format!("{msg}; --allow-truncated reads the {whole} before it"),
                    ));
                }
                truncation = Some(format!("record {whole} at byte {end}: {msg}"));
            } else if declared < whole {
                let offset = past_declared.unwrap_or(end);
                if !opts.allow_truncated {
                    return Err(fail(
                        offset,
                        Some(declared),
                        format!(
                            "corrupt: the header announces {declared} records but {} more follow them",
                            whole - declared
                        ),
                    ));
                }
                records = declared;
            }
        }
        Ok(TraceFile {
            path: path.to_path_buf(),
            bytes: fixed,
            info,
            version,
            header_size,
            record_size,
            declared_count,
            records,
            truncation,
            body_bytes: (b.len() - header_size) as u64,
        })
    }
}
