//! Writes the alloy bindings for the protocol's contracts from their Foundry
//! artifacts (the contract list lives here only), and says clearly how to make the
//! artifacts when they are missing.
use std::path::Path;
use std::time::{Duration, Instant};

/// The contracts the client binds, by their Solidity names.
const CONTRACTS: [&str; 5] = ["ModelRegistry", "InferenceOracle", "DisputeGame", "OneStepVerifier", "DigitConsumer"];

/// The longest this script waits for a contract build running beside cargo.
const WAIT_FOR_FORGE: Duration = Duration::from_secs(3600);

fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/out");
    // scripts/test.sh runs `forge build` (one core, for minutes) beside cargo's
    // first build, and names a file that exists until forge is done: cargo goes on
    // with every other crate meanwhile.
    if let Some(flag) = std::env::var_os("REFUTE_CONTRACTS_BUILDING") {
        let start = Instant::now();
        while Path::new(&flag).exists() {
            if start.elapsed() > WAIT_FOR_FORGE {
                panic!("waited {WAIT_FOR_FORGE:?} for the contract build (`{}` still exists)", Path::new(&flag).display());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let mut bindings = String::new();
    for c in CONTRACTS {
        let artifact = out.join(format!("{c}.sol/{c}.json"));
        println!("cargo:rerun-if-changed={}", artifact.display());
        if !artifact.exists() {
            panic!(
                "missing contract artifact {}: build the contracts first (`cd contracts && forge build`, or run scripts/test.sh)",
                artifact.display()
            );
        }
        let path = artifact.canonicalize().expect("an artifact that exists");
        bindings += &format!("alloy::sol!(\n    #[sol(rpc)]\n    #[derive(Debug)]\n    {c},\n    {:?}\n);\n\n", path.display().to_string());
    }
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("bindings.rs");
    std::fs::write(&dest, bindings).expect("writing the bindings");
}
