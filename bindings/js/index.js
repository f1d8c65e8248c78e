// Privet for JavaScript: the engine's wasm module (privet.wasm, ABI 1.x, see crates/privet-wasm/ABI.md)
// behind a small class. No build step: plain ESM, types in index.d.ts.

const ABI_MAJOR = 1;
/** The oldest minor this package speaks: with a 1.0 module it decides through the 1.0 exports. */
const ABI_MINOR = 0;
/** The minor that added the policy table and compact decisions (`privet_decide_compact`), used when present. */
const ABI_MINOR_COMPACT = 1;
/** The minor that added packed decisions (`privet_decide_packed`), used when present. */
const ABI_MINOR_PACKED = 2;
/** The first byte of a packed decision record (ABI.md, "Packed decisions"); JSON never starts with it. */
const PACKED_TAG = 0x01;
/** The first byte of a packed batch (`privet_decide_batch_packed`). */
const PACKED_BATCH_TAG = 0x02;

/** Decide inputs up to this many bytes are written into one guest buffer kept for the instance's life. */
const SCRATCH_MAX = 1 << 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** Injects a simulated trap into the next guest call (tests only). */
const INJECT_TRAP = Symbol.for('privet.test.injectTrap');
/** A `Privet.load` option (tests only): decide through the ABI 1.0 exports even when the module has 1.1's. */
const FORCE_ABI_10 = Symbol.for('privet.test.forceAbi10');
/** A `Privet.load` option (tests only): decide through the ABI 1.1 compact exports even when the module has 1.2's. */
const FORCE_ABI_11 = Symbol.for('privet.test.forceAbi11');
/** Tests only: `'packed'`, `'compact'` or `'full'`, the form the live instance decides in. */
const DECIDE_FORM = Symbol.for('privet.test.decideForm');

/**
 * An error from Privet: a bundle that failed to load, a rejected store update, a trapped instance.
 * `code` is one of the engine's error codes (`invalid_bundle`, `hash_mismatch`, `invalid_entity`,
 * `host_failure`, ...), `path` locates the problem when known, `errors` lists every underlying error.
 */
export class PrivetError extends Error {
  constructor(code, message, details = {}) {
    super(message);
    this.name = 'PrivetError';
    this.code = code;
    this.path = details.path ?? undefined;
    this.policy = details.policy ?? undefined;
    this.line = details.line ?? undefined;
    this.column = details.column ?? undefined;
    this.offset = details.offset ?? undefined;
    this.errors = Array.isArray(details.errors) ? details.errors : [];
    if (details.cause !== undefined) this.cause = details.cause;
  }

  /** @internal */
  static fromJson(obj, fallbackMessage) {
    if (!obj || typeof obj !== 'object') {
      return new PrivetError('host_failure', fallbackMessage);
    }
    return new PrivetError(String(obj.code ?? 'host_failure'), String(obj.message ?? fallbackMessage), obj);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Loading the module

let defaultModule = null;

function isNode() {
  return typeof process !== 'undefined' && process.versions != null && process.versions.node != null;
}

function toBytes(src, what) {
  if (src instanceof Uint8Array) return src;
  if (src instanceof ArrayBuffer) return new Uint8Array(src);
  if (ArrayBuffer.isView(src)) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  if (typeof src === 'string') return encoder.encode(src);
  throw new TypeError(`${what} must be a Uint8Array, ArrayBuffer or string`);
}

async function readUrl(url) {
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return { bytes: new Uint8Array(await readFile(url)) };
  }
  const response = await fetch(url);
  if (!response.ok) throw new PrivetError('io', `cannot fetch \`${url}\`: HTTP ${response.status}`);
  return { response };
}

async function compileResponse(response) {
  if (typeof WebAssembly.compileStreaming === 'function') {
    try {
      // Streaming needs `Content-Type: application/wasm`; fall back to bytes otherwise.
      return await WebAssembly.compileStreaming(response.clone());
    } catch (e) {
      if (!(e instanceof TypeError)) throw e;
    }
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

/**
 * Compiles the Privet wasm module. `source` is a URL (string or URL object), the module's bytes, a
 * `Response`, or an already compiled `WebAssembly.Module`; by default the `privet.wasm` shipped beside
 * this file. The default module is compiled once and cached.
 */
export async function compile(source) {
  if (source === undefined || source === null) {
    if (defaultModule === null) {
      defaultModule = compile(new URL('./privet.wasm', import.meta.url)).catch((e) => {
        defaultModule = null;
        throw e;
      });
    }
    return defaultModule;
  }
  if (source instanceof WebAssembly.Module) return source;
  if (typeof Response !== 'undefined' && source instanceof Response) return compileResponse(source);
  if (typeof source === 'string' || source instanceof URL) {
    const base = typeof location !== 'undefined' ? location.href : import.meta.url;
    const url = new URL(String(source), base);
    const { bytes, response } = await readUrl(url);
    return bytes ? WebAssembly.compile(bytes) : compileResponse(response);
  }
  return WebAssembly.compile(toBytes(source, 'wasm'));
}

// ---------------------------------------------------------------------------------------------------------
// The guest

/** One wasm instance with one loaded bundle. Discarded after any trap. */
class Guest {
  constructor(instance, { compact = true, packed = true } = {}) {
    this.x = instance.exports;
    const version = this.x.privet_abi_version();
    const major = version >>> 16;
    const minor = version & 0xffff;
    if (major !== ABI_MAJOR || minor < ABI_MINOR) {
      throw new PrivetError(
        'host_failure',
        `privet.wasm speaks ABI ${major}.${minor}; this package needs ${ABI_MAJOR}.${ABI_MINOR} or a later 1.x`,
      );
    }
    this.handle = 0;
    // ABI 1.1: decisions in the compact form, expanded here from the bundle's policy table (fetched in `load`).
    this.compact =
      compact &&
      minor >= ABI_MINOR_COMPACT &&
      typeof this.x.privet_policies === 'function' &&
      typeof this.x.privet_decide_compact === 'function' &&
      typeof this.x.privet_decide_batch_compact === 'function';
    // ABI 1.2: single decisions as packed records (or compact JSON), decoded straight from guest memory.
    this.packed = this.compact && packed && minor >= ABI_MINOR_PACKED && typeof this.x.privet_decide_packed === 'function';
    this.packedBatch = this.packed && typeof this.x.privet_decide_batch_packed === 'function';
    /** Policy id -> its table entry (compact only). */
    this.table = null;
    /** The table's entries by index, in load order (packed records name policies by index). */
    this.list = null;
    // The reusable input buffer for decide calls (ptr, capacity) and a view of it (re-made when memory grows).
    this.scratch = 0;
    this.scratchCap = 0;
    this.scratchView = null;
    // The last `input`'s range and whether it is an allocation of its own (freed after the call).
    this.inPtr = 0;
    this.inLen = 0;
    this.inOwned = false;
    /** A view of all of linear memory, re-made when memory grows (a grow detaches the old buffer). */
    this.mem = new Uint8Array(this.x.memory.buffer);
  }

  /** A view of all of linear memory, current after any call. */
  memory() {
    const buffer = this.x.memory.buffer;
    if (this.mem.buffer !== buffer) this.mem = new Uint8Array(buffer);
    return this.mem;
  }

  /** Copies bytes into a fresh guest allocation; returns [ptr, len]. */
  put(bytes) {
    const len = bytes.length;
    const ptr = this.x.privet_alloc(len) >>> 0;
    if (ptr === 0) throw new PrivetError('limit_exceeded', `privet: cannot allocate ${len} bytes in the wasm instance`);
    new Uint8Array(this.x.memory.buffer, ptr, len).set(bytes);
    return [ptr, len];
  }

  /** Reads and frees a packed result; null for 0. */
  take(result) {
    const r = BigInt.asUintN(64, result);
    if (r === 0n) return null;
    const ptr = Number(r >> 32n);
    const len = Number(r & 0xffffffffn);
    // Copy out before freeing (decode copies), and read memory.buffer afresh: it may have grown.
    const text = decoder.decode(new Uint8Array(this.x.memory.buffer, ptr, len));
    this.x.privet_free(ptr, len);
    return text;
  }

  lastError(fallback) {
    const text = this.take(this.x.privet_last_error());
    let obj = null;
    try {
      obj = text === null ? null : JSON.parse(text);
    } catch {
      obj = null;
    }
    return PrivetError.fromJson(obj, fallback);
  }

  /** Calls `fn(handle, ptr, len)` with `bytes` in guest memory and returns the result text or null. */
  withInput(bytes, fn) {
    const [ptr, len] = this.put(bytes);
    try {
      return this.take(fn(ptr, len));
    } finally {
      this.x.privet_free(ptr, len);
    }
  }

  /** Makes the reusable input buffer at least `n` bytes; returns a view of all of it. */
  reserve(n) {
    if (n > this.scratchCap) {
      if (this.scratchCap > 0) this.x.privet_free(this.scratch, this.scratchCap);
      this.scratch = 0;
      this.scratchCap = 0;
      this.scratchView = null;
      let cap = 4096;
      while (cap < n) cap *= 2;
      const ptr = this.x.privet_alloc(cap) >>> 0;
      if (ptr === 0) throw new PrivetError('limit_exceeded', `privet: cannot allocate ${cap} bytes in the wasm instance`);
      this.scratch = ptr;
      this.scratchCap = cap;
    }
    const buffer = this.x.memory.buffer;
    if (this.scratchView === null || this.scratchView.buffer !== buffer) {
      this.scratchView = new Uint8Array(buffer, this.scratch, this.scratchCap);
    }
    return this.scratchView;
  }

  /**
   * Writes a decide input (a string, encoded straight into guest memory, or bytes) into the reusable
   * buffer, or into an allocation of its own when it may be larger than SCRATCH_MAX. Sets `inPtr`,
   * `inLen` and `inOwned`; an owned allocation is the caller's to free. The guest copies its input and
   * never keeps or frees the host's buffer (ABI.md, "Memory"), so the buffer serves every call.
   */
  input(value) {
    this.inOwned = false;
    if (typeof value === 'string') {
      // UTF-8 takes at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 bytes for 2 units).
      if (value.length * 3 <= SCRATCH_MAX) {
        const { read, written } = encoder.encodeInto(value, this.reserve(value.length * 3));
        if (read === value.length) {
          this.inPtr = this.scratch;
          this.inLen = written;
          return;
        }
      }
      value = encoder.encode(value);
    } else if (value.length <= SCRATCH_MAX) {
      this.reserve(value.length).set(value);
      this.inPtr = this.scratch;
      this.inLen = value.length;
      return;
    }
    const [ptr, len] = this.put(value);
    this.inPtr = ptr;
    this.inLen = len;
    this.inOwned = true;
  }

  /** Decides (one request, or with `batch` an array); returns the result text (compact form when
   * `this.compact`) or null. */
  decide(value, batch) {
    this.input(value);
    const x = this.x;
    const h = this.handle;
    const ptr = this.inPtr;
    const len = this.inLen;
    let r;
    if (this.compact) r = batch ? x.privet_decide_batch_compact(h, ptr, len) : x.privet_decide_compact(h, ptr, len);
    else r = batch ? x.privet_decide_batch(h, ptr, len) : x.privet_decide(h, ptr, len);
    if (this.inOwned) x.privet_free(ptr, len);
    return this.take(r);
  }

  /**
   * Decides one request through `privet_decide_packed` (ABI 1.2). Returns the decision object when the
   * guest wrote a packed record (decoded here straight from guest memory), else the compact JSON text it
   * wrote instead, or null when there is no result. Throws PrivetError on a malformed record.
   */
  decidePacked(value, hash) {
    return this.callPacked(value, hash, false);
  }

  /**
   * Decides an array of requests through `privet_decide_batch_packed` (ABI 1.2). Returns the decisions
   * (decoded straight from guest memory) when the guest wrote a packed batch, else the compact JSON array
   * text it wrote instead, or null when there is no result. Throws PrivetError on a malformed batch.
   */
  decideBatchPacked(value, hash) {
    return this.callPacked(value, hash, true);
  }

  /** The two packed exports: the same call, tag check, fallback to text and free; `batch` picks the export,
   * its tag and its decoder. */
  callPacked(value, hash, batch) {
    this.input(value);
    const x = this.x;
    const r = batch
      ? x.privet_decide_batch_packed(this.handle, this.inPtr, this.inLen)
      : x.privet_decide_packed(this.handle, this.inPtr, this.inLen);
    if (this.inOwned) x.privet_free(this.inPtr, this.inLen);
    const u = BigInt.asUintN(64, r);
    if (u === 0n) return null;
    const ptr = Number(u >> 32n);
    const len = Number(u & 0xffffffffn);
    const mem = this.memory();
    if (len === 0 || mem[ptr] !== (batch ? PACKED_BATCH_TAG : PACKED_TAG)) {
      const text = decoder.decode(mem.subarray(ptr, ptr + len));
      x.privet_free(ptr, len);
      return text;
    }
    try {
      return batch
        ? decodePackedBatch(mem, ptr, ptr + len, this, hash)
        : decodePacked(mem, ptr, ptr + len, this.list, hash);
    } finally {
      x.privet_free(ptr, len);
    }
  }

  load(bundle) {
    const [ptr, len] = this.put(bundle);
    let handle;
    try {
      handle = this.x.privet_load(ptr, len) >>> 0;
    } finally {
      this.x.privet_free(ptr, len);
    }
    if (handle === 0) throw this.lastError('privet: the bundle failed to load');
    this.handle = handle;
    if (this.compact) this.policies();
  }

  /** Fetches the loaded bundle's policy table (ABI 1.1 `privet_policies`) into `table` (by id) and `list`
   * (by index). */
  policies() {
    const text = this.take(this.x.privet_policies(this.handle));
    if (text === null) throw this.lastError('privet: the policy table could not be read');
    let list;
    try {
      list = JSON.parse(text);
    } catch (e) {
      throw new PrivetError('host_failure', 'privet: the wasm module returned malformed policy table JSON', { cause: e });
    }
    if (!Array.isArray(list)) throw new PrivetError('host_failure', 'privet: the policy table is not an array');
    const table = new Map();
    const entries = [];
    for (const p of list) {
      const entry = {
        id: p?.id,
        policy: template(p),
        obligation: p?.obligation === undefined ? undefined : template(p.obligation),
      };
      table.set(entry.id, entry);
      entries.push(entry);
    }
    this.table = table;
    this.list = entries;
  }

  json(op, bytes) {
    const x = this.x;
    const h = this.handle;
    switch (op) {
      case 'upsert':
        return this.withInput(bytes, (p, n) => x.privet_upsert_entities(h, p, n));
      case 'remove':
        return this.withInput(bytes, (p, n) => x.privet_remove_entities(h, p, n));
      case 'info':
        return this.take(x.privet_info(h));
      default:
        throw new TypeError(`unknown op ${op}`);
    }
  }
}

/** Sets `key` on a plain object as JSON.parse does (an own data property, even for `__proto__`). */
function define(obj, key, value) {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

/** A deep copy of a parsed JSON value, with the same keys in the same order. */
function cloneJson(v) {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(cloneJson);
  const out = {};
  for (const k of Object.keys(v)) define(out, k, cloneJson(v[k]));
  return out;
}

/**
 * A parsed JSON value prepared for copying many times (`instantiate`): an object or array of its own (a
 * private deep copy, never handed out) plus the keys of its nested objects and arrays, prepared too. A copy
 * is a spread of the source (one fast shallow clone, same keys in the same order, `__proto__` an own data
 * property as JSON.parse makes it) with the nested values replaced by fresh copies of theirs.
 */
function template(v) {
  if (typeof v !== 'object' || v === null) return v;
  const src = cloneJson(v);
  const nestedKeys = [];
  const nested = [];
  for (const k of Object.keys(src)) {
    const c = src[k];
    if (typeof c === 'object' && c !== null) {
      nestedKeys.push(Array.isArray(src) ? Number(k) : k);
      nested.push(template(c));
    }
  }
  return { src, array: Array.isArray(src), nestedKeys, nested };
}

/** A fresh deep copy of the value a template was made from (as JSON.parse would give it). */
function instantiate(t) {
  if (typeof t !== 'object' || t === null) return t;
  const out = t.array ? t.src.slice() : { ...t.src };
  const { nestedKeys, nested } = t;
  for (let i = 0; i < nested.length; i++) {
    const k = nestedKeys[i];
    if (k === '__proto__') define(out, k, instantiate(nested[i]));
    else out[k] = instantiate(nested[i]);
  }
  return out;
}

/**
 * The request id of a packed record: the JSON text in `mem[start..end)` parsed as JSON.parse would parse it.
 * Plain integers (up to 15 digits, exact as doubles) and ASCII strings without escapes take a fast path.
 */
function packedId(mem, start, end) {
  const n = end - start;
  const c = mem[start];
  if (c === 0x22 && n >= 2 && n <= 130 && mem[end - 1] === 0x22) {
    let ok = true;
    for (let i = start + 1; i < end - 1; i++) {
      const b = mem[i];
      if (b < 0x20 || b >= 0x7f || b === 0x5c || b === 0x22) {
        ok = false;
        break;
      }
    }
    if (ok) return String.fromCharCode.apply(null, mem.subarray(start + 1, end - 1));
  } else if (n <= 16) {
    let i = start;
    const negative = c === 0x2d;
    if (negative) i++;
    if (end - i >= 1 && end - i <= 15 && (mem[i] !== 0x30 || end - i === 1)) {
      let v = 0;
      for (; i < end; i++) {
        const b = mem[i] - 0x30;
        if (b < 0 || b > 9) break;
        v = v * 10 + b;
      }
      if (i === end) return negative ? -v : v;
    }
  }
  return JSON.parse(decoder.decode(mem.subarray(start, end)));
}

/**
 * The decision in a packed record `mem[start..end)` (ABI.md, "Packed decisions"): what `expandDecision`
 * gives for the compact decision it stands for (`{id?, decision, reasons}` with no errors and the loaded
 * bundle): the same keys in the same order, fresh policy and obligation objects.
 */
function decodePacked(mem, start, end, list, hash) {
  if (end - start < 4) throw malformedRecord('shorter than its header');
  const verdict = mem[start + 1];
  if (verdict > 1) throw malformedRecord(`verdict byte ${verdict}`);
  const n = mem[start + 2] | (mem[start + 3] << 8);
  const idStart = start + 4 + 2 * n;
  if (idStart > end) throw malformedRecord(`${n} indices do not fit`);
  const reasons = [];
  const determining = [];
  const obligations = [];
  for (let q = start + 4; q < idStart; q += 2) {
    const entry = list[mem[q] | (mem[q + 1] << 8)];
    if (entry === undefined) throw malformedRecord(`policy index ${mem[q] | (mem[q + 1] << 8)} is not in the policy table`);
    reasons.push(entry.id);
    determining.push(instantiate(entry.policy));
    if (entry.obligation !== undefined) obligations.push(instantiate(entry.obligation));
  }
  const decision = verdict === 1 ? 'allow' : 'deny';
  if (idStart === end) return { decision, reasons, determining, obligations, errors: [], bundle: hash };
  let id;
  try {
    id = packedId(mem, idStart, end);
  } catch (e) {
    throw malformedRecord('its id is not JSON', e);
  }
  return { id, decision, reasons, determining, obligations, errors: [], bundle: hash };
}

/** A little-endian u32 at `mem[i]`. */
function u32At(mem, i) {
  return (mem[i] | (mem[i + 1] << 8) | (mem[i + 2] << 16) | (mem[i + 3] << 24)) >>> 0;
}

/**
 * The decisions in a packed batch `mem[start..end)` (ABI.md, "Packed decisions"): a count, then per decision
 * its length and either a packed record or its compact JSON (expanded as `privet_decide_compact`'s).
 */
function decodePackedBatch(mem, start, end, guest, hash) {
  if (end - start < 5) throw malformedRecord('a batch shorter than its header');
  const count = u32At(mem, start + 1);
  const out = [];
  let q = start + 5;
  for (let i = 0; i < count; i++) {
    if (q + 4 > end) throw malformedRecord(`a batch that ends after ${i} of ${count} decisions`);
    const len = u32At(mem, q);
    q += 4;
    const itemEnd = q + len;
    if (itemEnd > end || len === 0) throw malformedRecord(`decision ${i} of a batch overruns it`);
    if (mem[q] === PACKED_TAG) {
      out.push(decodePacked(mem, q, itemEnd, guest.list, hash));
    } else {
      let c;
      try {
        c = JSON.parse(decoder.decode(mem.subarray(q, itemEnd)));
      } catch (e) {
        throw new PrivetError('host_failure', 'privet: the wasm module returned malformed decision JSON in a batch', { cause: e });
      }
      out.push(expandDecision(c, guest.table, hash));
    }
    q = itemEnd;
  }
  if (q !== end) throw malformedRecord('bytes after the last decision of a batch');
  return out;
}

function malformedRecord(what, cause) {
  return new PrivetError('host_failure', `privet: the wasm module returned a malformed packed decision: ${what}`, { cause });
}

const COMPACT_KEYS = new Set(['id', 'decision', 'reasons', 'determining', 'obligations', 'errors', 'bundle']);

/**
 * The full decision from a compact one (ABI.md, "Compact decisions"): `determining` = the table's policy for
 * each id in `reasons`, in order; `obligations` = the `obligation` of each of those that has one, in order;
 * `bundle` = the loaded bundle's hash. Fields the guest did send are kept. The result is what JSON.parse of
 * the 1.0 form gives: fresh objects (policies are copied, never shared between decisions), keys in the same
 * order.
 */
function expandDecision(c, table, hash) {
  if (c === null || typeof c !== 'object' || Array.isArray(c) || !Array.isArray(c.reasons)) {
    throw new PrivetError('host_failure', 'privet: the wasm module returned a malformed compact decision');
  }
  let determining = c.determining;
  let obligations = c.obligations;
  if (determining === undefined) {
    determining = [];
    const derived = [];
    for (const id of c.reasons) {
      const entry = table.get(id);
      if (entry === undefined) {
        throw new PrivetError('host_failure', `privet: a compact decision names policy \`${id}\`, which is not in the policy table`);
      }
      determining.push(instantiate(entry.policy));
      if (entry.obligation !== undefined) derived.push(instantiate(entry.obligation));
    }
    if (obligations === undefined) obligations = derived;
  }
  if (obligations === undefined) {
    obligations = [];
    for (const p of determining) if (p?.obligation !== undefined) obligations.push(cloneJson(p.obligation));
  }
  const d = {};
  if (Object.prototype.hasOwnProperty.call(c, 'id')) d.id = c.id;
  d.decision = c.decision;
  d.reasons = c.reasons;
  d.determining = determining;
  d.obligations = obligations;
  d.errors = c.errors;
  d.bundle = c.bundle ?? hash;
  for (const k of Object.keys(c)) if (!COMPACT_KEYS.has(k)) define(d, k, c[k]);
  return d;
}

function denyWith(error, bundleHash, id) {
  const d = { decision: 'deny', reasons: [], determining: [], obligations: [], errors: [error], bundle: bundleHash };
  return id === undefined ? d : { id, ...d };
}

function requestId(request) {
  return request && typeof request === 'object' && !Array.isArray(request) ? request.id : undefined;
}

function asJsonBytes(value) {
  if (typeof value === 'string') return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  return encoder.encode(JSON.stringify(value));
}

/** A decide input: JSON text, or bytes as given (encoded into guest memory by `Guest.input`). */
function asJsonInput(value) {
  if (typeof value === 'string' || value instanceof Uint8Array) return value;
  return JSON.stringify(value) ?? '';
}

/**
 * A loaded bundle, ready to decide. Create with `await Privet.load(bundleBytes)`.
 *
 * Every method is synchronous. If the wasm instance traps (e.g. a stack overflow on a pathological
 * input), the instance is discarded; the call that trapped returns a deny (decide paths) or throws a
 * `PrivetError` with code `host_failure`, and the next call runs in a fresh instance built from the cached
 * module, the bundle bytes and the entity updates applied so far.
 */
export class Privet {
  #module;
  #bundle;
  #updates = [];
  #guest = null;
  #hash = '';
  #restarts = 0;
  #injectTrap = false;
  #closed = false;
  #compact = true;
  #packed = true;

  /** @internal use `Privet.load` */
  constructor(module, bundle, token) {
    if (token !== CONSTRUCT) throw new TypeError('use `await Privet.load(bundle)`');
    this.#module = module;
    this.#bundle = bundle;
  }

  /**
   * Loads a packed bundle (the single-file output of `privet pack`).
   * @param bundle packed bundle bytes (Uint8Array / ArrayBuffer) or its JSON text
   * @param options.wasm where the wasm module comes from (URL, bytes, Response or WebAssembly.Module);
   *   default: the `privet.wasm` shipped with this package
   */
  static async load(bundle, options = {}) {
    const bytes = toBytes(bundle, 'bundle').slice();
    const module = await compile(options.wasm);
    const engine = new Privet(module, bytes, CONSTRUCT);
    engine.#compact = options[FORCE_ABI_10] !== true;
    engine.#packed = options[FORCE_ABI_11] !== true;
    const instance = await WebAssembly.instantiate(module, {});
    try {
      engine.#start(instance);
    } catch (e) {
      if (e instanceof PrivetError) throw e;
      // A trap while loading (e.g. a stack overflow on a pathological policy): the instance is dropped here.
      throw new PrivetError('host_failure', `privet: the wasm instance trapped while loading the bundle: ${e?.message ?? e}`, {
        cause: e,
      });
    }
    return engine;
  }

  /** Number of times the wasm instance was replaced after a trap. */
  get restarts() {
    return this.#restarts;
  }

  /** The content hash of the loaded bundle (`sha256:…`). */
  get hash() {
    return this.#hash;
  }

  /** A guest for `instance` with the bundle loaded (and, on ABI 1.1, its policy table fetched) and the
   * entity updates replayed. */
  #start(instance) {
    const guest = new Guest(instance, { compact: this.#compact, packed: this.#packed });
    guest.load(this.#bundle);
    for (const { op, bytes } of this.#updates) {
      if (guest.json(op, bytes) === null) {
        throw guest.lastError('privet: replaying an entity update into a fresh instance failed');
      }
    }
    this.#guest = guest;
    if (this.#hash === '') {
      const info = JSON.parse(guest.json('info') ?? '{}');
      this.#hash = String(info.hash ?? '');
    }
  }

  /** The live guest, rebuilding it after a trap. Throws PrivetError if it cannot be rebuilt. */
  #live() {
    if (this.#closed) throw new PrivetError('no_bundle', 'privet: this engine was closed');
    if (this.#guest !== null) return this.#guest;
    try {
      this.#start(new WebAssembly.Instance(this.#module, {}));
      this.#restarts += 1;
    } catch (e) {
      if (e instanceof PrivetError) throw e;
      throw new PrivetError('host_failure', `privet: cannot start a fresh wasm instance: ${e?.message ?? e}`, {
        cause: e,
      });
    }
    return this.#guest;
  }

  /** Runs `fn(guest)`; any exception thrown from inside the guest poisons the instance. */
  #run(fn) {
    const guest = this.#live();
    try {
      if (this.#injectTrap) {
        this.#injectTrap = false;
        throw new WebAssembly.RuntimeError('unreachable (injected by a test)');
      }
      return { ok: true, value: fn(guest) };
    } catch (e) {
      if (e instanceof PrivetError) throw e;
      // A trap (WebAssembly.RuntimeError), a JS stack overflow inside wasm (RangeError), anything else:
      // the instance's state is unknown, never use it again.
      this.#guest = null;
      const message = `privet: the wasm instance trapped and was discarded: ${e?.message ?? e}`;
      return { ok: false, error: { code: 'host_failure', message }, cause: e };
    }
  }

  #parse(text, what) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new PrivetError('host_failure', `privet: the wasm module returned malformed ${what} JSON`, { cause: e });
    }
  }

  /** The guest's result text as decisions: parsed, and expanded when the guest wrote the compact form. */
  #decisions(text, guest, batch) {
    const parsed = this.#parse(text, batch ? 'decisions' : 'decision');
    if (!guest.compact) return parsed;
    if (!batch) return expandDecision(parsed, guest.table, this.#hash);
    if (!Array.isArray(parsed)) throw new PrivetError('host_failure', 'privet: the wasm module returned decisions that are not an array');
    return parsed.map((c) => expandDecision(c, guest.table, this.#hash));
  }

  /** A deny for a decide call that trapped or met a PrivetError (`e`) in the guest. */
  #denyFor(e, request) {
    if (e instanceof PrivetError) return denyWith({ code: e.code, message: e.message }, this.#hash, requestId(request));
    // A trap (WebAssembly.RuntimeError), a JS stack overflow inside wasm (RangeError), anything else:
    // the instance's state is unknown, never use it again.
    this.#guest = null;
    const message = `privet: the wasm instance trapped and was discarded: ${e?.message ?? e}`;
    return denyWith({ code: 'host_failure', message }, this.#hash, requestId(request));
  }

  /**
   * Decides one request. Never throws on a bad request: errors come back as a deny with `errors`.
   * @param request a request object, or its JSON text
   */
  decide(request) {
    const input = asJsonInput(request);
    // ABI 1.2's packed path, written out rather than through #run (no closure or result object per call).
    let guest = this.#guest;
    if (guest === null || this.#closed) {
      try {
        guest = this.#live();
      } catch (e) {
        if (!(e instanceof PrivetError)) throw e;
        return denyWith({ code: e.code, message: e.message }, this.#hash, requestId(request));
      }
    }
    if (guest.packed) {
      let out;
      try {
        if (this.#injectTrap) {
          this.#injectTrap = false;
          throw new WebAssembly.RuntimeError('unreachable (injected by a test)');
        }
        out = guest.decidePacked(input, this.#hash);
      } catch (e) {
        return this.#denyFor(e, request);
      }
      if (typeof out === 'string') return expandDecision(this.#parse(out, 'decision'), guest.table, this.#hash);
      if (out === null) {
        return denyWith({ code: 'host_failure', message: 'privet: the decision could not be returned' }, this.#hash, requestId(request));
      }
      return out;
    }
    let r;
    try {
      r = this.#run((g) => ({ text: g.decide(input, false), guest: g }));
    } catch (e) {
      if (!(e instanceof PrivetError)) throw e;
      return denyWith({ code: e.code, message: e.message }, this.#hash, requestId(request));
    }
    if (!r.ok) return denyWith(r.error, this.#hash, requestId(request));
    if (r.value.text === null) {
      return denyWith({ code: 'host_failure', message: 'privet: the decision could not be returned' }, this.#hash, requestId(request));
    }
    return this.#decisions(r.value.text, r.value.guest, false);
  }

  /**
   * Decides many requests in one call; returns decisions in the same order.
   * @param requests an array of requests, or its JSON text
   */
  decideBatch(requests) {
    const input = asJsonInput(requests);
    const denyAll = (error) =>
      Array.isArray(requests)
        ? requests.map((q) => denyWith(error, this.#hash, requestId(q)))
        : [denyWith(error, this.#hash, undefined)];
    let r;
    try {
      // ABI 1.2: a packed batch comes back as the decisions themselves, anything else as text.
      r = this.#run((g) => ({ text: g.packedBatch ? g.decideBatchPacked(input, this.#hash) : g.decide(input, true), guest: g }));
    } catch (e) {
      if (!(e instanceof PrivetError)) throw e;
      return denyAll({ code: e.code, message: e.message });
    }
    if (!r.ok) return denyAll(r.error);
    if (r.value.text === null) return denyAll({ code: 'host_failure', message: 'privet: the decisions could not be returned' });
    if (typeof r.value.text !== 'string') return r.value.text;
    return this.#decisions(r.value.text, r.value.guest, true);
  }

  #update(op, value, what) {
    const bytes = asJsonBytes(value);
    const r = this.#run((g) => {
      const text = g.json(op, bytes);
      if (text === null) throw g.lastError(`privet: the ${what} failed`);
      return text;
    });
    if (!r.ok) throw new PrivetError(r.error.code, r.error.message, { cause: r.cause });
    // Applied: remember it, so a fresh instance after a trap gets the same store.
    this.#updates.push({ op, bytes: bytes.slice() });
    return this.#parse(r.value, 'store update');
  }

  /**
   * Inserts or replaces entities in the bundle's store (Cedar entity JSON). All or nothing: on any error
   * nothing is applied and a PrivetError is thrown (its `errors` list every problem with its path).
   */
  upsertEntities(entities) {
    return this.#update('upsert', entities, 'entity upsert');
  }

  /** Removes entities by uid (`{type, id}` or `'T::"id"'`). Unknown uids are ignored. */
  removeEntities(uids) {
    return this.#update('remove', uids, 'entity removal');
  }

  /** The bundle's info: name, version, hash, policies, entity count, store revision, limits. */
  info() {
    const r = this.#run((g) => {
      const text = g.json('info');
      if (text === null) throw g.lastError('privet: info failed');
      return text;
    });
    if (!r.ok) throw new PrivetError(r.error.code, r.error.message, { cause: r.cause });
    return this.#parse(r.value, 'info');
  }

  /** Releases the wasm instance. Later calls throw (or deny). */
  close() {
    this.#closed = true;
    this.#guest = null;
  }

  /** @internal tests: make the next guest call behave as if the instance trapped. */
  [INJECT_TRAP]() {
    this.#injectTrap = true;
  }

  /** @internal tests: the form the live instance decides single requests in (`'packed'` on ABI 1.2,
   * `'compact'` on 1.1, else `'full'`). */
  [DECIDE_FORM]() {
    const g = this.#live();
    return g.packed ? 'packed' : g.compact ? 'compact' : 'full';
  }
}

const CONSTRUCT = Symbol('privet.construct');

export default Privet;
