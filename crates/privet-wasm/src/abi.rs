//! The exports: raw pointers and lengths over linear memory in, packed `(ptr << 32) | len` results out.
//! See `ABI.md` for the contract. This module is the only place in Privet allowed `unsafe`; every block
//! says why it is sound.
//!
//! Compiled on every target so it is linted natively; only wasm32 has a linear memory to accept ranges
//! from (elsewhere `memory_bytes` is 0 and every range is refused).
//!
//! The guest is single-threaded (wasm32-unknown-unknown without atomics) and imports nothing, so nothing
//! can re-enter an export while another runs.
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::cell::Cell;
use std::ptr::NonNull;

use privet_core::ErrorCode;

use crate::failure::Failure;
use crate::registry::{Form, Registry};

use crate::ABI_VERSION;

thread_local! {
    static REGISTRY: Cell<Registry> = Cell::new(Registry::default());
    /// The last error as JSON; empty when the last call succeeded.
    static LAST_ERROR: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    /// ABI 1.3: the guest-owned input buffer the host writes requests into (`privet_input`).
    static INPUT: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    /// ABI 1.3: the guest-owned output buffer the `*_input` decide exports write their result into, reused
    /// from call to call.
    static OUTPUT: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The output buffer keeps its capacity from call to call up to this size; a call that finds it larger (after a
/// big batch result) starts from a fresh one, so one large result does not pin its memory for the instance's
/// life.
const OUTPUT_KEEP: usize = 1 << 20;

fn with_registry<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    REGISTRY.with(|cell| {
        let mut registry = cell.take();
        let out = f(&mut registry);
        cell.set(registry);
        out
    })
}

fn clear_error() {
    LAST_ERROR.with(|e| e.set(Vec::new()));
}

fn set_error(failure: &Failure) {
    LAST_ERROR.with(|e| e.set(failure.to_json()));
}

/// Current size of linear memory 0 in bytes.
#[cfg(target_arch = "wasm32")]
fn memory_bytes() -> usize {
    /// Bytes in a wasm page.
    const PAGE: usize = 65536;
    core::arch::wasm32::memory_size(0).saturating_mul(PAGE)
}

/// Outside wasm32 the module compiles (so it is linted and type-checked natively) but refuses every
/// range: pointers are 32-bit offsets into a wasm linear memory, meaningless in a native process.
#[cfg(not(target_arch = "wasm32"))]
fn memory_bytes() -> usize {
    0
}

/// True when `ptr..ptr+len` lies inside linear memory and does not wrap.
fn in_bounds(ptr: u32, len: u32) -> bool {
    match ptr.checked_add(len) {
        Some(end) => usize::try_from(end).is_ok_and(|end| end <= memory_bytes()),
        None => false,
    }
}

/// Copies the caller's input out of linear memory. Copying (rather than borrowing) means no Rust reference
/// ever aliases memory the engine may allocate or free while it works, whatever pointer the host passed.
fn read_input(ptr: u32, len: u32) -> Result<Vec<u8>, Failure> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if ptr == 0 || !in_bounds(ptr, len) {
        return Err(Failure::new(
            ErrorCode::HostFailure,
            format!("abi: input `{ptr}+{len}` is outside linear memory ({} bytes)", memory_bytes()),
        ));
    }
    let (Ok(addr), Ok(n)) = (usize::try_from(ptr), usize::try_from(len)) else {
        return Err(Failure::new(ErrorCode::HostFailure, "abi: input pointer does not fit usize"));
    };
    let start = std::ptr::with_exposed_provenance::<u8>(addr);
    // SAFETY: `start..start+n` is non-null and inside linear memory (checked above), every byte of which is
    // readable on wasm32 (there are no unmapped pages below `memory.size`); u8 needs no alignment; the guest
    // is single-threaded, so nothing writes the region while we copy it, and the borrow ends at `to_vec`.
    let bytes = unsafe { std::slice::from_raw_parts(start, n) };
    Ok(bytes.to_vec())
}

/// Hands `bytes` to the caller as a fresh allocation of exactly `len` bytes: `(ptr << 32) | len`.
/// The caller owns it and frees it with `privet_free(ptr, len)`. Returns 0 if it cannot be represented.
fn write_output(bytes: Vec<u8>) -> u64 {
    let boxed = bytes.into_boxed_slice();
    let Ok(len) = u32::try_from(boxed.len()) else {
        set_error(&Failure::new(ErrorCode::LimitExceeded, "abi: result larger than 4 GiB"));
        return 0;
    };
    // The box's layout is `Layout::array::<u8>(len)` = (len, align 1), which is what `privet_free` uses.
    let ptr = Box::into_raw(boxed).cast::<u8>();
    let Ok(addr) = u32::try_from(ptr.expose_provenance()) else {
        // Unreachable on wasm32 (usize is 32 bits); leak rather than guess.
        return 0;
    };
    (u64::from(addr) << 32) | u64::from(len)
}

/// The ABI version, `(major << 16) | minor`.
#[unsafe(no_mangle)]
pub extern "C" fn privet_abi_version() -> u32 {
    ABI_VERSION
}

/// Allocates `len` bytes (alignment 1) for the caller to write an input into. Returns 0 when out of memory.
/// `len == 0` returns a non-zero dangling pointer that must not be written; freeing it is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn privet_alloc(len: u32) -> u32 {
    let Ok(size) = usize::try_from(len) else { return 0 };
    if size == 0 {
        return u32::try_from(NonNull::<u8>::dangling().as_ptr().expose_provenance()).unwrap_or(0);
    }
    let Ok(layout) = Layout::from_size_align(size, 1) else { return 0 };
    // SAFETY: `layout` has a non-zero size, as `alloc` requires. A null result (out of memory) becomes 0.
    let ptr = unsafe { std::alloc::alloc(layout) };
    u32::try_from(ptr.expose_provenance()).unwrap_or(0)
}

/// Frees `len` bytes at `ptr`, which must come from `privet_alloc(len)` or be a result buffer `(ptr, len)`
/// returned by an export, and not be freed already. `ptr == 0` or `len == 0` is a no-op. A range outside
/// linear memory is refused (recorded as the last error) instead of being freed.
#[unsafe(no_mangle)]
pub extern "C" fn privet_free(ptr: u32, len: u32) {
    if ptr == 0 || len == 0 {
        return;
    }
    if !in_bounds(ptr, len) {
        set_error(&Failure::new(ErrorCode::HostFailure, format!("abi: free of `{ptr}+{len}` outside linear memory")));
        return;
    }
    let (Ok(addr), Ok(size)) = (usize::try_from(ptr), usize::try_from(len)) else { return };
    let Ok(layout) = Layout::from_size_align(size, 1) else { return };
    // SAFETY: by the documented contract (ABI.md, "Memory"), `ptr` was returned by `privet_alloc(len)`
    // (allocated with this same layout) or is a result buffer of exactly `len` bytes created by
    // `write_output` (a `Box<[u8]>` with layout (len, 1)), and it has not been freed before. The range was
    // checked to be inside linear memory.
    unsafe { std::alloc::dealloc(std::ptr::with_exposed_provenance_mut::<u8>(addr), layout) }
}

/// Loads a packed bundle from `ptr..ptr+len`. Returns its handle (≥ 1), or 0 on failure (see
/// `privet_last_error`). The input buffer stays the caller's.
#[unsafe(no_mangle)]
pub extern "C" fn privet_load(ptr: u32, len: u32) -> u32 {
    clear_error();
    let result = read_input(ptr, len).and_then(|bytes| with_registry(|r| r.load(&bytes)));
    match result {
        Ok(handle) => handle,
        Err(f) => {
            set_error(&f);
            0
        }
    }
}

/// Drops the bundle behind `handle`. Returns 0, or -1 when no bundle has that handle.
#[unsafe(no_mangle)]
pub extern "C" fn privet_unload(handle: u32) -> i32 {
    clear_error();
    match with_registry(|r| r.unload(handle)) {
        Ok(()) => 0,
        Err(f) => {
            set_error(&f);
            -1
        }
    }
}

fn json_result(result: Result<Vec<u8>, Failure>) -> u64 {
    match result {
        Ok(bytes) => write_output(bytes),
        Err(f) => {
            set_error(&f);
            0
        }
    }
}

/// The bundle's info JSON (name, version, hash, policies …), or 0 on failure.
#[unsafe(no_mangle)]
pub extern "C" fn privet_info(handle: u32) -> u64 {
    clear_error();
    json_result(with_registry(|r| r.info(handle)))
}

/// The bundle's policy table: a JSON array of every policy's `PolicyInfo` in load order, or 0 on failure.
/// A host fetches it once per loaded bundle to expand compact decisions (ABI 1.1).
#[unsafe(no_mangle)]
pub extern "C" fn privet_policies(handle: u32) -> u64 {
    clear_error();
    json_result(with_registry(|r| r.policies(handle)))
}

fn decide_with(handle: u32, ptr: u32, len: u32, batch: bool, form: Form) -> u64 {
    clear_error();
    let (bytes, failure) = with_registry(|r| match read_input(ptr, len) {
        Ok(input) if batch => r.decide_batch(handle, &input, form),
        Ok(input) => r.decide(handle, &input, form),
        Err(f) => (r.deny(handle, &f, batch, form), Some(f)),
    });
    if let Some(f) = &failure {
        set_error(f);
    }
    write_output(bytes)
}

/// Decides one request (JSON). Always returns a decision JSON (a deny carrying `errors` on any failure);
/// 0 only if the result cannot be handed back.
#[unsafe(no_mangle)]
pub extern "C" fn privet_decide(handle: u32, ptr: u32, len: u32) -> u64 {
    decide_with(handle, ptr, len, false, Form::Full)
}

/// Decides a JSON array of requests; returns a JSON array of decisions in the same order.
#[unsafe(no_mangle)]
pub extern "C" fn privet_decide_batch(handle: u32, ptr: u32, len: u32) -> u64 {
    decide_with(handle, ptr, len, true, Form::Full)
}

/// `privet_decide` with the decision in the compact form (ABI 1.1): the host rebuilds `determining`,
/// `obligations` and `bundle` from the policy table (`privet_policies`) and the hash it knows.
#[unsafe(no_mangle)]
pub extern "C" fn privet_decide_compact(handle: u32, ptr: u32, len: u32) -> u64 {
    decide_with(handle, ptr, len, false, Form::Compact)
}

/// `privet_decide_batch` with every decision in the compact form (ABI 1.1).
#[unsafe(no_mangle)]
pub extern "C" fn privet_decide_batch_compact(handle: u32, ptr: u32, len: u32) -> u64 {
    decide_with(handle, ptr, len, true, Form::Compact)
}

/// `privet_decide` with the decision as a packed binary record when it has no errors and the policy table
/// rebuilds it (ABI 1.2, `ABI.md` "Packed decisions"); any other decision as the compact JSON. The host
/// tells them apart by the first byte: `0x01` for a record, `{` for JSON.
#[unsafe(no_mangle)]
pub extern "C" fn privet_decide_packed(handle: u32, ptr: u32, len: u32) -> u64 {
    decide_with(handle, ptr, len, false, Form::Packed)
}

/// `privet_decide_batch` as a packed batch (ABI 1.2): a count, then per decision its length and either its
/// packed record or its compact JSON. A batch that fails at the ABI level (unknown handle, bad range,
/// invalid UTF-8) is the compact JSON array.
#[unsafe(no_mangle)]
pub extern "C" fn privet_decide_batch_packed(handle: u32, ptr: u32, len: u32) -> u64 {
    decide_with(handle, ptr, len, true, Form::Packed)
}

/// ABI 1.3: makes the guest-owned input buffer exactly `len` bytes long and returns its address, for the host
/// to write a request (or a batch) into and decide it with `privet_decide_packed_input` /
/// `privet_decide_batch_packed_input`, which read it in place. Its contents are unspecified after a resize
/// (the host rewrites them); the address and size stay valid until the next `privet_input` call. Returns 0 when
/// out of memory (the old buffer is then gone too). `len == 0` frees the buffer and returns a non-zero
/// dangling address that must not be written. Does not touch the last error.
#[unsafe(no_mangle)]
pub extern "C" fn privet_input(len: u32) -> u32 {
    let Ok(size) = usize::try_from(len) else { return 0 };
    INPUT.with(|cell| {
        let mut buf = cell.take();
        if buf.len() != size {
            // Not `resize`: the old contents need not survive, and a fresh buffer does not copy them.
            drop(buf);
            buf = Vec::new();
            if buf.try_reserve_exact(size).is_err() {
                return 0;
            }
            buf.resize(size, 0);
        }
        let addr = u32::try_from(buf.as_mut_ptr().expose_provenance()).unwrap_or(0);
        cell.set(buf);
        addr
    })
}

/// Decides the first `len` bytes of the input buffer into the output buffer; `batch` picks the batch decide.
/// The input is read in place (no copy) and the result is written into the reused output buffer: the host
/// reads it and does not free it.
fn decide_input(handle: u32, len: u32, batch: bool) -> u64 {
    clear_error();
    let input = INPUT.with(Cell::take);
    let mut out = OUTPUT.with(Cell::take);
    if out.capacity() > OUTPUT_KEEP {
        out = Vec::new();
    }
    out.clear();
    let failure = with_registry(|r| match usize::try_from(len).ok().and_then(|n| input.get(..n)) {
        Some(request) if batch => r.decide_batch_into(handle, request, Form::Packed, &mut out),
        Some(request) => r.decide_into(handle, request, Form::Packed, &mut out),
        None => {
            let f = Failure::new(
                ErrorCode::HostFailure,
                format!("abi: input length {len} exceeds the input buffer ({} bytes, see `privet_input`)", input.len()),
            );
            out.extend_from_slice(&r.deny(handle, &f, batch, Form::Packed));
            Some(f)
        }
    });
    INPUT.with(|cell| cell.set(input));
    if let Some(f) = &failure {
        set_error(f);
    }
    let result = match u32::try_from(out.len()) {
        Ok(n) => match u32::try_from(out.as_ptr().expose_provenance()) {
            Ok(addr) => (u64::from(addr) << 32) | u64::from(n),
            // Unreachable on wasm32 (usize is 32 bits).
            Err(_) => 0,
        },
        Err(_) => {
            set_error(&Failure::new(ErrorCode::LimitExceeded, "abi: result larger than 4 GiB"));
            0
        }
    };
    OUTPUT.with(|cell| cell.set(out));
    result
}

/// ABI 1.3: `privet_decide_packed` over the first `len` bytes of the input buffer (`privet_input`), read in
/// place. The result (a packed record or compact JSON, as `privet_decide_packed`'s) is `(ptr << 32) | len` in
/// the guest-owned output buffer: the host reads it before its next call into the module and does **not**
/// free it. `len` beyond the input buffer is a deny carrying a `host_failure` error.
#[unsafe(no_mangle)]
pub extern "C" fn privet_decide_packed_input(handle: u32, len: u32) -> u64 {
    decide_input(handle, len, false)
}

/// ABI 1.3: `privet_decide_batch_packed` over the first `len` bytes of the input buffer, with the result in
/// the output buffer (see `privet_decide_packed_input`).
#[unsafe(no_mangle)]
pub extern "C" fn privet_decide_batch_packed_input(handle: u32, len: u32) -> u64 {
    decide_input(handle, len, true)
}

/// Adds or replaces entities (a JSON array of cedar entities). Returns the store-update JSON, or 0.
#[unsafe(no_mangle)]
pub extern "C" fn privet_upsert_entities(handle: u32, ptr: u32, len: u32) -> u64 {
    clear_error();
    json_result(read_input(ptr, len).and_then(|input| with_registry(|r| r.upsert_entities(handle, &input))))
}

/// Removes entities (a JSON array of entity uids). Returns the store-update JSON, or 0.
#[unsafe(no_mangle)]
pub extern "C" fn privet_remove_entities(handle: u32, ptr: u32, len: u32) -> u64 {
    clear_error();
    json_result(read_input(ptr, len).and_then(|input| with_registry(|r| r.remove_entities(handle, &input))))
}

/// The last failed call's error JSON (a fresh buffer the caller frees), or 0 when the last call succeeded.
/// Does not clear the error.
#[unsafe(no_mangle)]
pub extern "C" fn privet_last_error() -> u64 {
    let bytes = LAST_ERROR.with(|e| {
        let v = e.take();
        let copy = v.clone();
        e.set(v);
        copy
    });
    if bytes.is_empty() { 0 } else { write_output(bytes) }
}

/// `bytes` as text, for the decision path: an all-ASCII input (checked eight bytes at a time) is valid UTF-8 as
/// it stands; any other goes through `std::str::from_utf8`, which reports where it is invalid. The module's std
/// is built with `optimize_for_size`, which makes `from_utf8` a byte-at-a-time loop (about 3% of a decision's
/// guest time in wasmtime, validating the request text), and requests are almost always ASCII.
pub(crate) fn text(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    if mem::is_ascii(bytes) {
        // SAFETY: every byte of `bytes` is below 0x80 (checked just above), and ASCII text is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes)
}

/// `memcmp` and `bcmp` for the module, replacing compiler-builtins' byte-at-a-time loop (wasm32 has no libc,
/// so every slice, string and key comparison of the engine ends in these; on a decision they were about 6% of
/// the guest's time in wasmtime). Compared eight bytes at a time; the first differing byte decides the sign,
/// as C's `memcmp` requires. compiler-builtins defines its versions as weak symbols, so these take their
/// place at link time; exported on wasm32 only (a native build keeps the C library's, and tests `compare`).
///
/// The comparison itself is safe code over two slices; it must not compare slices with `==` or `cmp`, which
/// would call back into `memcmp`.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod mem {
    /// `memcmp(a, b, n)`: negative, zero or positive as the first differing byte of `a` is below, equal to or
    /// above `b`'s (unsigned), zero when the `n` bytes are equal.
    ///
    /// # Safety
    ///
    /// C's contract: `a` and `b` are each readable for `n` bytes.
    #[cfg(target_arch = "wasm32")]
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        if n == 0 {
            return 0;
        }
        // SAFETY: the caller guarantees `a` is readable for `n > 0` bytes (so it is non-null); u8 needs no
        // alignment; the guest is single-threaded, so nothing writes these bytes while the borrow lives.
        let x = unsafe { std::slice::from_raw_parts(a, n) };
        // SAFETY: as above, for `b`.
        let y = unsafe { std::slice::from_raw_parts(b, n) };
        compare(x, y)
    }

    /// `bcmp(a, b, n)`: zero when the `n` bytes are equal, non-zero otherwise.
    ///
    /// # Safety
    ///
    /// As [`memcmp`].
    #[cfg(target_arch = "wasm32")]
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: the same contract as `memcmp`, which the caller upholds.
        unsafe { memcmp(a, b, n) }
    }

    /// Compares two slices of equal length: eight bytes at a time while they agree, then the first
    /// differing byte (found from the lowest set bit of the XOR of the little-endian words).
    pub(super) fn compare(x: &[u8], y: &[u8]) -> i32 {
        let (mut xs, mut ys) = (x.chunks_exact(8), y.chunks_exact(8));
        for (cx, cy) in xs.by_ref().zip(ys.by_ref()) {
            let (wx, wy) = (word(cx), word(cy));
            if wx != wy {
                let shift = (wx ^ wy).trailing_zeros() & !7;
                return i32::from((wx >> shift) as u8) - i32::from((wy >> shift) as u8);
            }
        }
        for (bx, by) in xs.remainder().iter().zip(ys.remainder()) {
            if bx != by {
                return i32::from(*bx) - i32::from(*by);
            }
        }
        0
    }

    /// True when every byte is below 0x80: the bytes OR-ed together 32 at a time (four words an iteration: the
    /// guest checks for an interrupt at every loop iteration), then eight at a time, then the tail.
    pub(super) fn is_ascii(bytes: &[u8]) -> bool {
        let mut blocks = bytes.chunks_exact(32);
        let mut high = 0u64;
        for b in blocks.by_ref() {
            let (x, y) = b.split_at(16);
            let ((x0, x1), (y0, y1)) = (x.split_at(8), y.split_at(8));
            high |= (word(x0) | word(x1)) | (word(y0) | word(y1));
        }
        let mut chunks = blocks.remainder().chunks_exact(8);
        for chunk in chunks.by_ref() {
            high |= word(chunk);
        }
        let tail = chunks.remainder().iter().fold(0u8, |acc, b| acc | b);
        high & 0x8080_8080_8080_8080 == 0 && tail < 0x80
    }

    /// Eight bytes as a little-endian u64 (`chunk` has exactly eight).
    fn word(chunk: &[u8]) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        u64::from_le_bytes(w)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::mem::compare;
    use super::text;

    /// `text` accepts exactly what `from_utf8` accepts, with the same error position, ASCII or not, for a
    /// non-ASCII or invalid byte at every position of inputs up to 72 bytes (two 32-byte blocks and a tail).
    #[test]
    fn text_agrees_with_from_utf8() {
        for n in 0..72usize {
            let ascii: Vec<u8> = (0..n).map(|i| b' ' + (i * 7 % 90) as u8).collect();
            assert_eq!(text(&ascii).ok(), std::str::from_utf8(&ascii).ok());
            for at in 0..n {
                for bad in [&[0x80u8][..], &[0xff], &[0xc3, 0xa9], &[0xe2, 0x82, 0xac], &[0xc3]] {
                    let mut b = ascii.clone();
                    b.splice(at..at + 1, bad.iter().copied());
                    let (got, want) = (text(&b), std::str::from_utf8(&b));
                    assert_eq!(got.ok(), want.ok(), "n {n} at {at} {bad:?}");
                    assert_eq!(
                        got.err().map(|e| e.valid_up_to()),
                        want.err().map(|e| e.valid_up_to()),
                        "n {n} at {at} {bad:?}"
                    );
                }
            }
        }
    }

    /// `compare` agrees in sign with slice ordering, for every length up to 40 and a difference at every
    /// position (including bytes above 0x7f, which compare unsigned).
    #[test]
    fn compare_orders_like_memcmp() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            assert_eq!(compare(&a, &a), 0);
            for at in 0..n {
                for delta in [1u8, 0x80, 0xff] {
                    let mut b = a.clone();
                    b[at] = b[at].wrapping_add(delta);
                    let want = a.cmp(&b) as i32;
                    assert_eq!(compare(&a, &b).signum(), want, "n {n} at {at} delta {delta}");
                    assert_eq!(compare(&b, &a).signum(), -want, "n {n} at {at} delta {delta}");
                }
            }
        }
    }
}
