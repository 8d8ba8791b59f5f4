#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-or-later
//
// Loads a trace into Perfetto's trace processor, the WebAssembly build that
// Perfetto's UI runs (engine_bundle.js and trace_processor.wasm from a UI
// build), and runs SQL queries on it.
//
//   node perfetto-query.cjs ENGINE_DIR TRACE SQL...
//
// Prints one JSON line per query: {"columns": [...], "rows": [[...], ...]},
// or {"error": "..."}. Exits 1 if loading the trace fails.
//
// The engine bundle is built for browsers and web workers only, so it runs
// here in a vm context that looks like a worker: `self.onmessage` receives a
// MessagePort, over which the UI sends its RPC byte stream (a
// TraceProcessorRpcStream, protos/perfetto/trace_processor/trace_processor.proto)
// and receives the replies. That stream is encoded and decoded below.
'use strict';

const fs = require('fs');
const path = require('path');
const vm = require('vm');

const [engineDir, tracePath, ...queries] = process.argv.slice(2);
if (!engineDir || !tracePath) {
    console.error('usage: perfetto-query.cjs ENGINE_DIR TRACE SQL...');
    process.exit(2);
}

// --- protobuf wire format: just what the RPC needs ---

function varint(n) {
    let v = BigInt(n);
    if (v < 0n) v += 1n << 64n;
    const out = [];
    while (v >= 0x80n) {
        out.push(Number(v & 0x7fn) | 0x80);
        v >>= 7n;
    }
    out.push(Number(v));
    return Buffer.from(out);
}

const tag = (field, wire) => varint((field << 3) | wire);
const lenField = (field, bytes) =>
    Buffer.concat([tag(field, 2), varint(bytes.length), bytes]);
const intField = (field, n) => Buffer.concat([tag(field, 0), varint(n)]);

// Decodes a message into {field: [values]}: varints as BigInt, length-
// delimited fields as Buffers, fixed64 as Buffers of 8 bytes.
function decode(buf) {
    const fields = {};
    let i = 0;
    const readVarint = () => {
        let v = 0n;
        let shift = 0n;
        for (;;) {
            const b = buf[i++];
            if (b === undefined) throw new Error('truncated varint');
            v |= BigInt(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
            shift += 7n;
        }
    };
    while (i < buf.length) {
        const key = Number(readVarint());
        const field = key >> 3;
        let value;
        switch (key & 7) {
            case 0:
                value = readVarint();
                break;
            case 1:
                value = buf.subarray(i, i + 8);
                i += 8;
                break;
            case 2: {
                const len = Number(readVarint());
                value = buf.subarray(i, i + len);
                i += len;
                break;
            }
            case 5:
                value = buf.subarray(i, i + 4);
                i += 4;
                break;
            default:
                throw new Error(`unsupported wire type ${key & 7}`);
        }
        (fields[field] ||= []).push(value);
    }
    return fields;
}

function packedVarints(buf) {
    const out = [];
    let i = 0;
    while (i < buf.length) {
        let v = 0n;
        let shift = 0n;
        for (;;) {
            const b = buf[i++];
            v |= BigInt(b & 0x7f) << shift;
            if (!(b & 0x80)) break;
            shift += 7n;
        }
        out.push(BigInt.asIntN(64, v));
    }
    return out;
}

// TraceProcessorRpc fields and methods.
const RPC = { seq: 1, request: 2, response: 3, invalidRequest: 4, fatalError: 5 };
const TPM = { appendTraceData: 1, finalizeTraceData: 2, queryStreaming: 3 };
const ARG = { appendTraceData: 101, queryArgs: 103, appendResult: 201, queryResult: 203 };
const CELL = { null: 1, varint: 2, float64: 3, string: 4, blob: 5 };

// --- the engine, in a worker-like vm context ---

const engine = path.resolve(engineDir);
const files = {
    bundle: path.join(engine, 'engine_bundle.js'),
    wasm: path.join(engine, 'trace_processor.wasm'),
};
for (const f of Object.values(files)) {
    if (!fs.existsSync(f)) {
        console.error(`perfetto-query: ${f} is missing`);
        process.exit(2);
    }
}

const stderrLines = [];
const context = {
    console: {
        log: (...a) => console.error(...a),
        warn: (...a) => stderrLines.push(a.join(' ')),
        error: (...a) => stderrLines.push(a.join(' ')),
        info: () => {},
        debug: () => {},
    },
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    queueMicrotask,
    TextDecoder,
    TextEncoder,
    URL,
    performance,
    location: { href: 'file://' + files.bundle },
    WorkerGlobalScope: function WorkerGlobalScope() {},
    // A worker loads trace_processor.wasm by name with a synchronous
    // XMLHttpRequest: serve it from the engine's directory.
    XMLHttpRequest: class {
        open(method, url) {
            this.url = String(url);
        }
        send() {
            const data = fs.readFileSync(path.join(engine, path.basename(this.url)));
            this.status = 200;
            this.response = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
        }
    },
};
vm.createContext(context);
vm.runInContext(
    'globalThis.self = globalThis; delete WebAssembly.instantiateStreaming;' +
        // The 32-bit build: the memory64 one needs a newer engine than Node's.
        'const M = WebAssembly.Module; WebAssembly.Module = function (b) {' +
        '  if (b && b.length === 23) throw new Error("no memory64 here");' +
        '  return new M(b); };',
    context,
);
// The bridge takes requests once the module is up and its request buffer
// allocated, which it does in a `then` of the runtime's initialisation; the
// hook runs after that.
const ready = /onRuntimeInitialized:\(\)=>(\w+)\.resolve\(\)/;
const source = fs.readFileSync(files.bundle, 'utf8');
if (!ready.test(source)) {
    console.error('perfetto-query: engine_bundle.js: no onRuntimeInitialized hook (another UI version?)');
    process.exit(2);
}
const engineReady = new Promise((resolve) => {
    context.__engineReady = resolve;
});
try {
    vm.runInContext(
        source.replace(ready, 'onRuntimeInitialized:()=>{$1.resolve();$1.then(()=>self.__engineReady())}'),
        context,
        { filename: files.bundle },
    );
} catch (e) {
    // Not rethrown: Node would print the whole (one-line) bundle.
    console.error(`perfetto-query: loading the engine failed: ${e.stack}`);
    process.exit(1);
}
if (typeof context.onmessage !== 'function') {
    console.error('perfetto-query: engine_bundle.js did not set self.onmessage');
    process.exit(1);
}

// The UI sends its MessagePort; this port collects the replies.
let pending = Buffer.alloc(0);
const port = {
    onmessage: null,
    postMessage(data) {
        pending = Buffer.concat([pending, Buffer.from(data)]);
    },
};
context.onmessage({ data: port });

// The bridge checks `instanceof Uint8Array` against its own realm's class.
const ContextUint8Array = vm.runInContext('Uint8Array', context);
let seq = 0;
// Sends one request; the engine answers synchronously. Returns the decoded
// TraceProcessorRpc replies.
function rpc(method, args) {
    const msg = Buffer.concat([intField(RPC.seq, seq++), intField(RPC.request, method), args || Buffer.alloc(0)]);
    const frame = lenField(1, msg);
    const bytes = new ContextUint8Array(frame.length);
    bytes.set(frame);
    port.onmessage({ data: bytes });
    const replies = (decode(pending)[1] || []).map(decode);
    pending = Buffer.alloc(0);
    for (const r of replies) {
        if (r[RPC.fatalError]) throw new Error('fatal: ' + r[RPC.fatalError][0].toString());
        if (r[RPC.invalidRequest]) throw new Error(`invalid request ${method}`);
    }
    return replies;
}

function query(sql) {
    const replies = rpc(TPM.queryStreaming, lenField(ARG.queryArgs, lenField(1, Buffer.from(sql))));
    let columns = [];
    const cells = [];
    let error = null;
    for (const r of replies) {
        for (const qr of (r[ARG.queryResult] || []).map(decode)) {
            if (qr[1]) columns = qr[1].map((b) => b.toString());
            if (qr[2]) error = qr[2].map((b) => b.toString()).join('; ');
            for (const batch of (qr[3] || []).map(decode)) {
                const types = (batch[1] || []).flatMap((b) => packedVarints(b).map(Number));
                const ints = (batch[2] || []).flatMap(packedVarints);
                const doubles = [];
                for (const b of batch[3] || []) {
                    for (let i = 0; i < b.length; i += 8) doubles.push(b.readDoubleLE(i));
                }
                const strings = (batch[5] || [])
                    .map((b) => b.toString())
                    .join('')
                    .split('\0');
                const blobs = batch[4] || [];
                let [ni, nd, ns, nb] = [0, 0, 0, 0];
                for (const t of types) {
                    if (t === CELL.null) cells.push(null);
                    else if (t === CELL.varint) {
                        const v = ints[ni++];
                        cells.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());
                    } else if (t === CELL.float64) cells.push(doubles[nd++]);
                    else if (t === CELL.string) cells.push(strings[ns++]);
                    else if (t === CELL.blob) cells.push(blobs[nb++].toString('base64'));
                    else throw new Error(`cell type ${t}`);
                }
            }
        }
    }
    if (error) return { error };
    const rows = [];
    for (let i = 0; columns.length && i < cells.length; i += columns.length) {
        rows.push(cells.slice(i, i + columns.length));
    }
    return { columns, rows };
}

async function main() {
    await engineReady;
    try {
    const trace = fs.readFileSync(path.resolve(tracePath));
    for (let off = 0; off < trace.length; off += 16 << 20) {
        const chunk = trace.subarray(off, off + (16 << 20));
        for (const r of rpc(TPM.appendTraceData, lenField(ARG.appendTraceData, chunk))) {
            const res = decode((r[ARG.appendResult] || [Buffer.alloc(0)])[0]);
            if (res[2]) throw new Error('parsing the trace: ' + res[2][0].toString());
        }
    }
    rpc(TPM.finalizeTraceData);
} catch (e) {
    console.error(`perfetto-query: ${e.message}\n${stderrLines.join('\n')}`);
    process.exit(1);
}
for (const q of queries) {
    process.stdout.write(JSON.stringify(query(q)) + '\n');
}
}

main();
