// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace`: read binary traces written by `ht-user -trace-file`.
//!
//! ```text
//! (FILE `-`: standard input; `-o -` or no -o: standard output)
//! ht-trace report FILE              regions and progress points
//! ht-trace compare A B              two runs side by side
//! ht-trace compare -a A... -b B...  the same, a run of several files a side
//! ht-trace convert --to FMT FILE    chrome JSON, perfetto protobuf, CSV or QEMU log text
//! ht-trace convert --to parquet FILE -o DIR   Parquet tables for SQL and data frames
//! ht-trace plot FILE [B] [-o OUT]   region duration histograms (SVG or PNG)
//! ht-trace plot -a FILE... [-b FILE...] [-o OUT]
//! ht-trace profile FILE             per region: functions, call stacks, system calls
//! ht-trace info FILE...             the header of each file
//! ht-trace completions SHELL        a shell completion script
//! ht-trace manpage [SUBCOMMAND]     a manual page (roff); --dir DIR: all of them
//! ```

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Args, Parser, Subcommand};

use ht_user::analysis::convert::{self, ConvertError, Format};
use ht_user::analysis::plot::PlotError;
use ht_user::analysis::profile::ProfileError;
use ht_user::analysis::{compare, plot, profile, report, Analysis, RegionError, RegionSpec};
use ht_user::cli::DocError;
use ht_user::trace::file::{ReadOptions, TraceError, TraceFile};

/// Why a command failed; `main` prints it after `ht-trace: `.
#[derive(Debug, thiserror::Error)]
enum Error {
    /// `compare` or `plot` (`command`) not given its runs in one of its
    /// `forms`.
    #[error("{command} takes {forms}")]
    Sides {
        command: &'static str,
        forms: &'static str,
    },
    /// `compare` or `plot` given more than its A and B as positional
    /// files.
    #[error(
        "{command}: A and B are one file each ({given} files given); a run of several files \
         (a forked run's FILE and FILE.PID) goes after -a or -b: ht-trace {command} {example}"
    )]
    MoreFiles {
        command: &'static str,
        given: usize,
        example: &'static str,
    },
    #[error("only one input can be standard input ('-')")]
    StdinTwice,
    #[error("cannot read standard input: {0}")]
    Stdin(#[source] io::Error),
    #[error("--to perfetto writes binary data: give -o FILE or redirect standard output")]
    PerfettoToTerminal,
    #[error("PNG is binary data: give -o FILE.png or redirect standard output")]
    PngToTerminal,
    #[error("cannot create {}: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("writing the output failed: {0}")]
    Stdout(#[source] io::Error),
    #[error(transparent)]
    Region(#[from] RegionError),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Doc(#[from] DocError),
}

/// A value out of a fixed set, parsed by `T`'s `FromStr` (its own error
/// message and aliases), with the set given to clap so that shell
/// completions offer it.
#[derive(Clone)]
struct Listed<T> {
    /// The values offered, then the aliases (accepted, not offered).
    values: Vec<PossibleValue>,
    parse: fn(&str) -> Result<T, String>,
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Listed<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        // The same error clap gives a `FromStr` value.
        self.parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.values.iter().cloned()))
    }
}

fn listed<T: std::str::FromStr>(names: &[&'static str], aliases: &[&'static str]) -> Listed<T>
where
    T::Err: std::fmt::Display,
{
    let names = names.iter().map(|n| PossibleValue::new(*n));
    let aliases = aliases.iter().map(|n| PossibleValue::new(*n).hide(true));
    Listed {
        values: names.chain(aliases).collect(),
        parse: |s| s.parse().map_err(|e: T::Err| e.to_string()),
    }
}

/// The subcommands (each with a manual page of its own).
const SUBCOMMANDS: [&str; 8] = [
    "report",
    "compare",
    "convert",
    "plot",
    "profile",
    "info",
    "completions",
    "manpage",
];

/// The shells `completions` writes for: clap_complete's.
fn shells() -> Listed<String> {
    use clap::ValueEnum;
    let shells = clap_complete::Shell::value_variants().iter();
    Listed {
        values: shells.filter_map(ValueEnum::to_possible_value).collect(),
        parse: |s| Ok(s.to_string()),
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "ht-trace",
    version,
    about = "Analyse binary hypertrace traces written by ht-user -trace-file",
    after_help = "Regions: by default a region runs from an event with arg1=1 to the next event \
                  with arg1=0 on the same client; every other event is a progress point. \
                  --region [NAME=]OPEN:CLOSE[/argK] (repeatable) says which arg1 values open and \
                  close which region; /argK tells regions apart (and names them) by the opening \
                  event's argument K.\nExample: ht-trace report --region work=1:0/arg2 run.bin"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Region definition [NAME=]OPEN:CLOSE[/argK] (repeatable; default 1:0).
    #[arg(long = "region", value_name = "SPEC")]
    regions: Vec<String>,

    /// Read the whole records of a truncated trace instead of refusing it.
    #[arg(long)]
    allow_truncated: bool,
}

/// The two runs of `compare` (and `plot`'s one or two): one file each as
/// positional arguments, or any number each after -a and -b.
#[derive(Args, Debug, Clone)]
struct Sides {
    /// A's trace (`-`: standard input), one file; a run of several goes
    /// after -a.
    #[arg(value_name = "A")]
    first: Option<PathBuf>,
    /// B's trace, one file; a run of several goes after -b.
    #[arg(value_name = "B")]
    second: Option<PathBuf>,
    /// Files past A and B: refused with a word on -a and -b.
    #[arg(hide = true)]
    more: Vec<PathBuf>,
    /// Run A's trace files, pooled as one run (every argument up to the
    /// next option).
    #[arg(short = 'a', value_name = "FILE", num_args = 1.., conflicts_with_all = ["first", "second", "more"])]
    a: Vec<PathBuf>,
    /// Run B's trace files, pooled as one run.
    #[arg(short = 'b', value_name = "FILE", num_args = 1.., conflicts_with_all = ["first", "second", "more"])]
    b: Vec<PathBuf>,
}

impl Sides {
    /// A's files and B's (empty when `b_optional` and none is given).
    fn split(
        self,
        command: &'static str,
        b_optional: bool,
    ) -> Result<(Vec<PathBuf>, Vec<PathBuf>), Error> {
        let (forms, example) = if b_optional {
            (
                "FILE [B], or -a FILE... [-b FILE...]",
                "-a run.bin run.bin.*",
            )
        } else {
            (
                "A B, or -a FILE... -b FILE...",
                "-a old.bin old.bin.* -b new.bin new.bin.*",
            )
        };
        if !self.more.is_empty() {
            let given = 2 + self.more.len();
            return Err(Error::MoreFiles {
                command,
                given,
                example,
            });
        }
        let (a, b) = if self.a.is_empty() && self.b.is_empty() {
            (
                self.first.into_iter().collect(),
                self.second.into_iter().collect(),
            )
        } else {
            (self.a, self.b)
        };
        if a.is_empty() || (b.is_empty() && !b_optional) {
            return Err(Error::Sides { command, forms });
        }
        Ok((a, b))
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Per region: count, total, min, median, p90, p99, max (ns) and
    /// progress-point rates; progress points by arg1.
    Report {
        #[command(flatten)]
        common: Common,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
        /// The trace (`-`: standard input); several (a forked run's
        /// FILE and FILE.PID) are pooled as one run.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// The report's region table for two runs side by side, with B/A ratios
    /// and a note where the spreads overlap.
    #[command(
        after_help = "A run of several files (a forked run's FILE and FILE.PID) goes \
                            after -a or -b: ht-trace compare -a old.bin old.bin.* -b new.bin new.bin.*"
    )]
    Compare {
        #[command(flatten)]
        common: Common,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sides: Sides,
    },
    /// Convert to Chrome trace JSON (Perfetto UI, chrome://tracing),
    /// Perfetto's protobuf trace (ui.perfetto.dev, trace_processor), CSV
    /// of the records or of the regions, Parquet tables (DuckDB, polars,
    /// pandas), QEMU log text, or a binary trace in the fixed or compact
    /// layout.
    Convert {
        #[command(flatten)]
        common: Common,
        /// chrome (also json: Chrome trace JSON), perfetto (Perfetto's
        /// protobuf trace: regions, progress points, system calls, blocks),
        /// csv (every record), regions (CSV, one row per region), parquet
        /// (a directory of tables: events, regions, memory, blocks,
        /// syscalls), log (also qemu: QEMU's trace log text), fixed or
        /// compact.
        #[arg(long = "to", value_name = "FORMAT", value_parser = listed::<Format>(&Format::NAMES, &Format::ALIASES), hide_possible_values = true)]
        to: Format,
        /// Output file (default or `-`: standard output); for parquet, the
        /// directory (required; created if missing).
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: Option<PathBuf>,
        /// The trace (`-`: standard input); several (a forked run's FILE
        /// and FILE.PID) go into one output (not for fixed or compact).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Region duration histograms as SVG or PNG, one panel per region
    /// name; with two traces, an A/B overlay.
    #[command(
        after_help = "A run of several files (a forked run's FILE and FILE.PID) goes \
                            after -a, the run to overlay after -b: ht-trace plot -a run.bin \
                            run.bin.* -o run.svg"
    )]
    Plot {
        #[command(flatten)]
        common: Common,
        /// The image to write, SVG or PNG by its extension (default or `-`:
        /// SVG on standard output).
        #[arg(short = 'o', long = "output", value_name = "OUT.svg|OUT.png")]
        output: Option<PathBuf>,
        /// svg or png, whatever the output's name. PNG text needs a
        /// TrueType font: $HT_TRACE_FONT, else the usual places
        /// (Debian: fonts-dejavu-core).
        #[arg(long, value_name = "FORMAT", value_parser = listed::<plot::ImageFormat>(&plot::ImageFormat::NAMES, &[]), hide_possible_values = true)]
        format: Option<plot::ImageFormat>,
        #[command(flatten)]
        sides: Sides,
    },
    /// Where each region's instructions go: per guest function (from the
    /// ELF symbols of the program and the libraries it mapped), call
    /// stacks and system calls. Needs blocks traced inside the regions
    /// (ht-user -hypertrace-profile).
    Profile {
        #[command(flatten)]
        common: Common,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
        /// Functions listed per region.
        #[arg(long, default_value_t = 20, value_name = "N")]
        top: usize,
        /// Write the call stacks as folded stacks (flamegraph.pl,
        /// speedscope) to FILE.
        #[arg(long, value_name = "FILE")]
        folded: Option<PathBuf>,
        /// Write a flame graph (SVG) of the call stacks to FILE.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// Write callgrind's format (KCachegrind, QCachegrind) to FILE.
        #[arg(long, value_name = "FILE")]
        callgrind: Option<PathBuf>,
        /// The sysroot the run used (ht-user -L), where the guest's
        /// libraries are read from.
        #[arg(short = 'L', long = "sysroot", value_name = "DIR")]
        sysroot: Option<PathBuf>,
        /// The trace (`-`: standard input); several (a forked run's FILE
        /// and FILE.PID) are pooled.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a shell completion script for ht-trace.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_parser = shells(), hide_possible_values = true)]
        shell: String,
    },
    /// Print ht-trace's manual page (roff: `ht-trace manpage | man -l -`),
    /// or a subcommand's (`ht-trace manpage report`: ht-trace-report(1)).
    Manpage {
        /// The subcommand whose page to print: report, compare, convert,
        /// plot, profile, info, completions or manpage.
        #[arg(value_name = "SUBCOMMAND", value_parser = SUBCOMMANDS, hide_possible_values = true)]
        subcommand: Option<String>,
        /// Write every page (ht-trace.1 and ht-trace-SUBCOMMAND.1) into
        /// DIR instead (created if missing).
        #[arg(long, value_name = "DIR", conflicts_with = "subcommand")]
        dir: Option<PathBuf>,
    },
    /// Print each trace's header: format version, tool, program, clock
    /// anchor, counts.
    Info {
        /// Read the header of a truncated trace instead of refusing it.
        #[arg(long)]
        allow_truncated: bool,
        /// The trace (`-`: standard input); several (a forked run's FILE
        /// and FILE.PID) each get their header, under a line naming the
        /// file.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn specs(common: &Common) -> Result<Vec<RegionSpec>, Error> {
    Ok(RegionSpec::parse_set(&common.regions)?)
}

/// System call names of the trace's guest architecture.
fn syscall_names(f: &TraceFile) -> impl Fn(u64) -> Option<String> {
    let arch = f.info.get("arch").unwrap_or_default();
    let abi = ht_user::arch::all().into_iter().find(|a| a.name() == arch);
    move |nr| Some(abi?.syscall_table().name(nr)?.to_string())
}

/// `-` as a file: standard input, as in most Unix tools.
fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn open(path: &Path, allow_truncated: bool) -> Result<TraceFile, Error> {
    let opts = ReadOptions { allow_truncated };
    let f = if is_stdio(path) {
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut io::stdin().lock(), &mut bytes).map_err(Error::Stdin)?;
        TraceFile::from_bytes(Path::new("(standard input)"), bytes, opts)
    } else {
        TraceFile::open_with(path, opts)
    }?;
    if let Some(t) = &f.truncation {
        eprintln!("ht-trace: warning: {}: {t}", path.display());
    }
    Ok(f)
}

/// Reads `paths` and pools them as one run ([`Analysis::run_files`]).
fn analyse(
    paths: &[PathBuf],
    specs: &[RegionSpec],
    common: &Common,
) -> Result<(Vec<TraceFile>, Analysis), Error> {
    let traces = paths
        .iter()
        .map(|p| open(p, common.allow_truncated))
        .collect::<Result<Vec<_>, _>>()?;
    let a = Analysis::run_files(&traces, specs)?;
    Ok((traces, a))
}

/// A run's name: its files' paths.
fn run_name(files: &[TraceFile]) -> String {
    let paths: Vec<String> = files
        .iter()
        .map(|f| f.path().display().to_string())
        .collect();
    paths.join(", ")
}

fn write_stdout(text: &str) -> Result<(), Error> {
    write_output(None, text.as_bytes())
}

/// Standard input can be read once: at most one `-` among the inputs.
fn one_stdin<'p>(inputs: impl IntoIterator<Item = &'p PathBuf>) -> Result<(), Error> {
    if inputs.into_iter().filter(|p| is_stdio(p)).count() > 1 {
        return Err(Error::StdinTwice);
    }
    Ok(())
}

/// Writes `bytes` to OUT, or to standard output when OUT is absent or `-`.
fn write_output(output: Option<&Path>, bytes: &[u8]) -> Result<(), Error> {
    match output.filter(|p| !is_stdio(p)) {
        Some(path) => std::fs::write(path, bytes).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        }),
        None => {
            let mut out = io::stdout().lock();
            match out.write_all(bytes).and_then(|()| out.flush()) {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Error::Stdout(e)),
                _ => Ok(()),
            }
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Report {
            common,
            json,
            files,
        } => {
            let specs = specs(&common)?;
            one_stdin(&files)?;
            let (traces, a) = analyse(&files, &specs, &common)?;
            let text = if json {
                report::json(&traces, &specs, &a)
            } else {
                report::text(&traces, &specs, &a)
            };
            write_stdout(&text)
        }
        Command::Compare {
            common,
            json,
            sides,
        } => {
            let (a, b) = sides.split("compare", false)?;
            one_stdin(a.iter().chain(&b))?;
            let specs = specs(&common)?;
            let (fa, aa) = analyse(&a, &specs, &common)?;
            let (fb, ab) = analyse(&b, &specs, &common)?;
            let text = if json {
                compare::json_files(&fa, &aa, &fb, &ab)
            } else {
                compare::text_files(&fa, &aa, &fb, &ab)
            };
            write_stdout(&text)
        }
        Command::Convert {
            common,
            to,
            output,
            files,
        } => {
            let specs = specs(&common)?;
            one_stdin(&files)?;
            if files.len() > 1 && matches!(to, Format::Trace(_)) {
                return Err(ConvertError::SeveralFiles.into());
            }
            let dir = output.as_ref().filter(|p| !is_stdio(p));
            if to == Format::Parquet && dir.is_none() {
                return Err(ConvertError::NeedsDirectory.into());
            }
            let f = files
                .iter()
                .map(|p| open(p, common.allow_truncated))
                .collect::<Result<Vec<_>, _>>()?;
            if let (Format::Parquet, Some(dir)) = (to, dir) {
                let names = |t: &TraceFile, nr| syscall_names(t)(nr);
                ht_user::analysis::parquet::write_dir(&f, &specs, dir, &names)?;
                return Ok(());
            }
            let to_file = output.as_ref().filter(|p| !is_stdio(p));
            if to == Format::Perfetto && to_file.is_none() && io::stdout().is_terminal() {
                return Err(Error::PerfettoToTerminal);
            }
            let write = |out: &mut dyn Write| match to {
                Format::Perfetto => {
                    let names = |t: &TraceFile, nr| syscall_names(t)(nr);
                    ht_user::analysis::perfetto::write(&f, &specs, &names, out)
                }
                _ => convert::convert_files(&f, to, &specs, out),
            };
            let result = match to_file {
                Some(path) => {
                    let out = File::create(path).map_err(|source| Error::Create {
                        path: path.clone(),
                        source,
                    })?;
                    let mut out = BufWriter::with_capacity(1 << 20, out);
                    write(&mut out)
                }
                None => {
                    let mut out = io::stdout().lock();
                    write(&mut out)
                }
            };
            match result {
                Ok(_) => Ok(()),
                Err(ConvertError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        Command::Plot {
            common,
            output,
            format,
            sides,
        } => {
            let (a, b) = sides.split("plot", true)?;
            let to_file = output.as_deref().filter(|p| !is_stdio(p));
            let format = match (format, to_file) {
                (Some(f), _) => f,
                (None, Some(path)) => plot::ImageFormat::for_path(path)?,
                (None, None) => plot::ImageFormat::Svg,
            };
            if format == plot::ImageFormat::Png {
                if to_file.is_none() && io::stdout().is_terminal() {
                    return Err(Error::PngToTerminal);
                }
                let font = std::env::var_os(plot::FONT_ENV);
                plot::use_font(&plot::find_font(font.as_deref(), plot::FONT_PLACES)?)?;
            }
            one_stdin(a.iter().chain(&b))?;
            let specs = specs(&common)?;
            let (fa, aa) = analyse(&a, &specs, &common)?;
            let b = (!b.is_empty())
                .then(|| analyse(&b, &specs, &common))
                .transpose()?;
            let na = run_name(&fa);
            let mut series = vec![(na.as_str(), &aa)];
            let nb = b.as_ref().map(|(f, _)| run_name(f));
            if let (Some((_, ab)), Some(nb)) = (&b, &nb) {
                series.push((nb.as_str(), ab));
            }
            let image = match format {
                plot::ImageFormat::Svg => plot::svg(&series)?.into_bytes(),
                plot::ImageFormat::Png => plot::png(&series)?,
            };
            write_output(output.as_deref(), &image)
        }
        Command::Profile {
            common,
            json,
            top,
            folded,
            svg,
            callgrind,
            sysroot,
            files,
        } => {
            let specs = specs(&common)?;
            one_stdin(&files)?;
            let traces = files
                .iter()
                .map(|p| open(p, common.allow_truncated))
                .collect::<Result<Vec<_>, _>>()?;
            let f = &traces[0];
            let opts = profile::ProfileOptions { sysroot };
            let mut parts = Vec::with_capacity(traces.len());
            for t in &traces {
                parts.push(profile::profile(t, &specs, &opts)?);
            }
            let p = profile::Profile::merge(parts);
            if p.blocks_in_regions == 0 {
                eprintln!(
                    "ht-trace: warning: no block was traced inside a region (record with ht-user -hypertrace-profile)"
                );
            }
            let names = syscall_names(f);
            let folded_text = p.folded();
            if let Some(path) = &folded {
                write_output(Some(path), folded_text.as_bytes())?;
            }
            if let Some(path) = &svg {
                let title = format!(
                    "{}: guest instructions per call stack",
                    f.info.get("program").unwrap_or_default()
                );
                let graph = ht_user::analysis::flame::svg(&folded_text, &title, "instructions");
                write_output(Some(path), graph.as_bytes())?;
            }
            if let Some(path) = &callgrind {
                let cmd = f.info.get("argv").unwrap_or_default().replace('\0', " ");
                write_output(Some(path), p.callgrind(&cmd).as_bytes())?;
            }
            let text = if json {
                p.json(&names)
            } else {
                p.text(top, &names)
            };
            write_stdout(&text)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            ht_user::cli::completions(Cli::command(), "ht-trace", &shell, &mut out)?;
            write_output(None, &out)
        }
        Command::Manpage { subcommand, dir } => {
            use clap::CommandFactory;
            // No page for `help`, nor a reference to one.
            let mut cmd = Cli::command().disable_help_subcommand(true);
            if let Some(dir) = dir {
                std::fs::create_dir_all(&dir).map_err(|source| Error::Create {
                    path: dir.clone(),
                    source,
                })?;
                return clap_mangen::generate_to(cmd, &dir)
                    .map_err(|source| Error::Write { path: dir, source });
            }
            // Names the subcommands `ht-trace-report` etc., as their pages.
            cmd.build();
            let page = match subcommand.and_then(|name| cmd.find_subcommand(&name).cloned()) {
                Some(sub) => sub,
                None => cmd,
            };
            write_output(None, &ht_user::cli::manpage(page)?)
        }
        Command::Info {
            allow_truncated,
            files,
        } => {
            one_stdin(&files)?;
            let traces = files
                .iter()
                .map(|p| Ok((p.display().to_string(), open(p, allow_truncated)?)))
                .collect::<Result<Vec<_>, Error>>()?;
            write_stdout(&ht_user::analysis::info::text_files(&traces))
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ht-trace: {e}");
            ExitCode::FAILURE
        }
    }
}
