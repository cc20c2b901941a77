//! Turns the build-time configuration (environment variables, like `DEFMT_RTT_BUFFER_SIZE`)
//! into constants: ring capacity, number of contexts, and on Cortex-M the exception → ring map.
use std::{env, fmt::Write as _, fs, path::PathBuf};

fn var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn num(name: &str, default: usize) -> usize {
    match var(name) {
        None => default,
        Some(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    }
}

fn main() {
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let bare = os == "none";
    let cortex_m = bare && arch == "arm";
    println!("cargo::rustc-check-cfg=cfg(tickspan_cortex_m)");
    println!("cargo::rustc-check-cfg=cfg(armv6m)");
    println!("cargo::rustc-check-cfg=cfg(tickspan_thumb2)");
    if cortex_m {
        println!("cargo:rustc-cfg=tickspan_cortex_m");
        let target = env::var("TARGET").unwrap_or_default();
        if target.starts_with("thumbv6m") {
            println!("cargo:rustc-cfg=armv6m");
        }
        // Thumb-2 (ARMv7-M, ARMv8-M Mainline): `strd` stores a ring slot in two instructions.
        if target.starts_with("thumbv7") || target.starts_with("thumbv8m.main") {
            println!("cargo:rustc-cfg=tickspan_thumb2");
        }
    }

    // The target triple, for the wire stream header.
    println!("cargo:rustc-env=TICKSPAN_TARGET={}", env::var("TARGET").unwrap_or_default());

    let slots = num("TICKSPAN_RING_SLOTS", if bare { 128 } else { 4096 });
    assert!(
        slots.is_power_of_two() && (2..=1 << 24).contains(&slots),
        "TICKSPAN_RING_SLOTS={slots} must be a power of two between 2 and 2^24"
    );
    let default_contexts = if cortex_m { 2 } else if bare { 1 } else { 64 };
    let contexts = num("TICKSPAN_CONTEXTS", default_contexts);
    assert!((1..=255).contains(&contexts), "TICKSPAN_CONTEXTS={contexts} must be 1..=255");

    let mut out = String::new();
    writeln!(out, "/// Records per ring (`TICKSPAN_RING_SLOTS`, a power of two).").unwrap();
    writeln!(out, "pub const RING_SLOTS: usize = {slots};").unwrap();
    writeln!(out, "/// Number of rings, one per context (`TICKSPAN_CONTEXTS`).").unwrap();
    writeln!(out, "pub const CONTEXTS: usize = {contexts};").unwrap();

    if cortex_m {
        // Exception number (IPSR) → ring. Thread mode (0) uses ring 0; by default every
        // exception shares ring 1, which is sound while they share one priority (the reset
        // state of the NVIC). `TICKSPAN_EXCEPTION_RINGS="15:1,16:2"` assigns rings per
        // exception so that handlers that can preempt each other write different rings.
        let irqs = num("TICKSPAN_IRQS", 48);
        let table = 16 + irqs;
        let mut map = vec![if contexts > 1 { 1u8 } else { 0 }; table];
        map[0] = 0;
        if let Some(spec) = var("TICKSPAN_EXCEPTION_RINGS") {
            for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (e, r) = pair
                    .split_once(':')
                    .unwrap_or_else(|| panic!("TICKSPAN_EXCEPTION_RINGS: {pair:?} is not EXC:RING"));
                let e: usize = e.trim().parse().expect("exception number");
                let r: u8 = r.trim().parse().expect("ring number");
                assert!(e < table, "exception {e} is beyond TICKSPAN_IRQS");
                assert!((r as usize) < contexts, "ring {r} is beyond TICKSPAN_CONTEXTS");
                map[e] = r;
            }
        }
        writeln!(out, "/// Ring index of each exception number (IPSR).").unwrap();
        writeln!(out, "pub const EXCEPTION_RING: [u8; {table}] = {map:?};").unwrap();
    }

    let path = PathBuf::from(env::var("OUT_DIR").unwrap()).join("config.rs");
    fs::write(path, out).unwrap();
}
