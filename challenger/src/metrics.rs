//! The challenger's Prometheus metrics (prefix `refute_challenger`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use refute_runtime::metrics::SharedRegistry;
use std::sync::atomic::AtomicU64;

/// Counters, gauges and histograms an operator watches.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Results re-run and compared.
    pub results_checked: Counter,
    /// Results whose trace root differs from ours.
    pub mismatches: Counter,
    /// Games opened.
    pub games_opened: Counter,
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
    /// Seconds from a result's block to our verdict on it.
    pub detection_seconds: Histogram,
    /// The account's balance on the chain, in ether.
    pub balance_eth: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            results_checked: Counter::default(),
            mismatches: Counter::default(),
            games_opened: Counter::default(),
            games_won: Counter::default(),
            games_lost: Counter::default(),
            moves: Counter::default(),
            moves_resent: Counter::default(),
            moves_repriced: Counter::default(),
            tick_failures: Counter::default(),
            detection_seconds: Histogram::new([0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0]),
            balance_eth: Gauge::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric in `registry`.
    pub fn register(&self, registry: &SharedRegistry) {
        let mut r = registry.lock().unwrap_or_else(|e| e.into_inner());
        r.register("results_checked", "Results re-run and compared", self.results_checked.clone());
        r.register("mismatches", "Results whose trace root differs from ours", self.mismatches.clone());
        r.register("games_opened", "Games opened", self.games_opened.clone());
        r.register("games_won", "Games won", self.games_won.clone());
        r.register("games_lost", "Games lost", self.games_lost.clone());
        r.register("moves", "Moves made", self.moves.clone());
        r.register("moves_resent", "Moves sent again after the node lost them", self.moves_resent.clone());
        r.register("moves_repriced", "Stuck moves re-priced with a higher fee", self.moves_repriced.clone());
        r.register("tick_failures", "Ticks that failed and were retried", self.tick_failures.clone());
        r.register("detection_seconds", "Seconds from a result's block to our verdict on it", self.detection_seconds.clone());
        r.register("balance_eth", "Account balance on the chain, ether", self.balance_eth.clone());
    }
}
