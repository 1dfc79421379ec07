//! Where the executor's traces come from. The service asks one [`TraceSource`]
//! for every post and every trace a game needs, and never branches on fraud
//! itself: the honest source hands on the engine's run as it is, and a lying
//! source (the hidden `--cheat` flag, for demonstrations and tests of the
//! challenger) wraps the honest one and changes what it hands on, the way a
//! test makes an evil player out of an honest one.
//!
//! A lie is recorded with the request it was told on
//! ([`crate::records::RequestRec::cheat`]), so that the trace recomputed for a
//! game after a restart is the trace that was posted.

use crate::cheat::Cheat;
use refute_chain::PostCall;
use refute_core::{Model, Tensor};
use refute_engine::{BatchRun, Engine};
use refute_game::TraceData;
use std::sync::Arc;

/// The executor's trace source: honest, or lying in one chosen way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TraceSource {
    lie: Option<Lie>,
}

/// A lie: what to change and on which requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lie {
    cheat: Cheat,
    /// Only this request; `None`: every request whose model the cheat fits.
    only: Option<u64>,
}

impl TraceSource {
    /// The honest source: the engine's run, unchanged.
    pub fn honest() -> TraceSource {
        TraceSource { lie: None }
    }

    /// A source that tells `cheat` on request `only` (every request when `None`)
    /// whose model the cheat fits, and the truth on the others.
    pub fn lying(cheat: Cheat, only: Option<u64>) -> TraceSource {
        TraceSource { lie: Some(Lie { cheat, only }) }
    }

    /// The source for the executor's options.
    pub fn of(cheat: Option<Cheat>, only: Option<u64>) -> TraceSource {
        cheat.map_or_else(TraceSource::honest, |c| TraceSource::lying(c, only))
    }

    /// The lie this source tells on request `id` of `model`, if any.
    pub fn lie_for(&self, model: &Model, id: u64) -> Option<Cheat> {
        let lie = self.lie?;
        (lie.cheat.check(model).is_ok() && lie.only.is_none_or(|only| only == id)).then_some(lie.cheat)
    }

    /// The post for request `id`, sample `sample` of engine run `run` on `model`,
    /// and the lie told in it (to record with the request). The honest post uses
    /// the engine's own commitments: nothing is hashed again.
    pub fn post(&self, model: &Arc<Model>, run: &BatchRun, sample: usize, id: u64) -> (PostCall, Option<Cheat>) {
        match self.lie_for(model, id) {
            None => (PostCall::new(id, run.step_bytes(sample, run.step_count() - 1).to_vec(), &run.trace(sample).commitments), None),
            Some(c) => {
                let mut tensors: Vec<Tensor> = (0..run.step_count()).map(|s| run.step_tensor(sample, s)).collect();
                c.apply(model, &mut tensors);
                tracing::warn!(request = id, cheat = %c, "posting a WRONG result on purpose (--cheat)");
                (PostCall::of(id, &TraceData::from_tensors(model.clone(), &tensors)), Some(c))
            }
        }
    }

    /// The trace posted for `input` (its canonical bytes) on `model` when `told`
    /// was the lie recorded with its request: run again through the engine
    /// (blocking: see [`refute_service::models::with_engine`]), the lie applied
    /// again. It depends only on what was recorded, not on this source, so a
    /// restart with other flags still defends what it posted.
    pub fn trace(model: &Arc<Model>, engine: &Engine, input: &[u8], told: Option<Cheat>) -> Result<TraceData, String> {
        let Some(c) = told else { return refute_service::models::honest_trace(model, engine, input) };
        let t = Tensor::from_canonical_bytes(model.input_type().clone(), input).map_err(|e| format!("input: {e}"))?;
        let (mut tensors, _) = engine.run_one(&t).map_err(|e| e.to_string())?;
        c.apply(model, &mut tensors);
        Ok(TraceData::from_tensors(model.clone(), &tensors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use refute_core::testing::{random_model, tensor_of, Rng};
    use refute_service::ModelSet;

    #[test]
    fn the_honest_source_posts_the_engine_trace_and_a_liar_only_where_told() {
        let mut rng = Rng::new(11);
        // a model with steps between its input and its output, for a step lie
        let model = Arc::new(std::iter::repeat_with(|| random_model(&mut rng, 5)).find(|m| m.step_count() >= 3).unwrap());
        let mut set = ModelSet::default();
        set.insert(model.clone()).unwrap();
        let (_, engine) = set.get(&model.id()).unwrap();
        let n = model.input_type().numel();
        let inputs = vec![tensor_of(model.input_type(), &vec![2; n]), tensor_of(model.input_type(), &vec![-5; n])];
        let run = engine.lock().unwrap().run(&inputs).unwrap();
        let bytes: Vec<Vec<u8>> = inputs.iter().map(|t| t.canonical_bytes()).collect();
        let engine = engine.lock().unwrap();
        let honest: Vec<TraceData> = bytes.iter().map(|b| TraceSource::trace(&model, &engine, b, None).unwrap()).collect();

        let (post, told) = TraceSource::honest().post(&model, &run, 1, 7);
        assert_eq!(told, None);
        assert_eq!(post, PostCall::of(7, &honest[1]), "the honest post is the engine's trace");

        let liar = TraceSource::lying(Cheat::Output, Some(8));
        let (post, told) = liar.post(&model, &run, 1, 7);
        assert_eq!((post, told), (PostCall::of(7, &honest[1]), None), "no lie on another request");
        let (post, told) = liar.post(&model, &run, 0, 8);
        assert_eq!(told, Some(Cheat::Output));
        assert_ne!(post, PostCall::of(8, &honest[0]), "the lie is told");
        let retold = TraceSource::trace(&model, &engine, &bytes[0], told).unwrap();
        assert_eq!(post, PostCall::of(8, &retold), "the recomputed trace is the posted one");

        let everyone = TraceSource::of(Some(Cheat::Step(1)), None);
        assert_eq!(everyone.lie_for(&model, 1), Some(Cheat::Step(1)));
        assert_eq!(everyone.lie_for(&model, 99), Some(Cheat::Step(1)));
        // a cheat that does not fit the model is not told
        let misfit = TraceSource::lying(Cheat::Step(model.step_count()), None);
        assert_eq!(misfit.lie_for(&model, 1), None);
    }
}
