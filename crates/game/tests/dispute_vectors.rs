//! Whole games as shared vectors: each scenario is played here by the solvers and
//! adversaries, refereed by the Rust rules, and written with every move to
//! `fixtures/vectors/disputes.json`. `forge test` replays the same moves against
//! the contracts and must reach the same outcome (contracts/test/Disputes.t.sol).
//! `REFUTE_BLESS=1 cargo test -p refute-game --test dispute_vectors` rewrites it.

use refute_core::commit::{commit_bytes, ChunkRange, CHUNK_SIZE};
use refute_core::hash::{to_hex, Hash};
use refute_core::reference::blocks;
use refute_core::testing::{every_op_model, long_reduction_models, random_input, random_requant, reference_run, Rng};
use refute_core::{Model, Tensor};
use refute_game::*;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

const CLOCK: u64 = 3600;

fn hex(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn hashes(h: &[Hash]) -> Vec<String> {
    h.iter().map(to_hex).collect()
}

fn range(r: &ChunkRange) -> Value {
    json!({"first": r.first, "chunks": hex(&r.chunk_bytes()), "proof": hashes(&r.proof)})
}

fn operands_json(v: &mut Value, o: &Operands) {
    v["spec"] = json!(hex(&o.spec));
    v["inputRoots"] = json!(hashes(&o.input_roots));
    v["inputTraceProofs"] = json!(o.input_trace_proofs.iter().map(|x| hashes(x)).collect::<Vec<_>>());
    v["inputs"] = json!(o.inputs.iter().map(range).collect::<Vec<_>>());
    v["weights"] = json!(o.weights.iter().map(range).collect::<Vec<_>>());
}

/// A move as the Solidity test replays it: every field present (unused ones empty).
fn move_json(side: Side, mv: &Move, warp: u64) -> Value {
    let empty: Vec<String> = vec![];
    let mut v = json!({
        "side": if side == Side::Executor { 0 } else { 1 },
        "kind": mv.kind(),
        "warp": warp,
        "nodes": empty, "choice": 0, "dtype": 0, "shape": Vec::<u32>::new(), "dataRoot": to_hex(&[0; 32]),
        "spec": "0x", "specProof": empty, "chunk": "0x", "elementInChunk": 0,
        "root": to_hex(&[0; 32]), "lastProof": empty, "prevState": "0x", "prevProof": empty,
        "inputRoots": empty, "inputTraceProofs": Vec::<Vec<String>>::new(),
        "inputs": Vec::<Value>::new(), "weights": Vec::<Value>::new(),
    });
    match mv {
        Move::RevealNodes(n) => v["nodes"] = json!(hashes(n)),
        Move::Pick { nodes, choice } => {
            v["nodes"] = json!(hashes(nodes));
            v["choice"] = json!(choice);
        }
        Move::OpenHeader { header, spec, spec_proof } => {
            v["dtype"] = json!(header.ty.dtype.code());
            v["shape"] = json!(header.ty.shape);
            v["dataRoot"] = json!(to_hex(&header.data_root));
            v["spec"] = json!(hex(spec));
            v["specProof"] = json!(hashes(spec_proof));
        }
        Move::RevealChunk(c) => v["chunk"] = json!(hex(&c[..])),
        Move::ProveStep(p) => {
            v["elementInChunk"] = json!(p.element_in_chunk);
            v["chunk"] = json!(hex(&p.chunk));
            operands_json(&mut v, &p.operands);
        }
        Move::NameElement { element_in_chunk, chunk, spec } => {
            v["elementInChunk"] = json!(element_in_chunk);
            v["chunk"] = json!(hex(&chunk[..]));
            v["spec"] = json!(hex(spec));
        }
        Move::OpenCheckpoints { root, last_proof } => {
            v["root"] = json!(to_hex(root));
            v["lastProof"] = json!(hashes(last_proof));
        }
        Move::ProveBlock(p) => {
            v["prevState"] = json!(hex(&p.prev_state));
            v["prevProof"] = json!(hashes(&p.prev_proof));
            operands_json(&mut v, &p.operands);
        }
        Move::Timeout => {}
    }
    v
}

enum Exec {
    Solver(TraceData),
    Silent,
}

enum Chal {
    Solver(TraceData),
    /// Plays honestly on the trace but never makes the one-step proof.
    GivesUp(TraceData),
    /// Picks the last child and proves the first element of the chunk.
    Griefer(TraceData),
}

/// Plays a game and returns the moves (with the seconds to warp before each) and
/// the outcome.
fn play(ctx: &GameContext, exec: &Exec, chal: &Chal) -> (Vec<Value>, Status) {
    let mut pos = Position::opening(ctx.trace_root, ctx.step_count, CLOCK, 0);
    let mut now = 0;
    let mut revealed = Revealed::default();
    let mut moves = vec![];
    while pos.status == Status::Open {
        let mv = match (pos.turn, exec, chal) {
            (Side::Executor, Exec::Solver(t), _) => executor_move(ctx.arity_log2, &pos, t).unwrap(),
            (Side::Executor, Exec::Silent, _) => None,
            (Side::Challenger, _, Chal::Solver(t)) => challenger_move(ctx.arity_log2, &pos, t, &revealed).unwrap(),
            (Side::Challenger, _, Chal::GivesUp(t)) => {
                if pos.phase == Phase::OneStep {
                    None
                } else {
                    challenger_move(ctx.arity_log2, &pos, t, &revealed).unwrap()
                }
            }
            (Side::Challenger, _, Chal::Griefer(t)) => match pos.phase {
                Phase::Trace | Phase::Data | Phase::Reduction => {
                    let nodes = revealed.below(pos.phase, ctx.arity_log2, pos.height, pos.index).unwrap();
                    let choice = nodes.len() - 1;
                    Some(Move::Pick { nodes, choice })
                }
                Phase::OneStep => {
                    // the honest proof of element 0, which is correct
                    let mut pretend = revealed.clone();
                    let mut c = revealed.chunk.unwrap();
                    c[0] ^= 1;
                    pretend.chunk = Some(c);
                    match challenger_move(ctx.arity_log2, &pos, t, &pretend).unwrap() {
                        Some(Move::ProveStep(mut p)) => {
                            p.chunk = revealed.chunk.unwrap();
                            Some(Move::ProveStep(p))
                        }
                        Some(Move::NameElement { element_in_chunk, spec, .. }) => {
                            Some(Move::NameElement { element_in_chunk, chunk: Box::new(revealed.chunk.unwrap()), spec })
                        }
                        other => other,
                    }
                }
                // the honest proof of the block it reached, which is correct
                Phase::Block => challenger_move(ctx.arity_log2, &pos, t, &revealed).unwrap(),
                _ => None,
            },
        };
        let (mv, warp) = match mv {
            Some(m) => (m, 1),
            None => (Move::Timeout, pos.last_move_at + pos.clock_of(pos.turn) + 1 - now),
        };
        now += warp;
        let side = if mv == Move::Timeout { pos.turn.other() } else { pos.turn };
        let before = pos.clone();
        pos = apply(ctx, &pos, pos.turn, &mv, now).expect("scenario moves are valid");
        match &mv {
            Move::RevealNodes(n) => revealed.record(before.phase, ctx.arity_log2, before.height, before.index, n),
            Move::RevealChunk(c) => revealed.chunk = Some(**c),
            _ => {}
        }
        moves.push(move_json(side, &mv, warp));
    }
    (moves, pos.status)
}

fn flip(t: &Tensor, element: usize) -> Tensor {
    let mut b = t.canonical_bytes();
    let size = t.ty().dtype.size();
    b[element * size + size - 1] ^= 1;
    Tensor::from_canonical_bytes(t.ty().clone(), &b).unwrap()
}

fn scenarios() -> Value {
    let model = Arc::new(every_op_model());
    let input = random_input(&mut Rng::new(42), model.input_type());
    let tensors = reference_run(&model, &input);
    let honest = TraceData::from_tensors(model.clone(), &tensors);
    let steps: Vec<CommittedStep> = tensors.iter().map(CommittedStep::of).collect();
    let last = tensors.len() - 1;

    let mut cheats: Vec<(&str, TraceData)> = vec![];
    let mut t = tensors.clone();
    t[last] = Tensor::from_i32([], vec![(t[last].get(0) as i32 + 1) % 10]).unwrap();
    cheats.push(("wrong-output", TraceData::from_tensors(model.clone(), &t)));
    let mut t = tensors.clone();
    t[4] = flip(&t[4], 100);
    cheats.push(("wrong-middle-step", TraceData::from_tensors(model.clone(), &t)));
    let mut t = tensors.clone();
    t[1] = flip(&t[1], 255);
    cheats.push(("one-wrong-element", TraceData::from_tensors(model.clone(), &t)));
    let mut s = steps.clone();
    s[3].ty.shape = vec![8, 4, 8];
    cheats.push(("wrong-shape", TraceData::new(model.clone(), s)));
    let mut s = steps.clone();
    s[8].padded[200] = 1;
    cheats.push(("non-zero-padding", TraceData::new(model.clone(), s)));

    let spec_tree = model.spec_tree();
    let n = model.step_count();
    let model_json = json!({
        "stepCount": n,
        "specRoot": to_hex(&model.spec_root()),
        "inputSpec": hex(&model.steps()[0].spec.encode()),
        "inputProof": hashes(&spec_tree.prove(&[0]).unwrap()),
        "outputSpec": hex(&model.steps()[n - 1].spec.encode()),
        "outputProof": hashes(&spec_tree.prove(&[n - 1]).unwrap()),
        "input": hex(&input.canonical_bytes()),
    });
    assert_eq!(commit_bytes(model.input_type(), &input.canonical_bytes()), honest.commitments()[0]);

    let mut out = vec![];
    let mut push = |name: String, arity: u32, posted: &TraceData, exec: Exec, chal: Chal, want: Status| {
        let ctx =
            GameContext { trace_root: posted.root(), step_count: n as u32, spec_root: model.spec_root(), arity_log2: arity, clock_seconds: CLOCK };
        let (moves, status) = play(&ctx, &exec, &chal);
        assert_eq!(status, want, "{name}");
        let tree = posted.tree();
        out.push(json!({
            "name": name,
            "arity": arity,
            "output": hex(posted.step(n - 1).bytes()),
            "traceRoot": to_hex(&posted.root()),
            "inputProof": hashes(&tree.prove(&[0]).unwrap()),
            "outputProof": hashes(&tree.prove(&[n - 1]).unwrap()),
            "executorWins": status == Status::ExecutorWon,
            "moves": moves,
        }));
    };
    for arity in [1, 2] {
        for (name, cheat) in &cheats {
            push(format!("{name}-arity{arity}"), arity, cheat, Exec::Solver(cheat.clone()), Chal::Solver(honest.clone()), Status::ChallengerWon);
        }
        push(format!("griefer-loses-arity{arity}"), arity, &honest, Exec::Solver(honest.clone()), Chal::Griefer(honest.clone()), Status::ExecutorWon);
        push(format!("silent-executor-arity{arity}"), arity, &cheats[1].1, Exec::Silent, Chal::Solver(honest.clone()), Status::ChallengerWon);
        push(
            format!("challenger-times-out-arity{arity}"),
            arity,
            &cheats[0].1,
            Exec::Solver(cheats[0].1.clone()),
            Chal::GivesUp(honest.clone()),
            Status::ExecutorWon,
        );
    }
    const _: () = assert!(CHUNK_SIZE == 256, "the vectors' chunk offsets assume 256-byte chunks");
    json!({"clockSeconds": CLOCK, "model": model_json, "scenarios": out})
}

/// The models of the gas table (docs/gas.md): one reducing step each, at the widths
/// the one-step budget must hold, with a name and a label for the table.
fn wide_models() -> Vec<(String, String, Model)> {
    use refute_core::{Op, StepDef};
    let mut rng = Rng::new(0x91de);
    let input = |shape: Vec<u32>| StepDef { name: "input".into(), op: Op::Input, inputs: vec![], weights: vec![], shape: Some(shape), dtype: None };
    let step =
        |name: &str, op: Op, weights: Vec<(String, Tensor)>| StepDef { name: name.into(), op, inputs: vec![0], weights, shape: None, dtype: None };
    let mut out = vec![];
    for k in [64u32, 1024, 4096, 16384, 131_071] {
        let w = Tensor::from_i8([2, k], rng.i8s(2 * k as usize)).unwrap();
        let q = random_requant(&mut rng, 2, k as usize);
        let defs = vec![input(vec![k]), step("fc", Op::Linear { relu: false }, vec![("w".into(), w), ("q".into(), q)])];
        out.push((format!("linear-k{k}"), format!("linear [{k}] -> [2]"), Model::new("wide", None, defs).unwrap()));
    }
    for (c, hw) in [(1u32, 28u32), (64, 32), (512, 8)] {
        let o = 8u32;
        let w = Tensor::from_i8([o, c, 3, 3], rng.i8s((o * c * 9) as usize)).unwrap();
        let q = random_requant(&mut rng, o as usize, (c * 9) as usize);
        let conv = Op::Conv2d { stride: [1, 1], padding: [1, 1], relu: true };
        let defs = vec![input(vec![c, hw, hw]), step("conv", conv, vec![("w".into(), w), ("q".into(), q)])];
        out.push((format!("conv3x3-c{c}"), format!("conv2d 3x3 [{c},{hw},{hw}] -> [{o},{hw},{hw}]"), Model::new("wide", None, defs).unwrap()));
    }
    for n in [10u32, 50_257] {
        let defs = vec![input(vec![n]), step("class", Op::Argmax, vec![])];
        out.push((format!("argmax-n{n}"), format!("argmax [{n}] -> []"), Model::new("wide", None, defs).unwrap()));
    }
    let gap = Op::AvgPool2d { kernel: [64, 64], stride: [64, 64], mult: 1 << 30, shift: 42 };
    out.push((
        "avgpool-global-64x64".into(),
        "avgpool2d 64x64 [8,64,64] -> [8,1,1]".into(),
        Model::new("wide", None, vec![input(vec![8, 64, 64]), step("gap", gap, vec![])]).unwrap(),
    ));
    let pool = Op::MaxPool2d { kernel: [2, 2], stride: [2, 2], padding: [0, 0] };
    out.push((
        "maxpool-2x2".into(),
        "maxpool2d 2x2 [16,32,32] -> [16,16,16]".into(),
        Model::new("wide", None, vec![input(vec![16, 32, 32]), step("pool", pool, vec![])]).unwrap(),
    ));
    let gmp = Op::MaxPool2d { kernel: [64, 64], stride: [64, 64], padding: [0, 0] };
    out.push((
        "maxpool-global-64x64".into(),
        "maxpool2d 64x64 [8,64,64] -> [8,1,1]".into(),
        Model::new("wide", None, vec![input(vec![8, 64, 64]), step("gmp", gmp, vec![])]).unwrap(),
    ));
    out
}

/// The model's registration data and input, as the Solidity replay needs them.
fn model_json(model: &Model, input: &Tensor) -> Value {
    let spec_tree = model.spec_tree();
    let n = model.step_count();
    json!({
        "stepCount": n,
        "specRoot": to_hex(&model.spec_root()),
        "inputSpec": hex(&model.steps()[0].spec.encode()),
        "inputProof": hashes(&spec_tree.prove(&[0]).unwrap()),
        "outputSpec": hex(&model.steps()[n - 1].spec.encode()),
        "outputProof": hashes(&spec_tree.prove(&[n - 1]).unwrap()),
        "input": hex(&input.canonical_bytes()),
    })
}

/// A scenario of the wide file: a posted trace, the players, the expected outcome.
#[allow(clippy::too_many_arguments)]
fn wide_scenario(
    name: String,
    label: String,
    model: &Arc<Model>,
    input: &Tensor,
    posted: &TraceData,
    exec: Exec,
    chal: Chal,
    arity: u32,
    want: Status,
) -> Value {
    let n = model.step_count();
    let ctx = GameContext { trace_root: posted.root(), step_count: n as u32, spec_root: model.spec_root(), arity_log2: arity, clock_seconds: CLOCK };
    let (moves, status) = play(&ctx, &exec, &chal);
    assert_eq!(status, want, "{name}");
    let tree = posted.tree();
    json!({
        "name": name,
        "label": label,
        "model": model_json(model, input),
        "arity": arity,
        "output": hex(posted.step(n - 1).bytes()),
        "traceRoot": to_hex(&posted.root()),
        "inputProof": hashes(&tree.prove(&[0]).unwrap()),
        "outputProof": hashes(&tree.prove(&[n - 1]).unwrap()),
        "executorWins": status == Status::ExecutorWon,
        "moves": moves,
    })
}

/// The gas table's disputes (a lie at the middle element of the one reducing step,
/// the honest challenger, arity 2) and, on the long-reduction models, every long
/// step's fraud and a griefer against the honest executor, for both arities.
fn wide_scenarios() -> Value {
    let mut out = vec![];
    let mut rng = Rng::new(0x5ca1e);
    for (name, label, model) in wide_models() {
        let model = Arc::new(model);
        let input = random_input(&mut rng, model.input_type());
        let tensors = reference_run(&model, &input);
        let honest = TraceData::from_tensors(model.clone(), &tensors);
        let mut t = tensors.clone();
        let last = t.len() - 1;
        t[last] = flip(&t[last], t[last].numel() / 2);
        let cheat = TraceData::from_tensors(model.clone(), &t);
        out.push(wide_scenario(name, label, &model, &input, &cheat, Exec::Solver(cheat.clone()), Chal::Solver(honest), 1, Status::ChallengerWon));
    }
    for model in long_reduction_models(&mut Rng::new(0x10e6)) {
        let model = Arc::new(model);
        let input = random_input(&mut rng, model.input_type());
        let tensors = reference_run(&model, &input);
        let honest = TraceData::from_tensors(model.clone(), &tensors);
        for arity in [1, 2] {
            for step in (1..model.step_count()).filter(|&i| blocks(&model.steps()[i].spec) > 1) {
                let mut t = tensors.clone();
                let element = 1.min(t[step].numel() - 1);
                t[step] = flip(&t[step], element);
                let cheat = TraceData::from_tensors(model.clone(), &t);
                let name = format!("{}-step{step}-fraud-arity{arity}", model.name());
                let label = format!("{} step {step} ({})", model.name(), model.steps()[step].spec.op);
                out.push(wide_scenario(
                    name,
                    label,
                    &model,
                    &input,
                    &cheat,
                    Exec::Solver(cheat.clone()),
                    Chal::Solver(honest.clone()),
                    arity,
                    Status::ChallengerWon,
                ));
            }
            let name = format!("{}-griefer-loses-arity{arity}", model.name());
            let label = format!("{} griefer", model.name());
            out.push(wide_scenario(
                name,
                label,
                &model,
                &input,
                &honest,
                Exec::Solver(honest.clone()),
                Chal::Griefer(honest.clone()),
                arity,
                Status::ExecutorWon,
            ));
        }
    }
    json!({"clockSeconds": CLOCK, "scenarios": out})
}

fn check_or_bless(path: &Path, text: &str, what: &str) {
    if std::env::var("REFUTE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(path, text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_else(|_| panic!("{what}; run with REFUTE_BLESS=1 to create it"));
    assert!(
        committed == text,
        "{what} differs from what the code produces; if deliberate, run REFUTE_BLESS=1 cargo test -p refute-game --test dispute_vectors"
    );
}

#[test]
fn wide_dispute_vectors_are_current() {
    let text = serde_json::to_string_pretty(&wide_scenarios()).unwrap() + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/vectors/wide-disputes.json");
    check_or_bless(&path, &text, "fixtures/vectors/wide-disputes.json");
}

#[test]
fn dispute_vectors_are_current() {
    let text = serde_json::to_string_pretty(&scenarios()).unwrap() + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/vectors/disputes.json");
    check_or_bless(&path, &text, "fixtures/vectors/disputes.json");
}
