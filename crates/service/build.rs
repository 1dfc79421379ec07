//! Puts libtorch's directory into the rpath of this crate's test and example
//! binaries, so they run without `LD_LIBRARY_PATH` (torch-sys links libtorch but
//! leaves the runtime search path to its users).
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{libtorch}/lib");
    }
}
