//! The bindings read Foundry artifacts; say clearly how to make them when missing.
use std::path::Path;

fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/out");
    for c in ["ModelRegistry", "InferenceOracle", "DisputeGame", "OneStepVerifier", "DigitConsumer"] {
        let artifact = out.join(format!("{c}.sol/{c}.json"));
        println!("cargo:rerun-if-changed={}", artifact.display());
        if !artifact.exists() {
            panic!(
                "missing contract artifact {}: build the contracts first (`cd contracts && forge build`, or run scripts/test.sh)",
                artifact.display()
            );
        }
    }
}
