//! Counting the requests of a batch, for its fuel budget: a batch call gets the per-call budget once per
//! request (see `instance.rs`), so a batch of 1,000 requests may use what 1,000 single calls may.

/// The number of elements of a top-level JSON array, found by one scan of the bytes (strings are skipped,
/// nesting is tracked; nothing is parsed or allocated: about 1 ns per byte, a few percent of what the guest
/// spends on the same batch). At least 1: input that is not an array, or is malformed, counts as one request (the guest refuses it anyway).
pub(crate) fn count_requests(json: &[u8]) -> usize {
    let Some(open) = json.iter().position(|b| !b.is_ascii_whitespace()) else { return 1 };
    if json[open] != b'[' {
        return 1;
    }
    let (mut i, mut depth, mut commas, mut any) = (open + 1, 1usize, 0usize, false);
    while let Some(&b) = json.get(i) {
        i += 1;
        match b {
            b'"' => {
                // Skip to the closing quote, stepping over escapes.
                loop {
                    let rest = json.get(i..).unwrap_or_default();
                    let Some(k) = rest.iter().position(|&c| c == b'"' || c == b'\\') else { return commas + 1 };
                    i += k + 1;
                    if rest[k] == b'"' {
                        break;
                    }
                    i += 1;
                }
            }
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            b',' if depth == 1 => commas += 1,
            _ => {}
        }
        any |= !b.is_ascii_whitespace();
    }
    if any { commas + 1 } else { 1 }
}

#[cfg(test)]
mod tests {
    use super::count_requests;

    #[test]
    fn counts_top_level_elements() {
        assert_eq!(count_requests(b"[]"), 1);
        assert_eq!(count_requests(b"  [ ]  "), 1);
        assert_eq!(count_requests(b"[{}]"), 1);
        assert_eq!(count_requests(br#"[{"a": [1, 2, {"b": ","}]}, {"c": "x\",]y"}, 3]"#), 3);
        assert_eq!(count_requests(br#"{"a": [1, 2]}"#), 1);
        assert_eq!(count_requests(b"not json"), 1);
        assert_eq!(count_requests(b""), 1);
        assert_eq!(count_requests(b"[1, 2"), 2);
        assert_eq!(count_requests(br#"["\\", "\\\"", 3]"#), 3);
        assert_eq!(count_requests(br#"["unterminated, 2"#), 1);
        assert_eq!(count_requests(br#"[1, "unterminated\"#), 2);
        let many = format!("[{}]", vec![r#"{"id": 1, "context": {"x": [1, 2]}}"#; 1000].join(","));
        assert_eq!(count_requests(many.as_bytes()), 1000);
    }
}
