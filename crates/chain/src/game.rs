//! Calls to the DisputeGame: opening games, reading positions, sending moves, and
//! what the executor has revealed.

use crate::bindings::DisputeGame;
use crate::tx::{Mined, SentTx};
use crate::types::{hash, phase_of, side_of, status_of, u64_of};
use crate::{Chain, ChainError, GameInfo};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use refute_core::commit::ChunkRange;
use refute_core::hash::Hash;
use refute_game::{Move, Operands, Position, Revealed};

impl Chain {
    /// The game contract's arity (levels per reveal) and clock.
    pub async fn game_params(&self) -> Result<(u32, u64), ChainError> {
        let a = self.view("arityLog2", || async { self.game.arityLog2().call().await }).await?;
        let c = self.view("clockSeconds", || async { self.game.clockSeconds().call().await }).await?;
        Ok((a, c))
    }

    /// Opens a game on a result with `bond`; returns the game id.
    pub async fn challenge(&self, result_id: u64, bond: U256) -> Result<u64, ChainError> {
        let mined = self.send_mined("challenge", || self.game.challenge(U256::from(result_id)).value(bond)).await?;
        let logs = self.logs(self.deployment.game, DisputeGame::GameOpened::SIGNATURE_HASH, mined.block, mined.block).await?;
        logs.iter()
            .filter_map(|l| l.log_decode::<DisputeGame::GameOpened>().ok())
            .find(|e| u64_of(e.inner.data.resultId) == result_id && e.inner.data.challenger == self.sender)
            .map(|e| u64_of(e.inner.data.gameId))
            .ok_or_else(|| ChainError::Decode("no GameOpened event in the challenge's block".into()))
    }

    /// The games opened on a result.
    pub async fn games_of(&self, result_id: u64) -> Result<Vec<u64>, ChainError> {
        let v = self.view("gamesOf", || async { self.game.gamesOf(U256::from(result_id)).call().await }).await?;
        Ok(v.into_iter().map(u64_of).collect())
    }

    /// A game and its position.
    pub async fn game(&self, id: u64) -> Result<GameInfo, ChainError> {
        let g = self.view("getGame", || async { self.game.getGame(U256::from(id)).call().await }).await?;
        if g.executor == Address::ZERO {
            return Err(ChainError::Decode(format!("no game {id}")));
        }
        Ok(GameInfo {
            id,
            result_id: u64_of(g.resultId),
            challenger: g.challenger,
            executor: g.executor,
            bond: g.bond,
            trace_root: hash(g.traceRoot),
            step_count: g.stepCount,
            position: Position {
                phase: phase_of(g.phase),
                turn: side_of(g.turn),
                status: status_of(g.status),
                node: hash(g.node),
                height: g.height,
                index: g.index,
                step_index: g.stepIndex,
                spec_hash: hash(g.specHash),
                byte_len: g.byteLen,
                element: g.element,
                claimed: g.claimed,
                blocks: g.blocks,
                checkpoint_root: hash(g.checkpointRoot),
                executor_clock: g.clocks.executorClock,
                challenger_clock: g.clocks.challengerClock,
                executor_extension: g.clocks.executorExtension,
                challenger_extension: g.clocks.challengerExtension,
                last_move_at: g.clocks.lastMoveAt,
            },
        })
    }

    /// Sends a move (returns once the node accepted it; follow it with
    /// [`Chain::tx_status`]). `replacing` is a stuck move of this game to re-price:
    /// the new one takes its nonce with bumped fees.
    pub async fn send_move(&self, game_id: u64, mv: &Move, replacing: Option<&SentTx>) -> Result<SentTx, ChainError> {
        let g = U256::from(game_id);
        let b32 = |v: &[Hash]| v.iter().map(|h| B256::from(*h)).collect::<Vec<_>>();
        match mv {
            Move::RevealNodes(nodes) => self.send("revealNodes", replacing, || self.game.revealNodes(g, b32(nodes))).await,
            Move::Pick { nodes, choice } => self.send("pick", replacing, || self.game.pick(g, b32(nodes), U256::from(*choice))).await,
            Move::OpenHeader { header, spec, spec_proof } => {
                self.send("openHeader", replacing, || {
                    self.game.openHeader(
                        g,
                        header.ty.dtype.code(),
                        header.ty.shape.clone(),
                        B256::from(header.data_root),
                        Bytes::copy_from_slice(spec),
                        b32(spec_proof),
                    )
                })
                .await
            }
            Move::RevealChunk(chunk) => self.send("revealChunk", replacing, || self.game.revealChunk(g, Bytes::copy_from_slice(&chunk[..]))).await,
            Move::ProveStep(p) => {
                let ops = operands(&p.operands);
                self.send("proveStep", replacing, || {
                    self.game.proveStep(g, U256::from(p.element_in_chunk), Bytes::copy_from_slice(&p.chunk), ops.clone())
                })
                .await
            }
            Move::NameElement { element_in_chunk, chunk, spec } => {
                self.send("nameElement", replacing, || {
                    self.game.nameElement(g, U256::from(*element_in_chunk), Bytes::copy_from_slice(&chunk[..]), Bytes::copy_from_slice(spec))
                })
                .await
            }
            Move::OpenCheckpoints { root, last_proof } => {
                self.send("openCheckpoints", replacing, || self.game.openCheckpoints(g, B256::from(*root), b32(last_proof))).await
            }
            Move::ProveBlock(p) => {
                let ops = operands(&p.operands);
                self.send("proveBlock", replacing, || self.game.proveBlock(g, Bytes::copy_from_slice(&p.prev_state), b32(&p.prev_proof), ops.clone()))
                    .await
            }
            Move::Timeout => self.send("timeout", replacing, || self.game.timeout(g)).await,
        }
    }

    /// Ends a game on a result that another game rejected.
    pub async fn settle_moot(&self, game_id: u64) -> Result<Mined, ChainError> {
        self.send_mined("settleMoot", || self.game.settleMoot(U256::from(game_id))).await
    }

    /// What the executor has revealed in a game, from its events since `from_block`.
    pub async fn revealed(&self, game_id: u64, arity_log2: u32, from_block: u64) -> Result<Revealed, ChainError> {
        let head = self.head().await?;
        let topic = B256::from(U256::from(game_id));
        let filter = Filter::new()
            .address(self.deployment.game)
            .event_signature(vec![DisputeGame::NodesRevealed::SIGNATURE_HASH, DisputeGame::ChunkRevealed::SIGNATURE_HASH])
            .topic1(topic)
            .from_block(from_block)
            .to_block(head);
        let logs = self.read("eth_getLogs", || async { self.provider.get_logs(&filter).await }).await?;
        let mut r = Revealed::default();
        for l in &logs {
            if let Ok(e) = l.log_decode::<DisputeGame::NodesRevealed>() {
                let d = e.inner.data;
                let nodes: Vec<Hash> = d.nodes.iter().map(|h| h.0).collect();
                r.record(phase_of(d.phase), arity_log2, d.height, d.index, &nodes);
            } else if let Ok(e) = l.log_decode::<DisputeGame::ChunkRevealed>() {
                let c = &e.inner.data.chunk;
                if c.len() == refute_core::CHUNK_SIZE {
                    let mut chunk = [0u8; refute_core::CHUNK_SIZE];
                    chunk.copy_from_slice(c);
                    r.chunk = Some(chunk);
                }
            }
        }
        Ok(r)
    }
}

/// The operands of a one-step proof as the contract takes them.
fn operands(o: &Operands) -> DisputeGame::StepOperands {
    let b32 = |v: &[Hash]| v.iter().map(|h| B256::from(*h)).collect::<Vec<_>>();
    let range = |r: &ChunkRange| DisputeGame::ChunkRange { first: U256::from(r.first), chunks: Bytes::from(r.chunk_bytes()), proof: b32(&r.proof) };
    DisputeGame::StepOperands {
        spec: Bytes::copy_from_slice(&o.spec),
        inputRoots: b32(&o.input_roots),
        inputTraceProofs: o.input_trace_proofs.iter().map(|x| b32(x)).collect(),
        inputs: o.inputs.iter().map(range).collect(),
        weights: o.weights.iter().map(range).collect(),
    }
}
