//! What the serve lane needs of the chain beyond the games: the monitor's blocks
//! and events, the oracle's requests and results, and sending posts,
//! finalizations and withdrawals without waiting for their blocks. [`Chain`] is
//! the real one; the `testkit` feature's `fakechain::FakeChain` keeps an oracle
//! in memory beside its games, so that re-opened requests, adoption after a
//! crash and lost posts are tested in milliseconds.

use crate::play::GameChain;
use refute_chain::alloy::primitives::{Address, U256};
use refute_chain::{BlockInfo, Chain, ChainError, Event, PostCall, RequestInfo, ResultInfo, SentTx};
use std::future::Future;

/// The monitor's and the oracle's side of the chain (see the module docs).
pub trait OracleChain: GameChain {
    /// The account this client sends as.
    fn sender(&self) -> Address;

    /// The latest block's number.
    fn head(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// Block `number`'s hash and time.
    fn block(&self, number: u64) -> impl Future<Output = Result<BlockInfo, ChainError>> + Send;

    /// The events the services follow in blocks `from..=to`, in chain order.
    fn events(&self, from: u64, to: u64) -> impl Future<Output = Result<Vec<Event>, ChainError>> + Send;

    /// Request `id` as the oracle holds it.
    fn get_request(&self, id: u64) -> impl Future<Output = Result<RequestInfo, ChainError>> + Send;

    /// Result `id` as the oracle holds it.
    fn get_result(&self, id: u64) -> impl Future<Output = Result<ResultInfo, ChainError>> + Send;

    /// Sends a post with `stake` without waiting for its block; `replacing`: the
    /// stuck send of the same post to re-price (same nonce).
    fn send_post(&self, call: &PostCall, stake: U256, replacing: Option<&SentTx>) -> impl Future<Output = Result<SentTx, ChainError>> + Send;

    /// Sends the finalization of result `id` without waiting for its block.
    fn send_finalize(&self, id: u64) -> impl Future<Output = Result<SentTx, ChainError>> + Send;

    /// What the oracle has credited to `who`.
    fn credited(&self, who: Address) -> impl Future<Output = Result<U256, ChainError>> + Send;

    /// `who`'s ether balance.
    fn eth_balance(&self, who: Address) -> impl Future<Output = Result<U256, ChainError>> + Send;

    /// Sends a withdrawal of everything credited to the sender; `None` when
    /// nothing is.
    fn send_withdraw(&self) -> impl Future<Output = Result<Option<(U256, SentTx)>, ChainError>> + Send;
}

impl OracleChain for Chain {
    fn sender(&self) -> Address {
        Chain::sender(self)
    }

    fn head(&self) -> impl Future<Output = Result<u64, ChainError>> + Send {
        Chain::head(self)
    }

    fn block(&self, number: u64) -> impl Future<Output = Result<BlockInfo, ChainError>> + Send {
        Chain::block(self, number)
    }

    fn events(&self, from: u64, to: u64) -> impl Future<Output = Result<Vec<Event>, ChainError>> + Send {
        Chain::events(self, from, to)
    }

    fn get_request(&self, id: u64) -> impl Future<Output = Result<RequestInfo, ChainError>> + Send {
        Chain::get_request(self, id)
    }

    fn get_result(&self, id: u64) -> impl Future<Output = Result<ResultInfo, ChainError>> + Send {
        Chain::get_result(self, id)
    }

    fn send_post(&self, call: &PostCall, stake: U256, replacing: Option<&SentTx>) -> impl Future<Output = Result<SentTx, ChainError>> + Send {
        Chain::send_post(self, call, stake, replacing)
    }

    fn send_finalize(&self, id: u64) -> impl Future<Output = Result<SentTx, ChainError>> + Send {
        Chain::send_finalize(self, id)
    }

    fn credited(&self, who: Address) -> impl Future<Output = Result<U256, ChainError>> + Send {
        Chain::credited(self, who)
    }

    fn eth_balance(&self, who: Address) -> impl Future<Output = Result<U256, ChainError>> + Send {
        Chain::eth_balance(self, who)
    }

    fn send_withdraw(&self) -> impl Future<Output = Result<Option<(U256, SentTx)>, ChainError>> + Send {
        Chain::send_withdraw(self)
    }
}
