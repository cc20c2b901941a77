//! Formatted messages from firmware: the `format` firmware records formatted spans and events
//! under QEMU and drains them over UART0; bare-metal drains send no dictionary, so the format
//! strings (callsites of kind `Format`) come from the ELF alone, and `tree`/`dump` must render
//! every message from them and the argument records.
//!
//! Needs `qemu-system-arm` and the `thumbv7m-none-eabi` target (skipped loudly outside CI).

mod gdb_support;

use gdb_support::{build_firmware, qemu_available, run_to_exit, summary};
use tickspan_tests::{run_ok as ok, scratch};

#[test]
fn firmware_messages_render_from_the_elf() {
    if !qemu_available("qemu_format") {
        return;
    }
    let elf = build_firmware("format", "");
    let uart = scratch("qemu-format").join("uart.tspn");
    let (_, stdout) = run_to_exit(&elf, &uart);
    assert_eq!(summary(&stdout, "tickspan-format:")["requests"], 3);
    let (uart, elf) = (uart.to_str().unwrap(), elf.to_str().unwrap());

    let tree = ok(&["tree", uart, "--elf", elf]);
    for id in 1..=3 {
        for want in [
            format!("request {id} #"),
            format!("handle {:#06x}  ", id * 0x10),
            format!("• retry {id} of 3 (+"),
            format!("• slow -{}ms on flash (+", id * 5),
            format!("bytes={}", 512 * id),
        ] {
            assert!(tree.contains(&want), "{want:?} in {tree}");
        }
    }
    assert!(!tree.contains('{'), "every format rendered: {tree}");
    for id in 1..=3 {
        let at = tree.find(&format!("request {id} #")).unwrap();
        assert!(tree[at..].lines().nth(1).is_some_and(|l| l.starts_with("└─ io #")), "io under request {id}: {tree}");
    }

    let lines: Vec<serde_json::Value> =
        ok(&["dump", "--json", uart, "--elf", elf]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().all(|l| l["type"] != "callsite"), "no dictionary on the wire");
    let msgs: Vec<&str> =
        lines.iter().filter(|l| l["type"] == "message").filter_map(|l| l["message"].as_str()).collect();
    assert_eq!(msgs.len(), 12, "request, handle, retry, slow per request: {msgs:?}");
    assert_eq!(msgs[..4], ["request 1", "handle 0x0010", "retry 1 of 3", "slow -5ms on flash"]);
}
