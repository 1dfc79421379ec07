//! The example integrator (`contracts/src/examples/DigitConsumer.sol`): a contract
//! that asks the oracle for a digit, keeps the answer its callback receives (final
//! results only, for requests it made), and reclaims the fee of a request nobody
//! served. The demo uses it to show the integrator's side; the services never do.

use crate::bindings::DigitConsumer;
use crate::error::{contract_err, transport_err};
use crate::{Chain, ChainError};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
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
        chain.request_id_of(&mined).await
    }

    /// Has the consumer reclaim the fee of a request nobody served before its
    /// deadline, from `chain`'s sender (its owner): the oracle refunds it to the
    /// consumer, which sends its whole oracle balance on to the owner. Returns the
    /// amount sent.
    pub async fn reclaim(&self, chain: &Chain, request_id: u64) -> Result<U256, ChainError> {
        let c = DigitConsumer::new(self.address, chain.provider().clone());
        let mined = chain.send_mined("reclaim", || c.reclaim(U256::from(request_id))).await?;
        let filter = Filter::new()
            .address(self.address)
            .event_signature(DigitConsumer::Reclaimed::SIGNATURE_HASH)
            .topic1(B256::from(U256::from(request_id)))
            .from_block(mined.block)
            .to_block(mined.block);
        let logs = chain.provider().get_logs(&filter).await.map_err(|e| transport_err("reclaim's event", e))?;
        logs.iter()
            .find_map(|l| l.log_decode::<DigitConsumer::Reclaimed>().ok())
            .map(|l| l.inner.data.amount)
            .ok_or_else(|| ChainError::Decode(format!("reclaim of request {request_id} emitted no Reclaimed event")))
    }

    /// The owner: who deployed it, and where reclaimed fees go.
    pub async fn owner(&self, chain: &Chain) -> Result<Address, ChainError> {
        let c = DigitConsumer::new(self.address, chain.provider().clone());
        chain.view("owner", || async { c.owner().call().await }).await
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
