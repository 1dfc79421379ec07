//! The solvers played against each other and against adversaries, refereed by the
//! contract's rules in Rust. The honest executor must win every game against any
//! challenger; the honest challenger must win every game against any cheat.

use proptest::prelude::*;
use refute_core::commit::CHUNK_SIZE;
use refute_core::hash::Hash;
use refute_core::reference::blocks;
use refute_core::testing::{every_op_model, long_reduction_models, random_input, random_model, reference_run, Rng};
use refute_core::{Model, Tensor};
use refute_game::position::reveal_levels;
use refute_game::*;
use std::sync::Arc;

const CLOCK: u64 = 100;

/// Who plays the executor's side.
enum ExecutorPlayer {
    /// Plays the solver on the trace it committed to.
    Solver(TraceData),
    /// Plays the solver until `after` moves, then sends nodes that do not hash to
    /// the current node (rejected), then stops.
    BadReveal(TraceData, usize),
    /// Plays the solver, but commits to other checkpoints for a named element.
    Checkpoints(TraceData, Lie),
    /// Never moves.
    Silent,
}

/// How a cheating executor commits to the checkpoints of an element it got wrong.
#[derive(Debug, Clone, Copy)]
enum Lie {
    /// The state after block `j` is off by one, and every later state is the honest
    /// fold of the wrong one (a lie that is consistent from `j` on).
    From(u64),
    /// Every leaf but the last is garbage.
    Garbage,
}

/// The leaves a cheating executor commits to for element `element` of `step`,
/// ending at the element `claimed` it revealed.
fn lying_leaves(trace: &TraceData, step: usize, element: u64, claimed: i64, lie: Lie) -> Vec<Hash> {
    use refute_core::reference::{blocks, eval_block, states_before_blocks, BlockValue, Elements};
    let s = &trace.model().steps()[step];
    let inputs: Vec<Tensor> = s.inputs.iter().map(|&j| trace.tensor(j as usize)).collect();
    let in_e: Vec<&dyn Elements> = inputs.iter().map(|t| t as &dyn Elements).collect();
    let w_e: Vec<&dyn Elements> = s.weights.iter().map(|t| t as &dyn Elements).collect();
    let n = blocks(&s.spec);
    let mut leaves: Vec<Hash> = match lie {
        Lie::Garbage => (0..n).map(|b| [b as u8 ^ 0x5a; 32]).collect(),
        Lie::From(j) => {
            let honest = states_before_blocks(&s.spec, element as usize, &in_e, &w_e);
            let mut state = honest[0].clone();
            (0..n)
                .map(|b| {
                    if b <= j {
                        // honest up to the lie
                        state = honest[b as usize].clone();
                    }
                    match eval_block(&s.spec, element as usize, b, &state, &in_e, &w_e) {
                        BlockValue::State(mut next) => {
                            if b == j {
                                next.0[0] += 1;
                            }
                            let leaf = next.leaf();
                            state = next;
                            leaf
                        }
                        BlockValue::Element(v) => refute_core::checkpoint::element_leaf(v),
                    }
                })
                .collect()
        }
    };
    *leaves.last_mut().unwrap() = refute_core::checkpoint::element_leaf(claimed);
    leaves
}

fn lying_move(ctx: &GameContext, pos: &Position, t: &TraceData, lie: Lie) -> Option<Move> {
    let tree = || refute_core::checkpoint::checkpoint_tree(lying_leaves(t, pos.step_index as usize, pos.element, pos.claimed, lie));
    match pos.phase {
        Phase::Checkpoints => {
            let tree = tree();
            let last = (pos.blocks - 1) as usize;
            Some(Move::OpenCheckpoints { root: tree.root(), last_proof: tree.prove(&[last]).unwrap() })
        }
        Phase::Reduction => {
            let tree = tree();
            let levels = reveal_levels(ctx.arity_log2, pos.height);
            Some(Move::RevealNodes(tree.descendants(pos.height, pos.index as usize, levels).unwrap()))
        }
        _ => executor_move(ctx.arity_log2, pos, t).unwrap(),
    }
}

/// Who plays the challenger's side.
enum ChallengerPlayer {
    /// The honest solver with the honest trace.
    Solver(TraceData),
    /// Picks pseudo-randomly and proves a pseudo-random element (griefing).
    Griefer(TraceData, Rng),
}

struct Outcome {
    status: Status,
    moves: usize,
    rejected: usize,
    /// Every phase the game passed through, in order, without repeats.
    phases: Vec<Phase>,
    /// The last position before the game ended.
    last: Position,
}

fn play(ctx: &GameContext, exec: ExecutorPlayer, chal: ChallengerPlayer) -> Outcome {
    play_paced(ctx, exec, chal, &mut |_, now| now + 1)
}

/// [`play`], each move sent at `pace(position, previous time)`.
fn play_paced(ctx: &GameContext, mut exec: ExecutorPlayer, mut chal: ChallengerPlayer, pace: &mut dyn FnMut(&Position, u64) -> u64) -> Outcome {
    let mut pos = Position::opening(ctx.trace_root, ctx.step_count, CLOCK, 1000);
    let mut now = 1000;
    let mut revealed = Revealed::default();
    let (mut moves, mut rejected) = (0, 0);
    let mut phases = vec![];
    let mut last = pos.clone();
    while pos.status == Status::Open {
        last = pos.clone();
        now = pace(&pos, now);
        let mv = match pos.turn {
            Side::Executor => match &mut exec {
                ExecutorPlayer::Solver(t) => executor_move(ctx.arity_log2, &pos, t).expect("the executor can always move"),
                ExecutorPlayer::BadReveal(t, after) => {
                    if moves < *after {
                        executor_move(ctx.arity_log2, &pos, t).unwrap()
                    } else if moves == *after {
                        let n = 1usize << reveal_levels(ctx.arity_log2, pos.height.max(1));
                        Some(Move::RevealNodes(vec![[7u8; 32]; n]))
                    } else {
                        None
                    }
                }
                ExecutorPlayer::Checkpoints(t, lie) => lying_move(ctx, &pos, t, *lie),
                ExecutorPlayer::Silent => None,
            },
            Side::Challenger => match &mut chal {
                ChallengerPlayer::Solver(t) => challenger_move(ctx.arity_log2, &pos, t, &revealed).expect("the challenger can always move"),
                ChallengerPlayer::Griefer(t, rng) => grief(ctx, &pos, t, &revealed, rng),
            },
        };
        let mv = match mv {
            Some(m) => m,
            None => {
                // the side to move is silent: wait out its clock and claim the timeout
                now = pos.last_move_at + pos.clock_of(pos.turn) + 1;
                Move::Timeout
            }
        };
        let before = pos.clone();
        if phases.last() != Some(&pos.phase) {
            phases.push(pos.phase);
        }
        match apply(ctx, &pos, pos.turn, &mv, now) {
            Ok(next) => {
                match &mv {
                    Move::RevealNodes(nodes) => revealed.record(before.phase, ctx.arity_log2, before.height, before.index, nodes),
                    Move::RevealChunk(c) => revealed.chunk = Some(**c),
                    _ => {}
                }
                pos = next;
                moves += 1;
            }
            Err(_) => {
                rejected += 1;
                moves += 1;
                assert!(rejected < 5, "a player keeps sending rejected moves");
            }
        }
    }
    Outcome { status: pos.status, moves, rejected, phases, last }
}

/// A griefing challenger: valid moves chosen without regard for the truth.
fn grief(ctx: &GameContext, pos: &Position, ours: &TraceData, revealed: &Revealed, rng: &mut Rng) -> Option<Move> {
    match pos.phase {
        Phase::Trace | Phase::Data | Phase::Reduction => {
            let nodes = revealed.below(pos.phase, ctx.arity_log2, pos.height, pos.index)?;
            let choice = rng.range(0, nodes.len() as i64 - 1) as usize;
            Some(Move::Pick { nodes, choice })
        }
        Phase::OneStep => {
            // name or prove a random element by the honest method, with the chunk it was shown
            let step = pos.step_index as usize;
            let chunk = revealed.chunk?;
            let spec = &ours.model().steps()[step].spec;
            let per = CHUNK_SIZE / spec.out.dtype.size();
            let first = pos.index as usize * per;
            let local = rng.range(0, (per.min(spec.out.numel() - first) - 1) as i64) as u32;
            // reuse the solver's proof building by pretending that element differs
            let mut pretend = revealed.clone();
            let mut c = chunk;
            c[local as usize * spec.out.dtype.size()] ^= 0x01;
            pretend.chunk = Some(c);
            match challenger_move(ctx.arity_log2, pos, ours, &pretend) {
                Ok(Some(Move::ProveStep(mut p))) => {
                    p.chunk = chunk;
                    Some(Move::ProveStep(p))
                }
                Ok(Some(Move::NameElement { element_in_chunk, spec, .. })) => {
                    Some(Move::NameElement { element_in_chunk, chunk: Box::new(chunk), spec })
                }
                _ => None,
            }
        }
        // the block it reached agrees with ours, but prove it anyway
        Phase::Block => challenger_move(ctx.arity_log2, pos, ours, revealed).ok().flatten(),
        _ => None,
    }
}

fn honest(model: &Arc<Model>, input: &Tensor) -> (Vec<Tensor>, TraceData) {
    let tensors = reference_run(model, input);
    let trace = TraceData::from_tensors(model.clone(), &tensors);
    (tensors, trace)
}

fn ctx(model: &Model, trace_root: Hash, arity_log2: u32) -> GameContext {
    GameContext { trace_root, step_count: model.step_count() as u32, spec_root: model.spec_root(), arity_log2, clock_seconds: CLOCK }
}

/// Recomputes every step after `from` from the (altered) tensors, like an executor
/// that cheats at one step and stays consistent afterwards.
fn recompute_after(model: &Model, tensors: &mut [Tensor], from: usize) {
    for i in from + 1..tensors.len() {
        let step = &model.steps()[i];
        let ins: Vec<&Tensor> = step.inputs.iter().map(|&j| &tensors[j as usize]).collect();
        let ws: Vec<&Tensor> = step.weights.iter().collect();
        let v = refute_core::reference::eval_all(&step.spec, &ins, &ws);
        tensors[i] = refute_core::testing::tensor_of(&step.spec.out, &v);
    }
}

fn flip(t: &Tensor, element: usize) -> Tensor {
    let mut bytes = t.canonical_bytes();
    let size = t.ty().dtype.size();
    bytes[element * size + size - 1] ^= 0x01;
    Tensor::from_canonical_bytes(t.ty().clone(), &bytes).unwrap()
}

fn cheat_outcome(model: &Arc<Model>, honest_trace: &TraceData, cheat: TraceData, arity: u32) -> Outcome {
    assert_ne!(cheat.root(), honest_trace.root(), "the cheat changes the trace");
    play(&ctx(model, cheat.root(), arity), ExecutorPlayer::Solver(cheat), ChallengerPlayer::Solver(honest_trace.clone()))
}

#[test]
fn wrong_output_loses() {
    let model = Arc::new(every_op_model());
    let input = random_input(&mut Rng::new(1), model.input_type());
    let (mut tensors, trace) = honest(&model, &input);
    let last = tensors.len() - 1;
    tensors[last] = Tensor::from_i32([], vec![(tensors[last].get(0) as i32 + 1) % 10]).unwrap();
    for arity in [1, 2, 3] {
        let out = cheat_outcome(&model, &trace, TraceData::from_tensors(model.clone(), &tensors), arity);
        assert_eq!(out.status, Status::ChallengerWon, "arity {arity}");
        assert_eq!(out.rejected, 0);
    }
}

#[test]
fn wrong_middle_step_loses_whether_or_not_later_steps_follow_it() {
    let model = Arc::new(every_op_model());
    let input = random_input(&mut Rng::new(2), model.input_type());
    let (tensors, trace) = honest(&model, &input);
    for step in 1..model.step_count() {
        for consistent in [false, true] {
            let mut t = tensors.clone();
            t[step] = flip(&t[step], t[step].numel() / 2);
            if consistent {
                recompute_after(&model, &mut t, step);
            }
            let out = cheat_outcome(&model, &trace, TraceData::from_tensors(model.clone(), &t), 1);
            assert_eq!(out.status, Status::ChallengerWon, "step {step}, consistent {consistent}");
        }
    }
}

#[test]
fn one_wrong_element_in_a_large_tensor_loses() {
    let model = Arc::new(every_op_model());
    let input = random_input(&mut Rng::new(3), model.input_type());
    let (mut tensors, trace) = honest(&model, &input);
    // step 1 is a [4, 8, 8] conv output: two chunks; change the last element only
    let n = tensors[1].numel();
    tensors[1] = flip(&tensors[1], n - 1);
    let out = cheat_outcome(&model, &trace, TraceData::from_tensors(model.clone(), &tensors), 1);
    assert_eq!(out.status, Status::ChallengerWon);
}

#[test]
fn a_wrong_shape_loses_at_the_header() {
    let model = Arc::new(every_op_model());
    let input = random_input(&mut Rng::new(4), model.input_type());
    let (tensors, trace) = honest(&model, &input);
    let mut steps: Vec<CommittedStep> = tensors.iter().map(CommittedStep::of).collect();
    steps[3].ty.shape = vec![8, 4, 8]; // same bytes, another shape
    let out = cheat_outcome(&model, &trace, TraceData::new(model.clone(), steps.clone()), 1);
    assert_eq!(out.status, Status::ChallengerWon);
    steps[3].ty = refute_core::TensorType::new(refute_core::DType::I32, [64]); // another dtype, same byte count
    let out = cheat_outcome(&model, &trace, TraceData::new(model.clone(), steps), 2);
    assert_eq!(out.status, Status::ChallengerWon);
}

#[test]
fn a_non_zero_padding_byte_loses_at_the_chunk() {
    let model = Arc::new(every_op_model());
    let input = random_input(&mut Rng::new(5), model.input_type());
    let (tensors, trace) = honest(&model, &input);
    let mut steps: Vec<CommittedStep> = tensors.iter().map(CommittedStep::of).collect();
    // step 8 is int8[10]: one chunk, 246 padding bytes
    steps[8].padded[200] = 1;
    let out = cheat_outcome(&model, &trace, TraceData::new(model.clone(), steps.clone()), 1);
    assert_eq!(out.status, Status::ChallengerWon);
    // a whole padding chunk: the linear output below has 3 chunks, padded to 4
    let m2 = Arc::new(wide_model());
    let input = random_input(&mut Rng::new(6), m2.input_type());
    let (t2, honest2) = honest(&m2, &input);
    let mut s2: Vec<CommittedStep> = t2.iter().map(CommittedStep::of).collect();
    let last_chunk_start = 3 * CHUNK_SIZE;
    assert_eq!(s2[1].padded.len(), 4 * CHUNK_SIZE);
    s2[1].padded[last_chunk_start + 17] = 9;
    let out = cheat_outcome(&m2, &honest2, TraceData::new(m2.clone(), s2), 1);
    assert_eq!(out.status, Status::ChallengerWon);
}

/// input [20] -> linear to 600 -> argmax: the linear output has 3 chunks (padded to 4).
fn wide_model() -> Model {
    use refute_core::{Op, StepDef};
    let mut rng = Rng::new(77);
    let defs = vec![
        StepDef { name: "input".into(), op: Op::Input, inputs: vec![], weights: vec![], shape: Some(vec![20]), dtype: None },
        StepDef {
            name: "fc".into(),
            op: Op::Linear { relu: false },
            inputs: vec![0],
            weights: vec![
                ("w".into(), Tensor::from_i8([600, 20], rng.i8s(12000)).unwrap()),
                ("q".into(), refute_core::testing::random_requant(&mut rng, 600, 20)),
            ],
            shape: None,
            dtype: None,
        },
        StepDef { name: "class".into(), op: Op::Argmax, inputs: vec![1], weights: vec![], shape: None, dtype: None },
    ];
    Model::new("wide", None, defs).unwrap()
}

#[test]
fn an_executor_that_stops_moving_loses_on_time() {
    let model = Arc::new(every_op_model());
    let input = random_input(&mut Rng::new(7), model.input_type());
    let (mut tensors, trace) = honest(&model, &input);
    tensors[4] = flip(&tensors[4], 0);
    let cheat = TraceData::from_tensors(model.clone(), &tensors);
    let out = play(&ctx(&model, cheat.root(), 1), ExecutorPlayer::Silent, ChallengerPlayer::Solver(trace.clone()));
    assert_eq!(out.status, Status::ChallengerWon);
    assert_eq!(out.moves, 1, "only the timeout");
}

#[test]
fn reveals_that_do_not_hash_are_rejected_and_the_executor_then_loses_on_time() {
    let model = Arc::new(every_op_model());
    let input = random_input(&mut Rng::new(8), model.input_type());
    let (mut tensors, trace) = honest(&model, &input);
    tensors[6] = flip(&tensors[6], 1);
    let cheat = TraceData::from_tensors(model.clone(), &tensors);
    for after in [0, 2, 4] {
        let out = play(&ctx(&model, cheat.root(), 1), ExecutorPlayer::BadReveal(cheat.clone(), after), ChallengerPlayer::Solver(trace.clone()));
        assert_eq!(out.status, Status::ChallengerWon);
        assert_eq!(out.rejected, 1);
    }
}

#[test]
fn the_honest_executor_beats_a_griefing_challenger() {
    let model = Arc::new(every_op_model());
    for seed in 0..40 {
        let input = random_input(&mut Rng::new(100 + seed), model.input_type());
        let (_, trace) = honest(&model, &input);
        for arity in [1, 2] {
            let out = play(
                &ctx(&model, trace.root(), arity),
                ExecutorPlayer::Solver(trace.clone()),
                ChallengerPlayer::Griefer(trace.clone(), Rng::new(seed)),
            );
            assert_eq!(out.status, Status::ExecutorWon, "seed {seed}, arity {arity}");
        }
    }
}

#[test]
fn the_honest_challenger_never_finds_a_disagreement_with_an_honest_trace() {
    let model = Arc::new(every_op_model());
    let input = random_input(&mut Rng::new(9), model.input_type());
    let (_, trace) = honest(&model, &input);
    let mut pos = Position::opening(trace.root(), model.step_count() as u32, CLOCK, 0);
    let mv = executor_move(1, &pos, &trace).unwrap().unwrap();
    let mut revealed = Revealed::default();
    if let Move::RevealNodes(n) = &mv {
        revealed.record(Phase::Trace, 1, pos.height, 0, n);
    }
    pos = apply(&ctx(&model, trace.root(), 1), &pos, Side::Executor, &mv, 1).unwrap();
    assert_eq!(challenger_move(1, &pos, &trace, &revealed), Err(SolverError::NoDisagreement));
}

#[test]
fn a_non_zero_trace_padding_leaf_loses_and_a_zero_one_does_not() {
    // step count 10: the trace tree has 16 leaves, 10..16 are padding
    let model = every_op_model();
    let c = ctx(&model, [0; 32], 1);
    let mut pos = Position::opening([0; 32], 10, CLOCK, 0);
    pos.turn = Side::Challenger;
    pos.height = 1;
    pos.index = 6; // the node over leaves 12 and 13
    for (leaf, want) in [([0u8; 32], Status::ExecutorWon), ([5u8; 32], Status::ChallengerWon)] {
        let nodes = vec![leaf, [0u8; 32]];
        pos.node = refute_core::merkle::subtree_root(refute_core::merkle::TreeKind::Trace, &nodes).unwrap();
        let next = apply(&c, &pos, Side::Challenger, &Move::Pick { nodes, choice: 0 }, 1).unwrap();
        assert_eq!(next.status, want);
    }
    // the input leaf: the challenger loses
    pos.index = 0;
    let nodes = vec![[3u8; 32], [4u8; 32]];
    pos.node = refute_core::merkle::subtree_root(refute_core::merkle::TreeKind::Trace, &nodes).unwrap();
    assert_eq!(apply(&c, &pos, Side::Challenger, &Move::Pick { nodes, choice: 0 }, 1).unwrap().status, Status::ExecutorWon);
}

#[test]
fn moves_out_of_turn_phase_or_time_are_rejected() {
    let model = Arc::new(every_op_model());
    let input = random_input(&mut Rng::new(10), model.input_type());
    let (_, trace) = honest(&model, &input);
    let c = ctx(&model, trace.root(), 1);
    let pos = Position::opening(trace.root(), 10, CLOCK, 0);
    let mv = executor_move(1, &pos, &trace).unwrap().unwrap();
    assert_eq!(apply(&c, &pos, Side::Challenger, &mv, 1), Err(Rejected::NotYourTurn));
    assert_eq!(apply(&c, &pos, Side::Executor, &Move::RevealChunk(Box::new([0; CHUNK_SIZE])), 1), Err(Rejected::WrongPhase(Phase::Trace)));
    assert_eq!(apply(&c, &pos, Side::Executor, &mv, CLOCK + 1), Err(Rejected::ClockExpired));
    assert_eq!(apply(&c, &pos, Side::Challenger, &Move::Timeout, CLOCK), Err(Rejected::ClockRunning));
    let after = apply(&c, &pos, Side::Executor, &mv, 30).unwrap();
    assert_eq!(after.executor_clock, CLOCK - 30);
    assert_eq!(after.turn, Side::Challenger);
    assert_eq!(apply(&c, &after, Side::Challenger, &Move::Timeout, 30 + CLOCK + 1).unwrap().status, Status::ExecutorWon);
}

/// Both sides move at the last second their clocks allow, so that every clock
/// runs down to zero: each side to move is raised to a quarter of the clock until
/// its extensions reach one whole clock, the honest side still wins, and the game
/// ends within four clocks of its opening.
#[test]
fn a_slow_game_is_extended_and_ends_within_four_clocks() {
    // a fraud in a long reduction: the game runs through every descent
    let model = long_models().remove(0);
    let input = random_input(&mut Rng::new(11), model.input_type());
    let (mut tensors, honest_trace) = honest(&model, &input);
    let step = long_steps(&model)[0];
    tensors[step] = flip(&tensors[step], 0);
    let cheat = TraceData::from_tensors(model.clone(), &tensors);
    for arity in [1, 2] {
        let c = ctx(&model, cheat.root(), arity);
        let ext = c.clock_extension();
        assert_eq!(ext, CLOCK / 4);
        let mut moves = 0;
        let mut pace = |pos: &Position, _: u64| {
            // the side to move has at least the extension, or has had its whole clock of it
            let (clock, granted) = match pos.turn {
                Side::Executor => (pos.executor_clock, pos.executor_extension),
                Side::Challenger => (pos.challenger_clock, pos.challenger_extension),
            };
            assert!(clock >= ext || granted == CLOCK, "{pos:?}");
            assert!(pos.executor_extension <= CLOCK && pos.challenger_extension <= CLOCK);
            assert!(pos.last_move_at + clock <= 1000 + 4 * CLOCK, "the game could outlast four clocks: {pos:?}");
            moves += 1;
            pos.last_move_at + clock
        };
        let out = play_paced(&c, ExecutorPlayer::Solver(cheat.clone()), ChallengerPlayer::Solver(honest_trace.clone()), &mut pace);
        assert_eq!(out.status, Status::ChallengerWon, "arity {arity}");
        assert_eq!(out.rejected, 0);
        // long enough a game that both sides used up every extension
        assert!(moves > 10, "{moves} moves");
        assert_eq!((out.last.executor_extension, out.last.challenger_extension), (CLOCK, CLOCK), "arity {arity}");
    }
}

#[test]
fn the_extension_raises_the_side_to_move_to_a_quarter_clock() {
    let model = Arc::new(every_op_model());
    let input = random_input(&mut Rng::new(12), model.input_type());
    let (mut tensors, honest_trace) = honest(&model, &input);
    let last = tensors.len() - 1;
    tensors[last] = flip(&tensors[last], 0);
    let cheat = TraceData::from_tensors(model.clone(), &tensors);
    let c = ctx(&model, cheat.root(), 1);
    let pos = Position::opening(cheat.root(), model.step_count() as u32, CLOCK, 0);
    // the executor reveals with 10 s left: the challenger (100 s left) is not extended
    let reveal = executor_move(1, &pos, &cheat).unwrap().unwrap();
    let after = apply(&c, &pos, Side::Executor, &reveal, 90).unwrap();
    assert_eq!((after.executor_clock, after.challenger_clock, after.executor_extension, after.challenger_extension), (10, CLOCK, 0, 0));
    // the challenger picks with 5 s left: the executor, to move with 10 s, is raised to 25
    let mut revealed = Revealed::default();
    let Move::RevealNodes(nodes) = &reveal else { panic!("a reveal") };
    revealed.record(Phase::Trace, 1, pos.height, 0, nodes);
    let pick = challenger_move(1, &after, &honest_trace, &revealed).unwrap().unwrap();
    let picked = apply(&c, &after, Side::Challenger, &pick, 90 + 95).unwrap();
    assert_eq!(picked.turn, Side::Executor);
    assert_eq!((picked.executor_clock, picked.challenger_clock, picked.executor_extension, picked.challenger_extension), (25, 5, 15, 0));
    // however fast the challenger was: the executor is to move with 10 s
    let quick = apply(&c, &after, Side::Challenger, &pick, 90 + 20).unwrap();
    assert_eq!((quick.executor_clock, quick.challenger_clock, quick.executor_extension), (25, 80, 15));
    // no extension when the side to move has the extension or more
    let mut rich = after.clone();
    rich.executor_clock = 60;
    let quick = apply(&c, &rich, Side::Challenger, &pick, 91).unwrap();
    assert_eq!((quick.executor_clock, quick.executor_extension), (60, 0));
    // a side whose extensions are spent is raised only by what is left of them
    let mut spent = after.clone();
    spent.executor_extension = CLOCK - 4;
    let late = apply(&c, &spent, Side::Challenger, &pick, 91).unwrap();
    assert_eq!((late.executor_clock, late.executor_extension), (14, CLOCK));
}

/// The models whose every reducing step needs the reduction descent.
fn long_models() -> Vec<Arc<Model>> {
    long_reduction_models(&mut Rng::new(0x10e6)).into_iter().map(Arc::new).collect()
}

/// The steps of `model` whose elements have several blocks.
fn long_steps(model: &Model) -> Vec<usize> {
    (1..model.step_count()).filter(|&i| blocks(&model.steps()[i].spec) > 1).collect()
}

#[test]
fn a_fraud_in_every_long_reduction_is_found_by_the_reduction_descent() {
    for model in long_models() {
        let input = random_input(&mut Rng::new(11), model.input_type());
        let (tensors, trace) = honest(&model, &input);
        for step in long_steps(&model) {
            for element in [0, tensors[step].numel() / 2, tensors[step].numel() - 1] {
                for arity in [1, 2, 3] {
                    let mut t = tensors.clone();
                    t[step] = flip(&t[step], element);
                    let out = cheat_outcome(&model, &trace, TraceData::from_tensors(model.clone(), &t), arity);
                    let name = format!("{} step {step} element {element} arity {arity}", model.name());
                    assert_eq!(out.status, Status::ChallengerWon, "{name}");
                    assert_eq!(out.rejected, 0, "{name}");
                    assert!(out.phases.ends_with(&[Phase::OneStep, Phase::Checkpoints, Phase::Reduction, Phase::Block]), "{name}: {:?}", out.phases);
                    // the lie is the element alone: the descent ends at the last block
                    assert_eq!(out.last.index, out.last.blocks - 1, "{name}");
                }
            }
        }
    }
}

#[test]
fn cheating_checkpoints_of_every_kind_lose() {
    for model in long_models() {
        let input = random_input(&mut Rng::new(12), model.input_type());
        let (tensors, trace) = honest(&model, &input);
        for step in long_steps(&model) {
            let n = blocks(&model.steps()[step].spec);
            let mut t = tensors.clone();
            t[step] = flip(&t[step], 1.min(t[step].numel() - 1));
            let cheat = TraceData::from_tensors(model.clone(), &t);
            let lies = (0..n).map(Lie::From).chain([Lie::Garbage]);
            for lie in lies {
                for arity in [1, 2] {
                    let c = ctx(&model, cheat.root(), arity);
                    let out = play(&c, ExecutorPlayer::Checkpoints(cheat.clone(), lie), ChallengerPlayer::Solver(trace.clone()));
                    let name = format!("{} step {step} {lie:?} arity {arity}", model.name());
                    assert_eq!(out.status, Status::ChallengerWon, "{name}");
                    assert_eq!(out.rejected, 0, "{name}");
                    assert_eq!(out.phases.last(), Some(&Phase::Block), "{name}");
                    if let Lie::From(j) = lie {
                        // the first leaf that differs is the lie's
                        assert_eq!(out.last.index, j.min(n - 1), "{name}");
                    } else {
                        assert_eq!(out.last.index, 0, "{name}");
                    }
                }
            }
        }
    }
}

#[test]
fn an_honest_executor_beats_challengers_that_pick_any_checkpoint() {
    for model in long_models() {
        let input = random_input(&mut Rng::new(13), model.input_type());
        let (_, trace) = honest(&model, &input);
        let mut reached = std::collections::BTreeSet::new();
        for seed in 0..60 {
            for arity in [1, 2] {
                let out = play(
                    &ctx(&model, trace.root(), arity),
                    ExecutorPlayer::Solver(trace.clone()),
                    ChallengerPlayer::Griefer(trace.clone(), Rng::new(seed)),
                );
                assert_eq!(out.status, Status::ExecutorWon, "{} seed {seed} arity {arity}", model.name());
                if out.last.phase == Phase::Block {
                    reached.insert((out.last.blocks, out.last.index));
                } else if out.last.phase == Phase::Reduction {
                    reached.insert((out.last.blocks, u64::MAX)); // a padding leaf
                }
            }
        }
        // the griefers reached the first and the last block of a reduction, and a
        // padding leaf where a reduction has one
        assert!(reached.iter().any(|&(_, b)| b == 0), "{}: {reached:?}", model.name());
        assert!(reached.iter().any(|&(n, b)| b + 1 == n), "{}: {reached:?}", model.name());
        let padded = long_steps(&model).iter().any(|&i| !blocks(&model.steps()[i].spec).is_power_of_two());
        assert_eq!(padded, reached.iter().any(|&(_, b)| b == u64::MAX), "{}: {reached:?}", model.name());
    }
}

/// A position of the long-vector model's linear step, named element 5, in `phase`.
fn named_position(model: &Model, trace: &TraceData, phase: Phase) -> (GameContext, Position) {
    let c = ctx(model, trace.root(), 1);
    let step = 1;
    let mut pos = Position::opening(trace.root(), model.step_count() as u32, CLOCK, 0);
    pos.step_index = step as u32;
    pos.spec_hash = model.steps()[step].spec.leaf_hash();
    pos.byte_len = model.steps()[step].spec.out.byte_len() as u64;
    pos.element = 5;
    pos.claimed = trace.tensor(step).get(5);
    pos.blocks = blocks(&model.steps()[step].spec);
    let tree = checkpoints(trace, step, 5);
    pos.checkpoint_root = tree.root();
    pos.phase = phase;
    (c, pos)
}

#[test]
fn long_reduction_moves_are_checked() {
    let model = long_models().swap_remove(1); // long-vector: linear of 3 blocks, lut, argmax of 2
    let input = random_input(&mut Rng::new(14), model.input_type());
    let (tensors, trace) = honest(&model, &input);
    let spec = model.steps()[1].spec.encode();
    let chunk = trace.step(1).chunk(0);
    // OneStep on the linear: proving at once is refused, naming is accepted
    let (c, mut pos) = named_position(&model, &trace, Phase::OneStep);
    pos.turn = Side::Challenger;
    pos.index = 0;
    pos.node = refute_core::commit::chunk_leaf(&chunk);
    pos.blocks = 0;
    let name = Move::NameElement { element_in_chunk: 5, chunk: Box::new(chunk), spec: spec.clone() };
    let named = apply(&c, &pos, Side::Challenger, &name, 1).unwrap();
    assert_eq!((named.phase, named.turn, named.element, named.blocks), (Phase::Checkpoints, Side::Executor, 5, 3));
    assert_eq!(named.claimed, tensors[1].get(5));
    let mut pretend = Revealed { chunk: Some(chunk), ..Revealed::default() };
    pretend.chunk.as_mut().unwrap()[5] ^= 1;
    let Some(Move::NameElement { .. }) = challenger_move(1, &pos, &trace, &pretend).unwrap() else { panic!("a long element is named") };
    let bad_element = Move::NameElement { element_in_chunk: 600, chunk: Box::new(chunk), spec: spec.clone() };
    assert_eq!(apply(&c, &pos, Side::Challenger, &bad_element, 1), Err(Rejected::BadElement));
    let other_spec = Move::NameElement { element_in_chunk: 5, chunk: Box::new(chunk), spec: model.steps()[2].spec.encode() };
    assert_eq!(apply(&c, &pos, Side::Challenger, &other_spec, 1), Err(Rejected::BadSpec));
    // the lut (one block) on the same terms: naming is refused
    let mut lut = pos.clone();
    lut.spec_hash = model.steps()[2].spec.leaf_hash();
    lut.node = refute_core::commit::chunk_leaf(&trace.step(2).chunk(0));
    let name_lut = Move::NameElement { element_in_chunk: 0, chunk: Box::new(trace.step(2).chunk(0)), spec: model.steps()[2].spec.encode() };
    assert_eq!(apply(&c, &lut, Side::Challenger, &name_lut, 1), Err(Rejected::ShortReduction));

    // Checkpoints: the honest root is accepted, a root whose last leaf is another value is not
    let open = executor_move(1, &named, &trace).unwrap().unwrap();
    let opened = apply(&c, &named, Side::Executor, &open, 2).unwrap();
    assert_eq!((opened.phase, opened.turn, opened.height), (Phase::Reduction, Side::Executor, 2));
    let mut other = named.clone();
    other.claimed += 1;
    assert_eq!(apply(&c, &other, Side::Executor, &open, 2), Err(Rejected::BadCheckpoints));
    assert!(matches!(executor_move(1, &other, &trace), Err(SolverError::NotOurNode(Phase::Checkpoints))));

    // Block: a proof of block 1 from the honest state is accepted (and loses against
    // the honest executor); a changed state, a state of the wrong size and a state for
    // block 0 are refused
    let (c, mut at) = named_position(&model, &trace, Phase::Block);
    at.turn = Side::Challenger;
    at.height = 0;
    at.index = 1;
    let tree = checkpoints(&trace, 1, 5);
    at.node = tree.leaf(1).unwrap();
    let mut revealed = Revealed::default();
    // what the descents revealed: the trace's leaves (step 1's input is proven with
    // them) and the checkpoint leaves
    revealed.record(Phase::Trace, 2, 2, 0, &trace.tree().descendants(2, 0, 2).unwrap());
    revealed.record(Phase::Reduction, 2, 2, 0, &tree.descendants(2, 0, 2).unwrap());
    let Some(Move::ProveBlock(proof)) = challenger_move(1, &at, &trace, &revealed).unwrap() else { panic!("a block proof") };
    assert_eq!(apply(&c, &at, Side::Challenger, &Move::ProveBlock(proof.clone()), 1).unwrap().status, Status::ExecutorWon);
    let mut changed = proof.clone();
    changed.prev_state[31] ^= 1;
    assert_eq!(apply(&c, &at, Side::Challenger, &Move::ProveBlock(changed), 1), Err(Rejected::BadPrevState));
    let mut at0 = at.clone();
    at0.index = 0;
    at0.node = tree.leaf(0).unwrap();
    assert_eq!(apply(&c, &at0, Side::Challenger, &Move::ProveBlock(proof.clone()), 1), Err(Rejected::BadPrevState));
    // a leaf that is not a state: proven against a root holding it, still refused
    let bytes = vec![7u8; 33];
    let mut leaves: Vec<Hash> = (0..3).map(|i| tree.leaf(i).unwrap()).collect();
    leaves[0] = refute_core::checkpoint::checkpoint_leaf_of_bytes(&bytes);
    let odd = refute_core::checkpoint::checkpoint_tree(leaves);
    let mut at_odd = at.clone();
    at_odd.checkpoint_root = odd.root();
    let odd_proof = BlockProof { prev_state: bytes, prev_proof: odd.prove(&[0]).unwrap(), operands: proof.operands.clone() };
    assert_eq!(apply(&c, &at_odd, Side::Challenger, &Move::ProveBlock(Box::new(odd_proof)), 1), Err(Rejected::BadPrevState));
    // proving at once in OneStep is refused for a long element, with block 0's operands
    let Some(Move::ProveBlock(first)) = challenger_move(1, &at0, &trace, &revealed).unwrap() else { panic!("a block proof") };
    assert!(first.prev_state.is_empty() && first.prev_proof.is_empty());
    let step_proof = OneStepProof { element_in_chunk: 5, chunk, operands: first.operands.clone() };
    assert_eq!(apply(&c, &pos, Side::Challenger, &Move::ProveStep(Box::new(step_proof)), 1), Err(Rejected::LongReduction(3)));
    assert_eq!(apply(&c, &at0, Side::Challenger, &Move::ProveBlock(first), 1).unwrap().status, Status::ExecutorWon);
}

#[test]
fn a_padding_checkpoint_leaf_decides_by_its_value() {
    // the long-vector linear has 3 blocks: checkpoint leaves 0..3, of which 3 is padding
    let model = long_models().swap_remove(1); // long-vector
    let input = random_input(&mut Rng::new(15), model.input_type());
    let (_, trace) = honest(&model, &input);
    let (c, mut pos) = named_position(&model, &trace, Phase::Reduction);
    pos.turn = Side::Challenger;
    pos.height = 1;
    pos.index = 1; // the node over leaves 2 and 3
    for (padding, want) in [([0u8; 32], Status::ExecutorWon), ([5u8; 32], Status::ChallengerWon)] {
        let nodes = vec![[1u8; 32], padding];
        pos.node = refute_core::merkle::subtree_root(refute_core::merkle::TreeKind::Checkpoint, &nodes).unwrap();
        let next = apply(&c, &pos, Side::Challenger, &Move::Pick { nodes: nodes.clone(), choice: 1 }, 1).unwrap();
        assert_eq!(next.status, want);
        // the real leaf 2 is a block to prove, the challenger's turn
        let next = apply(&c, &pos, Side::Challenger, &Move::Pick { nodes, choice: 0 }, 1).unwrap();
        assert_eq!((next.phase, next.turn, next.index), (Phase::Block, Side::Challenger, 2));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// On random models, one element of one random step changed: the challenger
    /// always wins, and without a single rejected move.
    #[test]
    fn any_single_element_fraud_is_caught(seed in any::<u64>(), arity in 1u32..4) {
        let mut rng = Rng::new(seed);
        let model = Arc::new(random_model(&mut rng, 7));
        let input = random_input(&mut rng, model.input_type());
        let (mut tensors, trace) = honest(&model, &input);
        let step = rng.range(1, model.step_count() as i64 - 1) as usize;
        let element = rng.range(0, tensors[step].numel() as i64 - 1) as usize;
        tensors[step] = flip(&tensors[step], element);
        if rng.chance(50) {
            recompute_after(&model, &mut tensors, step);
        }
        let cheat = TraceData::from_tensors(model.clone(), &tensors);
        let out = cheat_outcome(&model, &trace, cheat, arity);
        prop_assert_eq!(out.status, Status::ChallengerWon);
        prop_assert_eq!(out.rejected, 0);
    }

    /// On random models, an honest executor beats a griefing challenger.
    #[test]
    fn honest_executors_never_lose(seed in any::<u64>(), arity in 1u32..4) {
        let mut rng = Rng::new(seed);
        let model = Arc::new(random_model(&mut rng, 7));
        let input = random_input(&mut rng, model.input_type());
        let (_, trace) = honest(&model, &input);
        let out = play(&ctx(&model, trace.root(), arity), ExecutorPlayer::Solver(trace.clone()), ChallengerPlayer::Griefer(trace, Rng::new(seed ^ 1)));
        prop_assert_eq!(out.status, Status::ExecutorWon);
    }
}
