//! Bindings generated from the Foundry artifacts in `contracts/out` (run
//! `forge build` in `contracts/` first; `scripts/test.sh` and `scripts/demo.sh` do).
#![allow(missing_docs, clippy::too_many_arguments)]

use alloy::sol;

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    ModelRegistry,
    "../../contracts/out/ModelRegistry.sol/ModelRegistry.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    InferenceOracle,
    "../../contracts/out/InferenceOracle.sol/InferenceOracle.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    DisputeGame,
    "../../contracts/out/DisputeGame.sol/DisputeGame.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    OneStepVerifier,
    "../../contracts/out/OneStepVerifier.sol/OneStepVerifier.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    DigitConsumer,
    "../../contracts/out/DigitConsumer.sol/DigitConsumer.json"
);
