//! Counting the requests of a batch, for its fuel budget: a batch call gets the per-call budget once per
//! request (see `instance.rs`), so a batch of 1,000 requests may use what 1,000 single calls may.

/// The number of elements of a top-level JSON array, found by one scan of the bytes (strings and nesting
/// are skipped; nothing is parsed or allocated). At least 1: input that is not an array, or is malformed,
/// counts as one request (the guest refuses it anyway).
pub(crate) fn count_requests(json: &[u8]) -> usize {
    let mut bytes = json.iter().copied().skip_while(u8::is_ascii_whitespace);
    if bytes.next() != Some(b'[') {
        return 1;
    }
    let (mut depth, mut in_string, mut escaped) = (1usize, false, false);
    let (mut commas, mut any) = (0usize, false);
    for b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
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
        if !b.is_ascii_whitespace() {
            any = true;
        }
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
        let many = format!("[{}]", vec![r#"{"id": 1, "context": {"x": [1, 2]}}"#; 1000].join(","));
        assert_eq!(count_requests(many.as_bytes()), 1000);
    }
}
