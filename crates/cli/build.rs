//! Link-time settings of the `portmatrix` binary.

fn main() {
    // The binary is position-independent and holds about 290,000 relative
    // relocations (DataFusion's tables, clap's, ours): in the classic format
    // the dynamic loader reads 7 MB of them on every start, a tenth of a
    // one-host compile. Packed relative relocations (glibc 2.36, binutils
    // 2.38) describe the same addresses in a few kilobytes; the binary stays
    // position-independent.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
