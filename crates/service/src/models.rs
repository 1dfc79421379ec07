//! The models a service serves or checks, by model id, each with its engine.

use refute_core::hash::{to_hex, Hash};
use refute_core::{Model, Tensor};
use refute_engine::{BatchRun, Engine, EngineError};
use refute_game::{CommittedStep, TraceData};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// An engine shared between tasks. tch tensors may move between threads but not
/// be shared, so runs of one model take turns (torch parallelises each run).
pub type SharedEngine = Arc<Mutex<Engine>>;

/// Loaded models and their engines.
#[derive(Debug, Clone, Default)]
pub struct ModelSet {
    by_id: HashMap<Hash, (Arc<Model>, SharedEngine)>,
}

impl ModelSet {
    /// Loads every manifest; an error names the file and what is wrong.
    pub fn load(paths: &[PathBuf]) -> Result<ModelSet, String> {
        let mut set = ModelSet::default();
        for p in paths {
            let model = Model::load(p).map_err(|e| format!("model {}: {e}", p.display()))?;
            set.insert(Arc::new(model)).map_err(|e| format!("model {}: {e}", p.display()))?;
        }
        Ok(set)
    }

    /// Adds a model.
    pub fn insert(&mut self, model: Arc<Model>) -> Result<(), EngineError> {
        let engine = Arc::new(Mutex::new(Engine::cpu(model.clone())?));
        self.by_id.insert(model.id(), (model, engine));
        Ok(())
    }

    /// The model with id `id`, if served.
    pub fn get(&self, id: &Hash) -> Option<(&Arc<Model>, &SharedEngine)> {
        self.by_id.get(id).map(|(m, e)| (m, e))
    }

    /// The ids of the models.
    pub fn ids(&self) -> Vec<Hash> {
        self.by_id.keys().copied().collect()
    }

    /// Whether `id` is served.
    pub fn contains(&self, id: &Hash) -> bool {
        self.by_id.contains_key(id)
    }

    /// Ids and names, for logs.
    pub fn describe(&self) -> Vec<String> {
        let mut v: Vec<String> = self.by_id.values().map(|(m, _)| format!("{} ({})", m.name(), to_hex(&m.id()))).collect();
        v.sort();
        v
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no model is loaded.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Runs one inference of `model` on `input` bytes and returns its honest trace.
pub fn honest_trace(model: &Arc<Model>, engine: &Engine, input: &[u8]) -> Result<TraceData, String> {
    let t = Tensor::from_canonical_bytes(model.input_type().clone(), input).map_err(|e| format!("input: {e}"))?;
    let (tensors, _) = engine.run_one(&t).map_err(|e| e.to_string())?;
    Ok(TraceData::new(model.clone(), tensors.iter().map(CommittedStep::of).collect()))
}

/// Runs `inputs` through `engine` as one batch on a blocking thread, so that the
/// lanes keep ticking while torch works (it parallelises the batch itself).
pub async fn run_batch(engine: &SharedEngine, inputs: Vec<Tensor>) -> Result<BatchRun, String> {
    with_engine(engine, move |e| e.run(&inputs).map_err(|e| format!("engine: {e}"))).await
}

/// Runs `f` on `engine` on a blocking thread (a trace recomputed for a game).
pub async fn with_engine<T, F>(engine: &SharedEngine, f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce(&Engine) -> Result<T, String> + Send + 'static,
{
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || f(&engine.lock().unwrap_or_else(|e| e.into_inner()))).await.map_err(|e| format!("engine task: {e}"))?
}
