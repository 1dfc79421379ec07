//! Calls to the ModelRegistry.

use crate::{Chain, ChainError};
use alloy::primitives::{Bytes, B256};
use refute_core::hash::Hash;
use refute_core::Model;

impl Chain {
    /// Registers `model` (idempotent: an already registered model is fine).
    pub async fn register_model(&self, model: &Model, uri: &str) -> Result<Hash, ChainError> {
        let id = model.id();
        if self.is_registered(&id).await? {
            return Ok(id);
        }
        let n = model.step_count();
        let tree = model.spec_tree();
        let proof = |i: usize| tree.prove(&[i]).expect("a step").into_iter().map(B256::from).collect::<Vec<_>>();
        let first = Bytes::from(model.steps()[0].spec.encode());
        let last = Bytes::from(model.steps()[n - 1].spec.encode());
        self.send_mined("register", || {
            self.registry.register(n as u32, B256::from(model.spec_root()), first.clone(), proof(0), last.clone(), proof(n - 1), uri.to_string())
        })
        .await?;
        Ok(id)
    }

    /// Whether a model id is registered.
    pub async fn is_registered(&self, id: &Hash) -> Result<bool, ChainError> {
        self.view("isRegistered", || async { self.registry.isRegistered(B256::from(*id)).call().await }).await
    }
}
