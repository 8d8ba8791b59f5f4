// SPDX-License-Identifier: GPL-2.0-or-later
//! Region definitions: which arg1 values open and close a region
//! ([`RegionSpec`], `ht-trace --region`).

use crate::trace::file::Event;

/// A `--region` value that cannot be used, or a set of them that
/// conflict.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    /// A value not of the form `[NAME=]OPEN:CLOSE[/argK[=V]]`.
    #[error(
        "--region '{0}': expected [NAME=]OPEN:CLOSE[/argK[=V]], e.g. 1:0, io=2:3, \
         work=1:0/arg2 or compute=1:0/arg2=1"
    )]
    Syntax(String),
    /// The same value opens and closes the region.
    #[error("--region '{0}': the open and close values must differ")]
    SameOpenAndClose(String),
    /// A key other than arg2, arg3, ...
    #[error("--region '{spec}': the key must be arg2, arg3, ... not '{key}'")]
    BadKey { spec: String, key: String },
    /// One arg1 value opens two regions that no argument tells apart.
    #[error("--region: arg1={value} opens both '{first}' and '{second}'")]
    SharedOpen {
        value: u64,
        first: String,
        second: String,
    },
    /// Two regions of the same name.
    #[error("--region: two regions are named '{0}'")]
    SameName(String),
}

/// Which arg1 values open and close a region, and how it is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionSpec {
    pub name: String,
    pub open: u64,
    pub close: u64,
    /// `Some(k)`: the opening event's arg`k` tells regions apart (and
    /// names them `NAME argK=VALUE`); a close with the same value closes it.
    pub key_arg: Option<usize>,
    /// With `key_arg`: only opening events whose arg`k` is this value
    /// open the region (`NAME=1:0/arg2=5`), which then keeps its name.
    pub key_value: Option<u64>,
}

impl RegionSpec {
    /// The seed's convention: arg1=1 opens, arg1=0 closes.
    pub fn default_spec() -> Self {
        RegionSpec {
            name: "region".to_string(),
            open: 1,
            close: 0,
            key_arg: None,
            key_value: None,
        }
    }

    /// Parses `[NAME=]OPEN:CLOSE[/argK[=V]]`, e.g. `1:0`, `io=2:3`,
    /// `work=1:0/arg2`, `compute=1:0/arg2=1`. Numbers are decimal or 0x-hex.
    pub fn parse(text: &str) -> Result<Self, RegionError> {
        let usage = || RegionError::Syntax(text.to_string());
        let (name, rest) = match text.split_once('=') {
            Some((n, r)) if !n.is_empty() => (Some(n.to_string()), r),
            Some(_) => return Err(usage()),
            None => (None, text),
        };
        let (pair, key) = match rest.split_once('/') {
            Some((p, k)) => (p, Some(k)),
            None => (rest, None),
        };
        let (open, close) = pair.split_once(':').ok_or_else(usage)?;
        let open = parse_u64(open).ok_or_else(usage)?;
        let close = parse_u64(close).ok_or_else(usage)?;
        if open == close {
            return Err(RegionError::SameOpenAndClose(text.to_string()));
        }
        let (key, key_value) = match key.map(|k| k.split_once('=')) {
            Some(Some((k, v))) => (Some(k), Some(parse_u64(v).ok_or_else(usage)?)),
            _ => (key, None),
        };
        let key_arg = match key {
            None => None,
            Some(k) => {
                let n = k
                    .strip_prefix("arg")
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n >= 2)
                    .ok_or_else(|| RegionError::BadKey {
                        spec: text.to_string(),
                        key: k.to_string(),
                    })?;
                Some(n)
            }
        };
        let name = name.unwrap_or_else(|| {
            if (open, close) == (1, 0) {
                "region".to_string()
            } else {
                format!("region {open}:{close}")
            }
        });
        Ok(RegionSpec {
            name,
            open,
            close,
            key_arg,
            key_value,
        })
    }

    /// Whether `ev` opens a region of this spec.
    pub(super) fn opened_by(&self, ev: &Event<'_>) -> bool {
        self.open == ev.arg1
            && match (self.key_arg, self.key_value) {
                (Some(k), Some(v)) => ev.arg(k) == Some(v),
                _ => true,
            }
    }

    /// The specs of `--region` options `texts` (each as [`parse`] takes
    /// it), checked as a set; none: the [default](Self::default_spec).
    ///
    /// [`parse`]: Self::parse
    pub fn parse_set(texts: &[String]) -> Result<Vec<RegionSpec>, RegionError> {
        if texts.is_empty() {
            return Ok(vec![RegionSpec::default_spec()]);
        }
        let specs = texts
            .iter()
            .map(|s| RegionSpec::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        RegionSpec::check_set(&specs)?;
        Ok(specs)
    }

    /// Checks a set of specs: no arg1 value may open two regions (unless
    /// an argument's value tells them apart), and names must differ.
    pub fn check_set(specs: &[RegionSpec]) -> Result<(), RegionError> {
        for (i, a) in specs.iter().enumerate() {
            for b in &specs[i + 1..] {
                let told_apart = matches!(
                    (a.key_arg, a.key_value, b.key_arg, b.key_value),
                    (Some(ka), Some(va), Some(kb), Some(vb)) if ka == kb && va != vb
                );
                if a.open == b.open && !told_apart {
                    return Err(RegionError::SharedOpen {
                        value: a.open,
                        first: a.name.clone(),
                        second: b.name.clone(),
                    });
                }
                if a.name == b.name {
                    return Err(RegionError::SameName(a.name.clone()));
                }
            }
        }
        Ok(())
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_syntax() {
        assert_eq!(
            RegionSpec::parse("1:0").unwrap(),
            RegionSpec::default_spec()
        );
        let s = RegionSpec::parse("io=0x10:17/arg3").unwrap();
        assert_eq!(
            s,
            RegionSpec {
                name: "io".into(),
                open: 16,
                close: 17,
                key_arg: Some(3),
                key_value: None,
            }
        );
        let c = RegionSpec::parse("compute=1:0/arg2=0x1").unwrap();
        assert_eq!(
            (c.key_arg, c.key_value, c.name.as_str()),
            (Some(2), Some(1), "compute")
        );
        let io = RegionSpec::parse("io=1:0/arg2=2").unwrap();
        assert!(
            RegionSpec::check_set(&[c.clone(), io]).is_ok(),
            "told apart by arg2"
        );
        let other = RegionSpec::parse("x=1:0/arg3=2").unwrap();
        assert!(
            RegionSpec::check_set(&[c, other]).is_err(),
            "not told apart"
        );
        assert!(RegionSpec::parse("a=1:0/arg2=x").is_err());
        assert_eq!(RegionSpec::parse("2:3").unwrap().name, "region 2:3");
        for bad in ["", "1", "a:b", "=1:0", "1:1", "1:0/arg1", "1:0/x", "x=1-0"] {
            assert!(RegionSpec::parse(bad).is_err(), "{bad}");
        }
        let a = RegionSpec::parse("a=1:0").unwrap();
        let b = RegionSpec::parse("b=1:2").unwrap();
        assert_eq!(
            RegionSpec::check_set(&[a.clone(), b])
                .unwrap_err()
                .to_string(),
            "--region: arg1=1 opens both 'a' and 'b'"
        );
        assert_eq!(
            RegionSpec::check_set(&[a, RegionSpec::parse("a=2:3").unwrap()]),
            Err(RegionError::SameName("a".into()))
        );
        assert_eq!(
            RegionSpec::parse("1:1"),
            Err(RegionError::SameOpenAndClose("1:1".into()))
        );
        assert_eq!(
            RegionSpec::parse("1:0/x").unwrap_err().to_string(),
            "--region '1:0/x': the key must be arg2, arg3, ... not 'x'"
        );
    }
}
