//! The W3C Trace Context test suite's cases (`w3c/trace-context`, `test/test.py`: what a
//! conforming service must accept and refuse), the specification's examples, and round trips.

use super::*;
#[cfg(not(miri))]
use proptest::prelude::*;

const ID: u128 = 0x1234_5678_9012_3456_7890_1234_5678_9012;

fn ok(s: &str) -> TraceContext {
    TraceContext::from_traceparent(s).unwrap_or_else(|e| panic!("{s:?} refused: {e}"))
}

#[test]
fn traceparent_spec_examples() {
    let cx = ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_eq!((cx.trace_id(), cx.span_id()), (0x4bf92f3577b34da6a3ce929d0e0e4736, 0x00f067aa0ba902b7));
    assert!(cx.flags().sampled() && !cx.flags().random_trace_id());
    let cx = ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    assert!(!cx.flags().sampled());
    assert_eq!(ok("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03").flags().bits(), 3);
}

#[test]
fn traceparent_valid_cases_of_the_test_suite() {
    for s in [
        "00-12345678901234567890123456789012-1234567890123456-01",
        // OWS around the value (test_traceparent_ows_handling).
        " 00-12345678901234567890123456789012-1234567890123456-01",
        "\t00-12345678901234567890123456789012-1234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456-01 ",
        "00-12345678901234567890123456789012-1234567890123456-01\t",
        "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
        // A future version (0xcc), with and without more fields (test_traceparent_version_0xcc).
        "cc-12345678901234567890123456789012-1234567890123456-01",
        "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
    ] {
        let cx = ok(s);
        assert_eq!((cx.trace_id(), cx.span_id(), cx.flags().bits()), (ID, 0x1234567890123456, 1), "{s:?}");
    }
}

#[test]
fn traceparent_invalid_cases_of_the_test_suite() {
    use ParseError::*;
    for (s, why) in [
        ("00-12345678901234567890123456789012-1234567890123456-01.", Format),
        ("00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like", Format),
        ("cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like", Format),
        ("ff-12345678901234567890123456789012-1234567890123456-01", Version),
        (".0-12345678901234567890123456789012-1234567890123456-01", Format),
        ("0.-12345678901234567890123456789012-1234567890123456-01", Format),
        ("000-12345678901234567890123456789012-1234567890123456-01", Format),
        ("0000-12345678901234567890123456789012-1234567890123456-01", Format),
        ("0-12345678901234567890123456789012-1234567890123456-01", Format),
        ("00-00000000000000000000000000000000-1234567890123456-01", ZeroTraceId),
        ("00-.2345678901234567890123456789012-1234567890123456-01", Format),
        ("00-1234567890123456789012345678901.-1234567890123456-01", Format),
        ("00-123456789012345678901234567890123-1234567890123456-01", Format),
        ("00-1234567890123456789012345678901-1234567890123456-01", Format),
        ("00-12345678901234567890123456789012-0000000000000000-01", ZeroSpanId),
        ("00-12345678901234567890123456789012-.234567890123456-01", Format),
        ("00-12345678901234567890123456789012-123456789012345.-01", Format),
        ("00-12345678901234567890123456789012-12345678901234567-01", Format),
        ("00-12345678901234567890123456789012-123456789012345-01", Format),
        ("00-12345678901234567890123456789012-1234567890123456-.0", Format),
        ("00-12345678901234567890123456789012-1234567890123456-0.", Format),
        ("00-12345678901234567890123456789012-1234567890123456-001", Format),
        ("00-12345678901234567890123456789012-1234567890123456-1", Format),
        // Uppercase hex, empty, a future version shorter than 55 characters.
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", Format),
        ("", Format),
        ("cc-1234567890123456789012345678901-1234567890123456-01", Format),
        ("00-12345678901234567890123456789012-1234567890123456-0é", Format),
    ] {
        assert_eq!(TraceContext::from_traceparent(s), Err(why), "{s:?}");
    }
}

#[test]
fn injects_version_00_and_drops_reserved_flags() {
    let cx = ok("cc-12345678901234567890123456789012-1234567890123456-ff-more");
    assert_eq!(cx.to_string(), "00-12345678901234567890123456789012-1234567890123456-03");
    assert_eq!(TraceContext::new(0, 1, TraceFlags::default()), None);
    assert_eq!(TraceContext::new(1, 0, TraceFlags::default()), None);
    let child = cx.with_span_id(0xabc).unwrap();
    assert_eq!(child.to_string(), "00-12345678901234567890123456789012-0000000000000abc-03");
}

#[test]
fn grpc_trace_bin_example_of_the_binary_draft() {
    let bytes = [
        0, 0, 75, 249, 47, 53, 119, 179, 77, 166, 163, 206, 146, 157, 0, 14, 71, 54, 1, 52, 240, 103, 170, 11, 169,
        2, 183, 2, 1,
    ];
    let cx = TraceContext::from_grpc_trace_bin(&bytes).unwrap();
    assert_eq!(cx.trace_id(), 0x4bf92f3577b34da6a3ce929d000e4736);
    assert_eq!(cx.span_id(), 0x34f067aa0ba902b7);
    assert!(cx.flags().sampled());
    assert_eq!(cx.to_grpc_trace_bin(), bytes);
    // Padding after the fields, fields out of order, a later version: read.
    let padded = [&bytes[..], &[0xAA; 7]].concat();
    assert_eq!(TraceContext::from_grpc_trace_bin(&padded), Ok(cx));
    let mut reordered = vec![3u8, 2, 1, 1];
    reordered.extend_from_slice(&bytes[19..27]);
    reordered.extend_from_slice(&bytes[1..18]);
    assert_eq!(TraceContext::from_grpc_trace_bin(&reordered), Ok(cx));
    // Truncated, unknown field, missing field, zero id: refused.
    for bad in [&bytes[..0], &bytes[..28], &[0, 9, 1][..], &bytes[..27]] {
        assert_eq!(TraceContext::from_grpc_trace_bin(bad), Err(ParseError::Binary), "{bad:?}");
    }
    let mut zero = bytes;
    zero[2..18].fill(0);
    assert_eq!(TraceContext::from_grpc_trace_bin(&zero), Err(ParseError::ZeroTraceId));
}

#[test]
fn compact_form_is_25_bytes_and_checked() {
    let cx = ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
    let b = cx.to_bytes();
    assert_eq!(b.len(), 25);
    assert_eq!(b[0], 0x03);
    assert_eq!(&b[1..3], &[0x4b, 0xf9]);
    assert_eq!(TraceContext::from_bytes(&b), Ok(cx));
    assert_eq!(TraceContext::from_bytes(&b[..24]), Err(ParseError::Binary));
    let mut v1 = b;
    v1[0] |= 0x10;
    assert_eq!(TraceContext::from_bytes(&v1), Err(ParseError::Binary));
    assert_eq!(TraceContext::from_bytes(&[0; 25]), Err(ParseError::ZeroTraceId));
}

fn state(s: &str) -> Result<TraceState<'_>, TraceStateError> {
    TraceState::parse(s)
}

#[test]
fn tracestate_cases_of_the_test_suite() {
    let ts = state("foo=1,bar=2").unwrap();
    assert_eq!((ts.get("foo"), ts.get("bar"), ts.len()), (Some("1"), Some("2"), 2));
    // Empty header and members; OWS around members.
    assert!(state("").unwrap().is_empty());
    for s in ["foo=1 \t , \t bar=2, \t baz=3", "foo=1\t \t,\t \tbar=2,\t \tbaz=3"] {
        let ts = state(s).unwrap();
        assert_eq!(ts.members().collect::<Vec<_>>(), [("foo", "1"), ("bar", "2"), ("baz", "3")], "{s:?}");
    }
    for s in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t", "foo=1,,", ",foo=1"] {
        assert_eq!(state(s).unwrap().get("foo"), Some("1"), "{s:?}");
    }
    // Every allowed character in keys and values (test_tracestate_all_allowed_characters).
    let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    let value: String = (0x20u8..=0x2B).chain(0x2D..=0x3C).chain(0x3E..=0x7E).map(char::from).collect();
    for k in [key.to_string(), format!("{key}@a-z0-9_-*/")] {
        let s = format!("{k}={value}");
        assert_eq!(state(&s).unwrap().get(&k), Some(&*value), "{s:?}");
    }
    // Key lengths (test_tracestate_key_length_limit).
    let long = |n: usize| "z".repeat(n) + "=1";
    assert!(state(&long(256)).is_ok());
    assert_eq!(state(&long(257)), Err(TraceStateError::Key));
    assert!(state(&format!("{}@{}=1", "t".repeat(241), "v".repeat(14))).is_ok());
    assert_eq!(state(&format!("{}@v=1", "t".repeat(242))), Err(TraceStateError::Key));
    assert_eq!(state(&format!("t@{}=1", "v".repeat(15))), Err(TraceStateError::Key));
    // Invalid keys, vendor formats and values.
    for s in ["foo =1", "FOO=1", "foo.bar=1", "foo@=1,bar=2", "@foo=1,bar=2", "foo@@bar=1,bar=2", "foo@bar@baz=1,bar=2", "1foo=1", "novalue"] {
        assert_eq!(state(s), Err(TraceStateError::Key), "{s:?}");
    }
    for s in ["foo=bar=baz", "foo=,bar=3", "foo=\u{7f}", "foo=a\tb"] {
        assert!(state(s).is_err(), "{s:?}");
    }
    assert_eq!(state(&format!("foo={}", "v".repeat(257))), Err(TraceStateError::Value));
    // Duplicated keys (test_tracestate_duplicated_keys).
    for s in ["foo=1,foo=1", "foo=1,foo=2"] {
        assert_eq!(state(s), Err(TraceStateError::DuplicateKey), "{s:?}");
    }
    assert_eq!(TraceStateBuf::<512>::from_fields(&["foo=1", "foo=2"]).err(), Some(TraceStateError::DuplicateKey));
}

#[test]
fn tracestate_member_limit_and_combined_fields() {
    let fields: Vec<String> = (0..4)
        .map(|f| (f * 10 + 1..=(f * 10 + 10).min(32)).map(|i| format!("bar{i:02}={i:02}")).collect::<Vec<_>>().join(","))
        .collect();
    let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
    let buf = TraceStateBuf::<512>::from_fields(&refs).unwrap();
    let ts = buf.get();
    assert_eq!((ts.len(), ts.get("bar01"), ts.get("bar32")), (32, Some("01"), Some("32")));
    assert_eq!(ts.as_str(), refs.join(","), "kept verbatim");
    let more = format!("{},bar33=33", refs[3]);
    let refs33 = [refs[0], refs[1], refs[2], more.as_str()];
    assert_eq!(TraceStateBuf::<512>::from_fields(&refs33).err(), Some(TraceStateError::TooManyMembers));
    assert_eq!(state(&refs33.join(",")), Err(TraceStateError::TooManyMembers));
    // Combined fields keep their order (test_tracestate_multiple_headers_different_keys).
    let buf = TraceStateBuf::<64>::from_fields(&["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]).unwrap();
    assert_eq!(buf.get().as_str(), "foo=1,bar=2,rojo=1,congo=2,baz=3");
}

#[test]
fn tracestate_mutation_puts_ours_first_and_truncates_whole_members() {
    let ts = state("congo=ucfJifl5GOE,rojo=00f067aa0ba902b7").unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(ts.write_with("rojo", "abc", &mut buf).unwrap(), "rojo=abc,congo=ucfJifl5GOE");
    let mut small = [0u8; 24];
    assert_eq!(ts.write_with("tickspan", "1", &mut small).unwrap(), "tickspan=1");
    // A long member goes before shorter ones at its right.
    let long = format!("big={}", "x".repeat(200));
    let s = format!("a=1,{long},b=2");
    let mut buf = [0u8; 100];
    assert_eq!(state(&s).unwrap().write_with("t", "0", &mut buf).unwrap(), "t=0,a=1,b=2");
    assert_eq!(ts.write_with("Bad", "1", &mut buf), Err(TraceStateError::Key));
    // 32 members already: ours pushes the last one out.
    let full: String = (0..32).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(",");
    let mut buf = [0u8; 512];
    let out = state(&full).unwrap().write_with("tickspan", "1", &mut buf).unwrap();
    let out = state(out).unwrap();
    assert_eq!((out.len(), out.get("tickspan"), out.get("k30"), out.get("k31")), (32, Some("1"), Some("v"), None));
}

#[test]
fn baggage_parses_tokens_values_and_properties() {
    let b = Baggage::parse("userId=alice, serverNode = DF%2028 ; p1 ;p2=v, isProduction=false").unwrap();
    assert_eq!(b.len(), 3);
    let node = b.get("serverNode").unwrap();
    assert_eq!((node.raw_value, node.properties), ("DF%2028", "p1 ;p2=v"));
    let mut out = [0u8; 16];
    assert_eq!(node.value(&mut out), Ok("DF 28"));
    assert_eq!(b.get("isProduction").unwrap().raw_value, "false");
    assert!(Baggage::parse("").unwrap().is_empty());
    for (s, e) in [
        ("key", BaggageError::Key),
        ("k ey=1", BaggageError::Key),
        ("k=a b", BaggageError::Value),
        ("k=a\"b", BaggageError::Value),
        ("k=1;=x", BaggageError::Property),
    ] {
        assert_eq!(Baggage::parse(s), Err(e), "{s:?}");
    }
    let mut out = [0u8; 4];
    assert_eq!(Baggage::parse("k=%zz").unwrap().get("k").unwrap().value(&mut out), Err(BaggageError::Encoding));
    assert_eq!(Baggage::parse("k=%ff").unwrap().get("k").unwrap().value(&mut out), Err(BaggageError::Encoding));
    assert_eq!(Baggage::parse("k=12345").unwrap().get("k").unwrap().value(&mut out), Err(BaggageError::BufferFull));
    // Bounded: 64 members, 8192 bytes.
    let many: String = (0..65).map(|i| format!("k{i}=1")).collect::<Vec<_>>().join(",");
    assert_eq!(Baggage::parse(&many), Err(BaggageError::TooManyMembers));
    assert_eq!(Baggage::parse(&format!("k={}", "v".repeat(8192))), Err(BaggageError::TooLong));
}

#[test]
fn baggage_writer_rolls_back_what_does_not_fit() {
    let mut buf = [0u8; 12];
    let mut w = BaggageWriter::new(&mut buf);
    w.push("a", "1").unwrap();
    assert_eq!(w.push("bb", "12345678"), Err(BaggageError::BufferFull));
    assert_eq!(w.push("not a token", "1"), Err(BaggageError::Key));
    w.push("c", "%").unwrap();
    assert_eq!(w.as_str(), "a=1,c=%25");
}

#[cfg(not(miri))]
fn contexts() -> impl Strategy<Value = TraceContext> {
    (1..=u128::MAX, 1..=u64::MAX, any::<u8>()).prop_map(|(t, s, f)| TraceContext::new(t, s, TraceFlags::new(f)).unwrap())
}

// No unsafe code here: the property runs stay out of Miri, where they would take minutes.
#[cfg(not(miri))]
proptest! {
    #[test]
    fn every_form_round_trips(cx in contexts()) {
        let mut buf = [0u8; 55];
        let text = cx.write_traceparent(&mut buf);
        prop_assert_eq!(TraceContext::from_traceparent(text), Ok(cx));
        prop_assert_eq!(TraceContext::from_bytes(&cx.to_bytes()), Ok(cx));
        prop_assert_eq!(TraceContext::from_grpc_trace_bin(&cx.to_grpc_trace_bin()), Ok(cx));
    }

    #[test]
    fn arbitrary_input_never_panics(s in ".{0,80}", b in proptest::collection::vec(any::<u8>(), 0..40)) {
        let _ = TraceContext::from_traceparent(&s);
        let _ = TraceContext::from_bytes(&b);
        let _ = TraceContext::from_grpc_trace_bin(&b);
        let _ = TraceState::parse(&s).map(|t| t.members().count());
        let _ = Baggage::parse(&s).map(|bg| bg.members().count());
    }

    #[test]
    fn tracestate_members_round_trip(members in proptest::collection::btree_map("[a-z][a-z0-9_*/-]{0,10}", "[!-+\\--<>-~]{1,12}", 0..32)) {
        let s: Vec<String> = members.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let s = s.join(" , ");
        let ts = TraceState::parse(&s).unwrap();
        prop_assert_eq!(ts.len(), members.len());
        for (k, v) in &members {
            prop_assert_eq!(ts.get(k), Some(v.as_str()));
        }
    }

    #[test]
    fn baggage_values_round_trip(values in proptest::collection::vec(".{0,12}", 0..8)) {
        let mut buf = [0u8; 1024];
        let mut w = BaggageWriter::new(&mut buf);
        for (i, v) in values.iter().enumerate() {
            w.push(&format!("k{i}"), v).unwrap();
        }
        let b = Baggage::parse(w.as_str()).unwrap();
        prop_assert_eq!(b.len(), values.len());
        let mut out = [0u8; 64];
        for (m, v) in b.members().zip(&values) {
            prop_assert_eq!(m.value(&mut out).unwrap(), v.as_str());
        }
    }
}
