#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Read an ht-user binary trace (docs/trace-format.md) with the standard
library only.

    python3 read_trace.py TRACE          header and the first 10 events
                                         (TRACE `-`: standard input)
    python3 read_trace.py --csv TRACE    every record as CSV, the same bytes
                                         as `ht-trace convert --to csv`
    python3 read_trace.py --records TRACE  every record of every kind:
                                         index,ts_ns,pid,thread,kind,aux,arg1,words...

Both layouts: fixed-size records (format 1.x) and compact chunks (2.x).
Where the header's metadata has `counters` (formats 1.2 and 2.1), a
guest_hypertrace record's words end with the emitting thread's guest
instructions retired and blocks executed (the CSV's insns,blocks columns).
"""

import signal
import struct
import sys

HEADER = struct.Struct("<8sHHIIIQQQII")  # the fixed header, up to metadata
RECORD = struct.Struct("<QIIIIQ")  # a record's fixed fields, before arg2
COUNT_UNKNOWN = 0xFFFFFFFFFFFFFFFF


class TraceError(Exception):
    pass


def read_header(data):
    if len(data) < 64 or data[:8] != b"HTTRACE\0":
        raise TraceError("not an ht-user trace (or shorter than its header)")
    (_, major, minor, header_size, record_size, event_args, count,
     anchor_mono, anchor_real, pid, nmeta) = HEADER.unpack_from(data, 0)
    if major not in (1, 2):  # 1: fixed-size records, 2: compact chunks
        raise TraceError("format version %d.%d is not supported" % (major, minor))
    if header_size > len(data) or record_size < 24 + 8 * event_args:
        raise TraceError("corrupt or truncated header")
    meta = {}
    off = 64
    for _ in range(nmeta):
        (klen,) = struct.unpack_from("<I", data, off)
        key = data[off + 4:off + 4 + klen].decode()
        off += 4 + klen
        (vlen,) = struct.unpack_from("<I", data, off)
        meta[key] = data[off + 4:off + 4 + vlen]
        off += 4 + vlen
        if off > header_size:
            raise TraceError("corrupt header: metadata past header_size")
    return {
        "version": (major, minor),
        "header_size": header_size,
        "record_size": record_size,
        "event_args": event_args,
        "record_count": None if count == COUNT_UNKNOWN else count,
        "anchor_monotonic_ns": anchor_mono,
        "anchor_realtime_ns": anchor_real,
        "pid": pid,
        "metadata": meta,
        "counters": "counters" in meta,
    }


# Words after arg1 per record kind (format 1.1); kinds 0 and 5 have
# event_args - 1 (plus the two counters when the trace has them).
KIND_WORDS = {1: 2, 2: 0, 3: 5, 4: 0}
KIND_NAMES = ["guest_hypertrace", "guest_mem_before_exec", "guest_exec_tb",
              "guest_user_syscall", "guest_user_syscall_ret",
              "guest_hypertrace_name"]
M64 = (1 << 64) - 1


def fixed_records(data, h, words):
    size = h["record_size"]
    body = len(data) - h["header_size"]
    if body % size:
        raise TraceError("truncated: record %d at byte %d is incomplete"
                         % (body // size, h["header_size"] + body // size * size))
    n = body // size
    if h["record_count"] is not None and h["record_count"] != n:
        raise TraceError("the header announces %d records, the file holds %d"
                         % (h["record_count"], n))
    for i in range(n):
        off = h["header_size"] + i * size
        ts, pid, thread, aux, kind, arg1 = RECORD.unpack_from(data, off)
        if kind not in words or 32 + 8 * words[kind] > size:
            raise TraceError("record %d at byte %d: unknown kind %d" % (i, off, kind))
        extra = struct.unpack_from("<%dQ" % words[kind], data, off + 32)
        yield i, ts, pid, thread, kind, aux, arg1, extra


def compact_records(data, h, words):
    """Format 2.0: chunks of tag + varint records (docs/trace-format.md)."""
    off, i = h["header_size"], 0
    while off < len(data):
        if off + 8 > len(data):
            raise TraceError("truncated: chunk header at byte %d" % off)
        size, count = struct.unpack_from("<II", data, off)
        pos, end = off + 8, off + 8 + size
        if end > len(data):
            raise TraceError("truncated: the chunk at byte %d is incomplete" % off)

        def varint():
            nonlocal pos
            v = shift = 0
            while True:
                if pos >= end or v > M64:
                    raise TraceError("record %d: corrupt varint at byte %d" % (i, pos))
                b = data[pos]
                pos += 1
                v |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80 and v <= M64:
                    return v

        def delta(prev):  # zigzag varint added to prev, modulo 2**64
            v = varint()
            return (prev + ((v >> 1) ^ -(v & 1))) & M64

        ts = thread = addr = pc = tb_pc = 0
        aux = [0] * 6
        for _ in range(count):
            at = pos
            tag = data[pos] if pos < end else 0xFF
            pos += 1
            kind = tag & 7
            if kind not in words or tag & 0x80 or (tag & 0x40 and kind != 1):
                raise TraceError("record %d at byte %d: corrupt tag %#x" % (i, at, tag))
            if tag & 0x08:
                thread = varint()
            if tag & 0x10:
                ts = delta(ts)
            if tag & 0x20:
                aux[kind] = varint()
            if kind == 1:  # guest_mem_before_exec: address, pc, value
                addr, pc = delta(addr), delta(pc)
                arg1, extra = addr, (pc, varint() if tag & 0x40 else 0)
            elif kind == 2:  # guest_exec_tb: pc
                tb_pc = arg1 = delta(tb_pc)
                extra = ()
            elif kind == 4:  # guest_user_syscall_ret: result
                arg1, extra = delta(0), ()
            else:
                arg1 = varint()
                extra = tuple(varint() for _ in range(words[kind]))
            yield i, ts, h["pid"], thread, kind, aux[kind], arg1, extra
            i += 1
        if pos != end:
            raise TraceError("chunk at byte %d: records end at byte %d, not %d"
                             % (off, pos, end))
        off = end
    if h["record_count"] is not None and h["record_count"] != i:
        raise TraceError("the header announces %d records, the file holds %d"
                         % (h["record_count"], i))


def records(data, h):
    """Yields (index, ts_ns, pid, thread, kind, aux, arg1, (words...)) for
    every record of either layout; for kind 0 (guest_hypertrace) aux is the
    client and the words are arg2..argN."""
    hypertrace_words = h["event_args"] - 1 + (2 if h["counters"] else 0)
    words = {**KIND_WORDS, 0: hypertrace_words, 5: hypertrace_words}
    if h["version"][0] == 2:
        return compact_records(data, h, words)
    return fixed_records(data, h, words)


def events(data, h, kinds=(0,)):
    """Yields (index, ts_ns, pid, thread, client, arg1, (arg2, ...)) for the
    records whose kind is in `kinds` (0: guest_hypertrace; for other kinds
    `client` is the record's aux field and the tuple holds its words)."""
    for i, ts, pid, thread, kind, aux, arg1, extra in records(data, h):
        if kind in kinds:
            yield i, ts, pid, thread, aux, arg1, extra


def guest_names(data, h):
    """The names the guest registered, {id: text}, assembled from the name
    records (kind 5: aux = id, arg1 = offset | length << 32, words = the
    piece's bytes). A later name for an id replaces the earlier one."""
    done, partial = {}, {}
    for _, _, _, _, kind, aux, arg1, extra in records(data, h):
        if kind != 5:
            continue
        offset, length = arg1 & 0xFFFFFFFF, min(arg1 >> 32, 255)
        buf = partial.setdefault(aux, bytearray())
        if offset == 0:
            buf.clear()
        if offset != len(buf) or offset > length:
            partial.pop(aux)
            continue
        buf += b"".join(struct.pack("<Q", w) for w in extra)[:length - offset]
        if len(buf) == length:
            done[aux] = partial.pop(aux).decode(errors="replace")
    return done


def wall_ns(h, ts):
    return ts - h["anchor_monotonic_ns"] + h["anchor_realtime_ns"]


def main(argv):
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(__doc__)
        return 0
    as_csv = "--csv" in argv
    all_records = "--records" in argv
    paths = [a for a in argv if a not in ("--csv", "--records")]
    unknown = [a for a in paths if a.startswith("-") and a != "-"]
    if unknown or len(paths) != 1:
        if unknown:
            sys.stderr.write("read_trace.py: unknown option %s\n" % unknown[0])
        sys.stderr.write(__doc__)
        return 2
    try:
        if paths[0] == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(paths[0], "rb") as f:
                data = f.read()
    except OSError as e:
        sys.stderr.write("read_trace.py: %s: %s\n" % (paths[0], e.strerror))
        return 1
    try:
        h = read_header(data)
        out = sys.stdout
        if all_records:
            for rec in records(data, h):
                out.write(",".join(str(v) for v in rec[:7] + rec[7]) + "\n")
            return 0
        if as_csv:
            # Every record of every kind, the columns of `ht-trace convert
            # --to csv`: enough args for the widest kind the trace may hold.
            event_names = h["metadata"].get("events", b"guest_hypertrace").decode().split(",")
            kinds = [KIND_NAMES.index(n) for n in event_names if n in KIND_NAMES]
            # A name record's words are all the name's bytes (the counters'
            # two too); a guest_hypertrace record's counters have their own
            # columns.
            name_words = h["event_args"] - 1 + (2 if h["counters"] else 0)
            words_of = {**KIND_WORDS, 0: h["event_args"] - 1, 5: name_words}
            columns = max([h["event_args"]] + [1 + words_of[k] for k in kinds])
            cols = ["ts_ns", "wall_ns", "event", "pid", "thread", "client"]
            cols += ["arg%d" % k for k in range(1, columns + 1)]
            if h["counters"]:
                cols += ["insns", "blocks"]
            out.write(",".join(cols) + "\n")
            for _, ts, pid, thread, kind, aux, arg1, words in records(data, h):
                counts = None
                if kind == 0 and h["counters"]:
                    words, counts = words[:-2], words[-2:]
                args = [arg1] + list(words)[:columns - 1]
                row = [str(ts), str(wall_ns(h, ts)), KIND_NAMES[kind],
                       str(pid), str(thread), str(aux)]
                row += [str(a) for a in args] + [""] * (columns - len(args))
                if h["counters"]:
                    row += [str(c) for c in counts] if counts else ["", ""]
                out.write(",".join(row) + "\n")
            return 0
        meta = {k: v.decode(errors="replace").replace("\0", " ")
                for k, v in h["metadata"].items()}
        out.write("format %d.%d, %d arguments per event, pid %d\n"
                  % (h["version"] + (h["event_args"], h["pid"])))
        for k, v in meta.items():
            out.write("%s: %s\n" % (k, v))
        n = 0
        for i, ts, pid, thread, client, arg1, args in events(data, h):
            n += 1
            if i < 10:
                out.write("#%d t=%d thread=%d client=%d arg1=%d args=%s\n"
                          % (i, ts, thread, client, arg1, list(args)))
        out.write("%d events\n" % n)
        for ident, text in sorted(guest_names(data, h).items()):
            out.write("name %d: %s\n" % (ident, text))
        return 0
    except TraceError as e:
        sys.stderr.write("read_trace.py: %s: %s\n" % (paths[0], e))
        return 1


if __name__ == "__main__":
    # A closed pipe (`| head`) ends the script quietly, as it does cat.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main(sys.argv[1:]))
