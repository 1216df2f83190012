//! Properties: no input crashes the parser, and every line is accounted for.

use nginx_forensics::analysis::TimeSpan;
use nginx_forensics::ingest::{self, IngestOptions};
use nginx_forensics::input::Source;
use nginx_forensics::parse::{FieldMap, Format, LineParser, parse_line};
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
        let mut data = b"{\"time\":\"1558723294\",\"status\":\"200\"}\n".to_vec();
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

/// A value as nginx may write it, or as a hostile client may make it.
fn logged_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("-".to_owned()),
        "[a-zA-Z0-9 /.:;()_-]{0,40}",
        "[a-z\"\\\\x0-9{}\\[\\],: é]{0,12}",
        Just("a\\\"b".to_owned()),
        Just("\\x22q\\x22".to_owned()),
    ]
}

/// Lines of one `log_format`, some with a key moved, a bare status or extra spaces, some broken.
fn lines_of_a_format() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let line = (logged_value(), logged_value(), logged_value(), 0u8..8, 0u32..86_400, 0u8..6);
    prop::collection::vec(line, 1..12).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(ua, host, path, variant, second, tweak)| {
                let time = 1_558_656_000 + second;
                let status = ["200", "302", "-", "2OO"][usize::from(variant % 4)];
                let status = if variant < 4 { format!("\"{status}\"") } else { status.to_owned() };
                let mut l = format!(
                    r#"{{"msec":"{time}.250","remote_addr":"","host":"{host}","request":"GET {path} HTTP/1.1","status": {status},"http_user_agent":"{ua}"}}"#
                );
                match tweak {
                    0 => l = l.replacen(r#""remote_addr":"","host""#, r#""host""#, 1),
                    1 => l = l.replacen(":\"", ": \"", 1),
                    _ => {}
                }
                let mut l = l.into_bytes();
                if tweak == 2 {
                    l.truncate(l.len() / 2); // possibly inside a character
                }
                l
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The JSON parser reads a line by the layout of the line before it when it can: the result
    /// must be exactly what a fresh parser (the general scanner) gives for that line alone.
    #[test]
    fn reading_by_layout_equals_the_general_scanner(lines in lines_of_a_format()) {
        let mut parser = LineParser::new(Format::Json, FieldMap::default());
        for line in &lines {
            prop_assert_eq!(parser.parse(line.as_slice()), parse_line(line, Format::Json));
        }
    }
}
