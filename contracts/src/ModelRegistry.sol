// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Commitments} from "./lib/Commitments.sol";
import {StepSpec} from "./lib/StepSpec.sol";

/// @title ModelRegistry
/// @notice Registers model ids (docs/commitments.md, "Model id") with what the
///         oracle needs to commit to inputs and outputs: the step count and the
///         input and output types, proven from the first and last step specs.
contract ModelRegistry {
    /// @notice A registered model.
    struct ModelInfo {
        bool registered;
        uint32 stepCount;
        bytes32 specRoot;
        address registrant;
        uint8 inputDType;
        uint8 outputDType;
        uint32[] inputShape;
        uint32[] outputShape;
        string uri;
    }

    mapping(bytes32 => ModelInfo) private models;

    /// @notice A model was registered.
    event ModelRegistered(bytes32 indexed modelId, address indexed registrant, uint32 stepCount, bytes32 specRoot, string uri);

    error AlreadyRegistered(bytes32 modelId);
    error NoSteps();
    error FirstStepNotInput(uint8 op);
    error SpecNotInModel(uint256 step);
    error UnknownModel(bytes32 modelId);

    /// @notice Registers the model with `stepCount` steps and spec root `specRoot`,
    ///         given the specs of its first and last steps and their proofs.
    /// @return modelId keccak256(0x06 ‖ stepCount ‖ specRoot)
    function register(
        uint32 stepCount,
        bytes32 specRoot,
        bytes calldata inputSpec,
        bytes32[] calldata inputProof,
        bytes calldata outputSpec,
        bytes32[] calldata outputProof,
        string calldata uri
    ) external returns (bytes32 modelId) {
        if (stepCount == 0) revert NoSteps();
        modelId = Commitments.modelId(stepCount, specRoot);
        if (models[modelId].registered) revert AlreadyRegistered(modelId);
        uint256 h = Commitments.height(stepCount);
        if (Commitments.singleRoot(Commitments.SPEC_NODE, h, 0, Commitments.specLeaf(inputSpec), inputProof) != specRoot) {
            revert SpecNotInModel(0);
        }
        if (
            Commitments.singleRoot(Commitments.SPEC_NODE, h, stepCount - 1, Commitments.specLeaf(outputSpec), outputProof)
                != specRoot
        ) revert SpecNotInModel(stepCount - 1);
        StepSpec.Spec memory first = StepSpec.parse(inputSpec);
        if (first.op != StepSpec.OP_INPUT) revert FirstStepNotInput(first.op);
        StepSpec.Spec memory last = StepSpec.parse(outputSpec);
        ModelInfo storage m = models[modelId];
        m.registered = true;
        m.stepCount = stepCount;
        m.specRoot = specRoot;
        m.registrant = msg.sender;
        m.inputDType = first.out.dtype;
        m.inputShape = first.out.shape;
        m.outputDType = last.out.dtype;
        m.outputShape = last.out.shape;
        m.uri = uri;
        emit ModelRegistered(modelId, msg.sender, stepCount, specRoot, uri);
    }

    /// @notice Whether `modelId` is registered.
    function isRegistered(bytes32 modelId) external view returns (bool) {
        return models[modelId].registered;
    }

    /// @notice Everything known about a model; reverts for an unknown id.
    function getModel(bytes32 modelId) external view returns (ModelInfo memory) {
        ModelInfo memory m = models[modelId];
        if (!m.registered) revert UnknownModel(modelId);
        return m;
    }
}
