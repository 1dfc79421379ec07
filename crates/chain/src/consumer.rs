//! The example integrator (`contracts/src/DigitConsumer.sol`): a contract that asks
//! the oracle for a digit and keeps the answer its callback receives. The demo uses it
//! to show the integrator's side; the services never do.

use crate::bindings::DigitConsumer;
use crate::error::contract_err;
use crate::{Chain, ChainError};
use alloy::primitives::{Address, Bytes, B256, U256};
use refute_core::hash::Hash;

/// An example integrator contract on a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExampleConsumer {
    address: Address,
}

impl ExampleConsumer {
    /// Deploys one for `model_id`, linked to `chain`'s oracle, from `chain`'s sender.
    pub async fn deploy(chain: &Chain, model_id: &Hash) -> Result<ExampleConsumer, ChainError> {
        let c = DigitConsumer::deploy(chain.provider().clone(), chain.deployment().oracle, B256::from(*model_id))
            .await
            .map_err(|e| contract_err("deploy DigitConsumer", e))?;
        Ok(ExampleConsumer { address: *c.address() })
    }

    /// The one at `address`.
    pub fn at(address: Address) -> ExampleConsumer {
        ExampleConsumer { address }
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Asks it, from `chain`'s sender, to classify `input`, paying `fee`; returns the
    /// request id.
    pub async fn ask(&self, chain: &Chain, input: &[u8], fee: U256) -> Result<u64, ChainError> {
        let c = DigitConsumer::new(self.address, chain.provider().clone());
        let input = Bytes::copy_from_slice(input);
        let mined = chain.send_mined("ask", || c.ask(input.clone()).value(fee)).await?;
        chain.request_id_in_block(mined.block).await
    }

    /// The answer it received for a request, if any.
    pub async fn answer(&self, chain: &Chain, request_id: u64) -> Result<Option<Vec<u8>>, ChainError> {
        let c = DigitConsumer::new(self.address, chain.provider().clone());
        let answered = chain.view("answered", || async { c.answered(U256::from(request_id)).call().await }).await?;
        if !answered {
            return Ok(None);
        }
        let a = chain.view("answers", || async { c.answers(U256::from(request_id)).call().await }).await?;
        Ok(Some(a.to_vec()))
    }
}
