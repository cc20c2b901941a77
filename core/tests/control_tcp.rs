//! Control messages over `transport::to_tcp`'s connection: this test plays the host, listening
//! for the drain, sending bytes back on the connection and reading the stream. Bytes that are
//! not a message are skipped and acknowledged as damaged once, a message split across two
//! sends is taken whole, and the acknowledgement comes after the recording marker it caused.
//! One test: the arming flag and the drain thread are global.
#![cfg(all(feature = "std", feature = "decode", not(feature = "disabled")))]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};
use tickspan::control::{Ack, Message, Op, Status, ACK_MARKER};
use tickspan::wire::{Decoder, Item};

/// The stream's acknowledgements and recording markers, in order: (is_ack, value).
fn control_records(stream: &[u8]) -> Vec<(bool, u64)> {
    let (mut names, mut out) = (HashMap::new(), Vec::new());
    Decoder::new()
        .feed(stream, &mut |item| match item {
            Item::Callsite(c) => {
                names.insert(c.id, c.name.to_owned());
            }
            Item::Record { callsite, a, b, .. } => {
                let v = u64::from(a) | u64::from(b) << 32;
                match names.get(&callsite).map(String::as_str) {
                    Some(ACK_MARKER) => out.push((true, v)),
                    Some(tickspan::arming::MARKER) => out.push((false, v)),
                    _ => {}
                }
            }
            _ => {}
        })
        .expect("a tickspan stream");
    out
}

#[test]
fn messages_come_back_on_the_connection_damage_and_splits_included() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let drain = tickspan::transport::to_tcp(listener.local_addr().unwrap()).expect("connect");
    let (mut host, _) = listener.accept().unwrap();
    host.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    tickspan::disarm();

    // Garbage, then an arm message in two pieces, 30 ms apart (three drain passes).
    let msg = Message { op: Op::Arm, seq: 0x5151, arg: 0 }.encode();
    let mut first = b"\x01\x02\x03".to_vec();
    first.extend_from_slice(&msg[..5]);
    host.write_all(&first).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    host.write_all(&msg[5..]).unwrap();

    let (mut stream, mut buf) = (Vec::new(), [0u8; 4096]);
    let applied = Ack { seq: 0x5151, op: Op::Arm as u8, status: Status::Applied }.value().into();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !control_records(&stream).contains(&(true, applied)) {
        assert!(Instant::now() < deadline, "no acknowledgement: {:?}", control_records(&stream));
        match host.read(&mut buf) {
            Ok(0) => panic!("the drain closed the connection"),
            Ok(n) => stream.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    assert!(tickspan::arming::armed());
    let damaged = Ack { seq: 0, op: 0, status: Status::Damaged }.value().into();
    // The disarm marker of this test, one damaged stretch, then the arm: its marker, its ack.
    let want = [(false, 0), (true, damaged), (false, 1), (true, applied)];
    assert_eq!(control_records(&stream), want);
    drop(host);
    // The host has gone: the drain's last writes may fail, which `finish` reports.
    let _ = drain.finish();
}
