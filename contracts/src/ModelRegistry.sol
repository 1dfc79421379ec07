// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Commitments} from "./lib/Commitments.sol";
import {StepSpec, Spec} from "./lib/StepSpec.sol";

/// @title ModelRegistry
/// @notice Registers model ids (docs/commitments.md, "Model id") with what the
///         oracle needs to commit to inputs and outputs: the step count, the spec
///         root, and the input and output types, proven from the specs of the first
///         and last steps.
contract ModelRegistry {
    using StepSpec for Spec;
    using StepSpec for uint256;

    /// @notice A registered model, as `getModel` returns it.
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

    /// @dev Storage layout: one slot for the scalars, one for the spec root.
    struct Model {
        address registrant;
        uint32 stepCount; // 0: not registered (a model has at least its input step)
        uint8 inputDType;
        uint8 outputDType;
        bytes32 specRoot;
        uint32[] inputShape;
        uint32[] outputShape;
        string uri;
    }

    mapping(bytes32 => Model) private models;

    /// @notice `registrant` registered model `modelId` (metadata at `uri`).
    event ModelRegistered(bytes32 indexed modelId, address indexed registrant, uint32 stepCount, bytes32 specRoot, string uri);

    /// @notice The model id is already registered.
    error AlreadyRegistered(bytes32 modelId);
    /// @notice A model has at least its input step.
    error NoSteps();
    /// @notice Step 0 of a model must be the `input` op.
    error FirstStepNotInput(uint8 op);
    /// @notice The spec of `step` is not proven against the spec root.
    error SpecNotInModel(uint256 step);
    /// @notice No model with this id is registered.
    error UnknownModel(bytes32 modelId);

    /// @notice Registers the model with `stepCount` steps and spec root `specRoot`,
    ///         given the specs of its first and last steps and their single-leaf
    ///         proofs against the spec root. Step 0 must be the `input` op; both
    ///         specs must be well formed. Anyone may register; each id once.
    /// @param stepCount Number of steps, the input step included.
    /// @param specRoot Root of the spec tree (leaves `0x04 ‖ spec`, nodes tagged `0x05`).
    /// @param inputSpec Canonical bytes of step 0's spec.
    /// @param inputProof Siblings of leaf 0, bottom up.
    /// @param outputSpec Canonical bytes of step `stepCount - 1`'s spec.
    /// @param outputProof Siblings of leaf `stepCount - 1`, bottom up.
    /// @param uri Where the model's files can be found (not committed).
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
        Model storage m = models[modelId];
        if (m.stepCount != 0) revert AlreadyRegistered(modelId);
        uint256 h = Commitments.height(stepCount);
        if (Commitments.singleRoot(Commitments.SPEC_NODE, h, 0, Commitments.specLeafCalldata(inputSpec), inputProof) != specRoot) {
            revert SpecNotInModel(0);
        }
        if (Commitments.singleRoot(Commitments.SPEC_NODE, h, stepCount - 1, Commitments.specLeafCalldata(outputSpec), outputProof) != specRoot) {
            revert SpecNotInModel(stepCount - 1);
        }
        Spec first = StepSpec.read(inputSpec);
        if (first.opCode() != StepSpec.OP_INPUT) revert FirstStepNotInput(first.opCode());
        uint256 inputType = first.outType();
        uint256 outputType = StepSpec.read(outputSpec).outType();
        m.registrant = msg.sender;
        m.stepCount = stepCount;
        m.inputDType = inputType.dtype();
        m.outputDType = outputType.dtype();
        m.specRoot = specRoot;
        m.inputShape = inputType.shapeOf();
        m.outputShape = outputType.shapeOf();
        m.uri = uri;
        emit ModelRegistered(modelId, msg.sender, stepCount, specRoot, uri);
    }

    /// @notice Whether `modelId` is registered.
    function isRegistered(bytes32 modelId) external view returns (bool) {
        return models[modelId].stepCount != 0;
    }

    /// @notice What the dispute game needs of a model: its step count (0 if it is
    ///         not registered) and spec root.
    function modelRoot(bytes32 modelId) external view returns (uint32 stepCount, bytes32 specRoot) {
        Model storage m = models[modelId];
        return (m.stepCount, m.specRoot);
    }

    /// @notice What the oracle needs of a model: its step count (0 if it is not
    ///         registered) and its input and output types.
    function ioTypes(bytes32 modelId)
        external
        view
        returns (uint32 stepCount, uint8 inputDType, uint32[] memory inputShape, uint8 outputDType, uint32[] memory outputShape)
    {
        Model storage m = models[modelId];
        return (m.stepCount, m.inputDType, m.inputShape, m.outputDType, m.outputShape);
    }

    /// @notice Everything known about a model; reverts for an unknown id.
    function getModel(bytes32 modelId) external view returns (ModelInfo memory info) {
        Model storage m = models[modelId];
        if (m.stepCount == 0) revert UnknownModel(modelId);
        info = ModelInfo({
            registered: true,
            stepCount: m.stepCount,
            specRoot: m.specRoot,
            registrant: m.registrant,
            inputDType: m.inputDType,
            outputDType: m.outputDType,
            inputShape: m.inputShape,
            outputShape: m.outputShape,
            uri: m.uri
        });
    }
}
