//! Puts memory.x where the linker (cortex-m-rt's link.x) finds it.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    // defmt's linker script, for the binaries that log with defmt.
    if env::var_os("CARGO_FEATURE_DEFMT").is_some() {
        println!("cargo:rustc-link-arg-bin=rtt_defmt=-Tdefmt.x");
        println!("cargo:rustc-link-arg-bin=defmt_tree=-Tdefmt.x");
    }
}
