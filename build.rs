//! Names the backend that the library and its tests compile, so that the code says which one
//! it means rather than spelling out the target conditions each time.
//!
//! `wsm_holder_locks`: the Linux backend, whose regions live exactly as long as some process
//! holds them (open-file-description locks on `/dev/shm` objects). Every other Unix system
//! (macOS), and Linux built with `--cfg wsm_portable`, has the portable backend instead.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(wsm_holder_locks)");
    println!("cargo::rerun-if-changed=build.rs");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let portable = std::env::var_os("CARGO_CFG_WSM_PORTABLE").is_some();
    if linux && !portable {
        println!("cargo::rustc-cfg=wsm_holder_locks");
    }
}
