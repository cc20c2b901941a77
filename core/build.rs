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
        // Rings are chosen by the running exception's priority (core/src/context.rs); the
        // cache indexed by exception number covers 16 + TICKSPAN_IRQS entries (rounded up to a
        // power of two); exceptions beyond it look their ring up on every record.
        let irqs = num("TICKSPAN_IRQS", 48);
        let bits = (16 + irqs).next_power_of_two().trailing_zeros();
        assert!((4..=9).contains(&bits), "TICKSPAN_IRQS={irqs} must be at most 496");
        writeln!(out, "/// log2 of the exception → ring cache's length (`16 + TICKSPAN_IRQS`, rounded up).").unwrap();
        writeln!(out, "pub const EXCEPTION_TABLE_BITS: u32 = {bits};").unwrap();
        if var("TICKSPAN_EXCEPTION_RINGS").is_some() {
            println!(
                "cargo:warning=TICKSPAN_EXCEPTION_RINGS is ignored: tickspan now gives each interrupt \
                 priority its own ring (TICKSPAN_CONTEXTS = 1 + the priorities that record)"
            );
        }
    }

    let path = PathBuf::from(env::var("OUT_DIR").unwrap()).join("config.rs");
    fs::write(path, out).unwrap();
}
