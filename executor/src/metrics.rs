//! The executor's Prometheus metrics (prefix `refute_executor`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use refute_runtime::metrics::SharedRegistry;
use std::sync::atomic::AtomicU64;

/// Counters and gauges an operator watches.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Requests seen for served models.
    pub requests_seen: Counter,
    /// Results posted.
    pub results_posted: Counter,
    /// Results finalized.
    pub results_finalized: Counter,
    /// Results rejected (stake slashed).
    pub results_rejected: Counter,
    /// Games opened against our results.
    pub games_defended: Counter,
    /// Games won.
    pub games_won: Counter,
    /// Games lost.
    pub games_lost: Counter,
    /// Moves made.
    pub moves: Counter,
    /// Moves sent again because the node no longer had them (dropped, lost in a node
    /// restart, or their nonce taken).
    pub moves_resent: Counter,
    /// Stuck moves re-priced with a higher fee.
    pub moves_repriced: Counter,
    /// Ticks that failed (retried).
    pub tick_failures: Counter,
    /// The account's balance on the chain, in ether.
    pub balance_eth: Gauge<f64, AtomicU64>,
    /// Credited by the oracle and not yet withdrawn, in ether.
    pub credited_eth: Gauge<f64, AtomicU64>,
}

impl Metrics {
    /// Registers every metric in `registry`.
    pub fn register(&self, registry: &SharedRegistry) {
        let mut r = registry.lock().unwrap_or_else(|e| e.into_inner());
        r.register("requests_seen", "Requests seen for served models", self.requests_seen.clone());
        r.register("results_posted", "Results posted", self.results_posted.clone());
        r.register("results_finalized", "Results finalized", self.results_finalized.clone());
        r.register("results_rejected", "Results rejected (stake slashed)", self.results_rejected.clone());
        r.register("games_defended", "Games opened against our results", self.games_defended.clone());
        r.register("games_won", "Games won", self.games_won.clone());
        r.register("games_lost", "Games lost", self.games_lost.clone());
        r.register("moves", "Moves made", self.moves.clone());
        r.register("moves_resent", "Moves sent again after the node lost them", self.moves_resent.clone());
        r.register("moves_repriced", "Stuck moves re-priced with a higher fee", self.moves_repriced.clone());
        r.register("tick_failures", "Ticks that failed and were retried", self.tick_failures.clone());
        r.register("balance_eth", "Account balance on the chain, ether", self.balance_eth.clone());
        r.register("credited_eth", "Credited by the oracle, not yet withdrawn, ether", self.credited_eth.clone());
    }
}
