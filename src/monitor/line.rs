// SPDX-License-Identifier: GPL-2.0-or-later
//! Splits a client's byte stream into command lines: `\n`, `\r\n`, `\r\0`
//! and a bare `\r` all end a line (telnet clients send any of them), telnet
//! negotiation is dropped, and an overlong line is reported once and
//! skipped so the connection stays usable.

/// The longest line accepted, in bytes.
pub const MAX_LINE: usize = 4096;

const IAC: u8 = 0xff;
const SB: u8 = 250;
const SE: u8 = 240;
const WILL: u8 = 251;
const DONT: u8 = 254;

#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    Line(String),
    TooLong,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Telnet {
    Data,
    Command,
    OptionByte,
    Subnegotiation,
    SubnegotiationCommand,
}

#[derive(Debug)]
pub struct LineReader {
    line: Vec<u8>,
    overlong: bool,
    after_cr: bool,
    telnet: Telnet,
}

impl Default for LineReader {
    fn default() -> Self {
        LineReader {
            line: Vec::new(),
            overlong: false,
            after_cr: false,
            telnet: Telnet::Data,
        }
    }
}

impl LineReader {
    /// Feeds received bytes; complete lines go to `out`. A partial line
    /// stays buffered until its end arrives (and is dropped with the
    /// reader if the connection ends first).
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Input>) {
        for &b in bytes {
            self.telnet = match self.telnet {
                Telnet::Data if b == IAC => Telnet::Command,
                Telnet::Data => {
                    self.data(b, out);
                    Telnet::Data
                }
                Telnet::Command => match b {
                    IAC => {
                        self.data(b, out);
                        Telnet::Data
                    }
                    SB => Telnet::Subnegotiation,
                    WILL..=DONT => Telnet::OptionByte,
                    _ => Telnet::Data,
                },
                Telnet::OptionByte => Telnet::Data,
                Telnet::Subnegotiation if b == IAC => Telnet::SubnegotiationCommand,
                Telnet::Subnegotiation => Telnet::Subnegotiation,
                Telnet::SubnegotiationCommand if b == SE => Telnet::Data,
                Telnet::SubnegotiationCommand => Telnet::Subnegotiation,
            };
        }
    }

    fn data(&mut self, b: u8, out: &mut Vec<Input>) {
        let after_cr = std::mem::replace(&mut self.after_cr, false);
        match b {
            b'\n' if after_cr => {}
            0 => {}
            b'\n' | b'\r' => {
                self.after_cr = b == b'\r';
                let line = std::mem::take(&mut self.line);
                if std::mem::replace(&mut self.overlong, false) {
                    out.push(Input::TooLong);
                } else {
                    out.push(Input::Line(String::from_utf8_lossy(&line).into_owned()));
                }
            }
            _ if self.overlong => {}
            _ if self.line.len() >= MAX_LINE => {
                self.overlong = true;
                self.line = Vec::new();
            }
            _ => self.line.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> Vec<Input> {
        let mut reader = LineReader::default();
        let mut out = Vec::new();
        for chunk in chunks {
            reader.feed(chunk, &mut out);
        }
        out
    }

    fn line(s: &str) -> Input {
        Input::Line(s.into())
    }

    #[test]
    fn line_endings() {
        assert_eq!(
            lines(&[b"a\nb\r\nc\r\0d\re\n"]),
            vec![line("a"), line("b"), line("c"), line("d"), line("e")]
        );
        assert_eq!(lines(&[b"\r\n\n"]), vec![line(""), line("")]);
    }

    #[test]
    fn split_across_reads() {
        assert_eq!(
            lines(&[b"tra", b"ce-event x on\r", b"\ninfo", b" registers\n"]),
            vec![line("trace-event x on"), line("info registers")]
        );
    }

    #[test]
    fn partial_line_is_not_a_command() {
        assert_eq!(lines(&[b"quit"]), vec![]);
    }

    #[test]
    fn telnet_negotiation_is_ignored() {
        // DO ECHO, WILL SUPPRESS-GO-AHEAD, a terminal-type subnegotiation,
        // NOP, interrupt-process, and an escaped 0xff data byte.
        let mut bytes = vec![IAC, 253, 1, b'q', IAC, 251, 3, b'u'];
        bytes.extend_from_slice(&[IAC, SB, 24, 0, b'x', b't', IAC, SE, b'i']);
        bytes.extend_from_slice(&[IAC, 241, IAC, 244, b't', b'\n']);
        assert_eq!(lines(&[&bytes]), vec![line("quit")]);
        assert_eq!(lines(&[&[b'a', IAC, IAC, b'\n']]), vec![line("a\u{fffd}")]);
        assert_eq!(
            lines(&[&[IAC], &[WILL], &[1, b'x', b'\n']]),
            vec![line("x")]
        );
    }

    #[test]
    fn overlong_lines_are_reported_once() {
        let long = vec![b'x'; MAX_LINE + 1];
        let exact = vec![b'y'; MAX_LINE];
        let mut input = long.clone();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\nok\n");
        input.extend_from_slice(&exact);
        input.push(b'\n');
        let got = lines(&[&input]);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], Input::TooLong);
        assert_eq!(got[1], line("ok"));
        assert_eq!(got[2], Input::Line("y".repeat(MAX_LINE)));
    }
}
