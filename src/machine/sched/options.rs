// SPDX-License-Identifier: GPL-2.0-or-later
//! `-sched`: which scheduler runs the guest's threads, and the serial
//! one's time slices.

use super::DEFAULT_SLICE_BLOCKS;

/// Scheduler options (`-sched`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedOptions {
    pub slice_blocks: u32,
    pub seed: Option<u64>,
    /// Every guest thread on an engine and a host thread of its own
    /// (`machine::parallel`) instead of this scheduler.
    pub parallel: bool,
    /// Whether `-sched` chose the scheduler. The default, parallel, gives
    /// way to this one where something serves one engine (`-g`,
    /// `-monitor`, an embedding program's event handler); a chosen
    /// parallel refuses them.
    pub chosen: bool,
}

impl Default for SchedOptions {
    /// What runs without `-sched`: parallel, as qemu-user.
    fn default() -> Self {
        SchedOptions {
            slice_blocks: DEFAULT_SLICE_BLOCKS,
            seed: None,
            parallel: true,
            chosen: false,
        }
    }
}

/// What is wrong with a `-sched` value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchedOptionError {
    #[error("-sched: {what} must be a number, not '{value}'")]
    NotANumber { what: &'static str, value: String },
    #[error("-sched: slice must be at least 2 blocks, not {0}")]
    BadSlice(u64),
    #[error("-sched: unknown option '{0}'")]
    Unknown(String),
    #[error("-sched: slice and seed are the serial scheduler's, not parallel's")]
    ParallelSlices,
}

impl SchedOptions {
    /// Parses `[serial,][slice=BLOCKS][,seed=N]` or `parallel`.
    pub fn parse(spec: &str) -> Result<Self, SchedOptionError> {
        let mut o = SchedOptions {
            parallel: false,
            chosen: true,
            ..SchedOptions::default()
        };
        let mut sliced = false;
        for part in spec.split(',') {
            match part {
                "serial" => continue,
                "parallel" => {
                    o.parallel = true;
                    continue;
                }
                _ => sliced = true,
            }
            let number = |v: &str, what: &'static str| {
                v.parse::<u64>().map_err(|_| SchedOptionError::NotANumber {
                    what,
                    value: v.to_string(),
                })
            };
            if let Some(v) = part.strip_prefix("slice=") {
                let n = number(v, "slice")?;
                if !(2..=u64::from(u32::MAX)).contains(&n) {
                    return Err(SchedOptionError::BadSlice(n));
                }
                o.slice_blocks = n as u32;
            } else if let Some(v) = part.strip_prefix("seed=") {
                o.seed = Some(number(v, "seed")?);
            } else {
                return Err(SchedOptionError::Unknown(part.to_string()));
            }
        }
        if o.parallel && sliced {
            return Err(SchedOptionError::ParallelSlices);
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        assert_eq!(SchedOptions::parse("slice=100").unwrap().slice_blocks, 100);
        let o = SchedOptions::parse("seed=5,slice=10").unwrap();
        assert_eq!((o.slice_blocks, o.seed), (10, Some(5)));
        assert_eq!(
            SchedOptions::parse("slice=1"),
            Err(SchedOptionError::BadSlice(1))
        );
        assert_eq!(
            SchedOptions::parse("slice=x").unwrap_err().to_string(),
            "-sched: slice must be a number, not 'x'"
        );
        assert_eq!(
            SchedOptions::parse("quantum=3"),
            Err(SchedOptionError::Unknown("quantum=3".into()))
        );
        assert!(SchedOptions::parse("parallel").unwrap().parallel);
        let serial = SchedOptions::parse("serial,slice=50").unwrap();
        assert_eq!((serial.parallel, serial.slice_blocks), (false, 50));
        assert!(
            !SchedOptions::parse("seed=3").unwrap().parallel,
            "seeds are serial"
        );
        assert!(SchedOptions::parse("serial").unwrap().chosen);
        let default = SchedOptions::default();
        assert!(default.parallel && !default.chosen, "parallel unless told");
        assert_eq!(
            SchedOptions::parse("parallel,slice=50"),
            Err(SchedOptionError::ParallelSlices)
        );
    }
}
