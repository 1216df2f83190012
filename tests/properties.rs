//! Properties: no input crashes the parser, and every line is accounted for.

use nginx_forensics::analysis::TimeSpan;
use nginx_forensics::ingest::{self, IngestOptions};
use nginx_forensics::input::Source;
use nginx_forensics::parse::{Format, parse_line};
use proptest::prelude::*;

/// Byte soup biased towards what the parsers look for.
fn loggy_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\\x".to_vec()),
        Just(b"\\u".to_vec()),
        Just(b":".to_vec()),
        Just(b",".to_vec()),
        Just(b"[".to_vec()),
        Just(b"]".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\"time\":".to_vec()),
        Just(b"\"msec\":".to_vec()),
        Just(b"\"request\":\"GET / HTTP/1.1\"".to_vec()),
        Just(b"\"1558723294.123\"".to_vec()),
        Just(b"[24/May/2019:18:41:32 +0000]".to_vec()),
        Just(b"2019-05-24T18:41:32+00:00".to_vec()),
        Just(b"\xff\xfe\x00".to_vec()),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic_the_line_parsers(line in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_line(&line, Format::Json);
        let _ = parse_line(&line, Format::Combined);
    }

    #[test]
    fn loggy_bytes_never_panic_the_line_parsers(line in loggy_bytes()) {
        let _ = parse_line(&line, Format::Json);
        let _ = parse_line(&line, Format::Combined);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_line_is_parsed_malformed_or_skipped(
        lines in prop::collection::vec(prop_oneof![
            Just(b"{\"time\":\"1558723294\",\"status\":\"200\"}".to_vec()),
            Just(Vec::new()),
            Just(b"\0\0\0".to_vec()),
            loggy_bytes().prop_map(|mut l| { l.retain(|&b| b != b'\n'); l }),
        ], 1..60),
        chunk in 1usize..300,
        threads in 1usize..3,
    ) {
        // The first line is a record, so the input is detected as JSON.
        let mut data = b"{\"time\":\"1558723294\"}\n".to_vec();
        data.extend(lines.join(&b'\n'));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        std::fs::write(&path, &data).unwrap();
        let opts = IngestOptions { threads, chunk_bytes: chunk, max_line_bytes: 120, ..IngestOptions::default() };
        let out = ingest::run(&[Source::File(path)], &opts, TimeSpan::default).unwrap();
        let c = out.stats.inputs[0].counts;
        let expected = data.split(|&b| b == b'\n').count() as u64 - u64::from(data.ends_with(b"\n"));
        prop_assert_eq!(c.lines, expected);
        prop_assert_eq!(c.lines, c.parsed + c.malformed + c.skipped());
        for s in &out.stats.samples {
            prop_assert!(s.line >= 1 && s.line <= c.lines);
        }
    }
}
