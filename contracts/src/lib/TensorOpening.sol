// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Chunks of one tensor opened against its data root with one multiproof
///         (docs/commitments.md, "Proofs"): `chunks` holds 256 bytes per index,
///         concatenated, in the order of `chunkIndices` (strictly increasing).
struct TensorOpening {
    uint256[] chunkIndices;
    bytes chunks;
    bytes32[] proof;
}
