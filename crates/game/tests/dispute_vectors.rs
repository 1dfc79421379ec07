//! Whole games as shared vectors: each scenario is played here by the solvers and
//! adversaries, refereed by the Rust rules, and written with every move to
//! `fixtures/vectors/disputes.json`. `forge test` replays the same moves against
//! the contracts and must reach the same outcome (contracts/test/Disputes.t.sol).
//! `REFUTE_BLESS=1 cargo test -p refute-game --test dispute_vectors` rewrites it.

use refute_core::commit::{commit_bytes, ChunkOpening, CHUNK_SIZE};
use refute_core::hash::{to_hex, Hash};
use refute_core::testing::{every_op_model, random_input, reference_run, Rng};
use refute_core::Tensor;
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

fn opening(o: &ChunkOpening) -> Value {
    json!({"chunkIndices": o.indices, "chunks": hex(&o.chunk_bytes()), "proof": hashes(&o.proof)})
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
            v["spec"] = json!(hex(&p.spec));
            v["inputRoots"] = json!(hashes(&p.input_roots));
            v["inputTraceProofs"] = json!(p.input_trace_proofs.iter().map(|x| hashes(x)).collect::<Vec<_>>());
            v["inputs"] = json!(p.inputs.iter().map(opening).collect::<Vec<_>>());
            v["weights"] = json!(p.weights.iter().map(opening).collect::<Vec<_>>());
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
                if pos.phase == Phase::OneStep { None } else { challenger_move(ctx.arity_log2, &pos, t, &revealed).unwrap() }
            }
            (Side::Challenger, _, Chal::Griefer(t)) => match pos.phase {
                Phase::Trace | Phase::Data => {
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
                        other => other,
                    }
                }
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
        let ctx = GameContext { trace_root: posted.root(), step_count: n as u32, spec_root: model.spec_root(), arity_log2: arity };
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
        push(
            format!("silent-executor-arity{arity}"),
            arity,
            &cheats[1].1,
            Exec::Silent,
            Chal::Solver(honest.clone()),
            Status::ChallengerWon,
        );
        push(
            format!("challenger-times-out-arity{arity}"),
            arity,
            &cheats[0].1,
            Exec::Solver(cheats[0].1.clone()),
            Chal::GivesUp(honest.clone()),
            Status::ExecutorWon,
        );
    }
    assert!(CHUNK_SIZE == 256);
    json!({"clockSeconds": CLOCK, "model": model_json, "scenarios": out})
}

#[test]
fn dispute_vectors_are_current() {
    let text = serde_json::to_string_pretty(&scenarios()).unwrap() + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/vectors/disputes.json");
    if std::env::var("REFUTE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).expect("fixtures/vectors/disputes.json; run with REFUTE_BLESS=1 to create it");
    assert!(committed == text, "fixtures/vectors/disputes.json differs from what the code produces; if deliberate, run REFUTE_BLESS=1 cargo test -p refute-game --test dispute_vectors");
}
