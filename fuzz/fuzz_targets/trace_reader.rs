// SPDX-License-Identifier: GPL-2.0-or-later
//! The binary trace reader and everything ht-trace does with a trace:
//! every record, `info`, `report` (text and JSON), `compare`, `plot` and
//! the three conversions. The first byte chooses `--allow-truncated`; the
//! rest is the file.
#![no_main]

use std::path::Path;

use ht_user::analysis::convert::{self, Format};
use ht_user::analysis::{compare, plot, profile, report, Analysis, RegionSpec};
use ht_user::trace::file::{ReadOptions, TraceFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let opts = ReadOptions {
        allow_truncated: flags & 1 != 0,
    };
    let Ok(file) = TraceFile::from_bytes(Path::new("fuzz.trace"), bytes.to_vec(), opts) else {
        return;
    };
    for record in file.records() {
        if record.is_err() {
            break;
        }
    }
    for event in file.events() {
        match event {
            Ok(e) => {
                let _ = e.args().count();
                let _ = e.arg(e.extra_len() + 1);
            }
            Err(_) => break,
        }
    }
    let _ = file.span();
    let _ = report::describe(&file);
    for (k, _) in &file.info.metadata {
        let _ = file.info.get(k);
    }
    // The default regions, and a keyed set as `--region` gives it.
    let keyed = RegionSpec::parse("phase=2:3/arg2").expect("a valid region spec");
    let spec_sets = [
        vec![RegionSpec::default_spec()],
        vec![RegionSpec::default_spec(), keyed],
    ];
    for specs in &spec_sets {
        for format in [
            Format::Csv,
            Format::Regions,
            Format::Log,
            Format::Chrome,
            Format::Perfetto,
        ] {
            let _ = convert::convert(&file, format, specs, &mut std::io::sink());
        }
        let Ok(a) = Analysis::run(&file, specs) else {
            continue;
        };
        let files = std::slice::from_ref(&file);
        let _ = report::text(files, specs, &a);
        let _ = report::json(files, specs, &a);
        // The profile reads the modules the trace names: only regular
        // files, so a fuzzed name such as /dev/zero cannot hang it.
        if let Ok(p) = profile::profile(&file, specs, &Default::default()) {
            let _ = p.folded();
            let _ = p.callgrind("fuzz");
            let _ = p.json(&|_| None);
            let _ = p.text(5, &|_| None);
        }
        let _ = compare::text(&file, &a, &file, &a);
        let _ = plot::svg(&[("fuzz", &a)]);
    }
});
