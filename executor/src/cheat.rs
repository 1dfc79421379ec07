//! Deliberate fraud, for demonstrations and tests of the challenger: a hidden
//! `--cheat` flag makes the executor post a trace that is wrong in a chosen way,
//! self-consistent after the first wrong step (later steps are recomputed from the
//! wrong one with the scalar reference), so the game must find the first wrong
//! step rather than the last.

use refute_core::reference::eval_all;
use refute_core::{DType, Model, Tensor};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// How to cheat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cheat {
    /// Change the output (the last step) and nothing else.
    Output,
    /// Change every element of step `n` (the first wrong step), then recompute the
    /// steps after it from the wrong one.
    Step(usize),
    /// Change one element `element` of step `step`, then recompute the later steps.
    Element {
        /// The step.
        step: usize,
        /// The element (flat index).
        element: usize,
    },
}

impl FromStr for Cheat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("cheat must be `output`, `step:N` or `element:STEP:INDEX`, got `{s}`");
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["output"] => Ok(Cheat::Output),
            ["step", n] => Ok(Cheat::Step(n.parse().map_err(|_| bad())?)),
            ["element", st, e] => Ok(Cheat::Element { step: st.parse().map_err(|_| bad())?, element: e.parse().map_err(|_| bad())? }),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Cheat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cheat::Output => write!(f, "output"),
            Cheat::Step(n) => write!(f, "step:{n}"),
            Cheat::Element { step, element } => write!(f, "element:{step}:{element}"),
        }
    }
}

/// A value of `dtype` different from `v` (one up, or one down at the top).
fn other_value(dtype: DType, v: i64) -> i64 {
    if v < dtype.max() {
        v + 1
    } else {
        v - 1
    }
}

fn with_values(t: &Tensor, values: &[i64]) -> Tensor {
    let ty = t.ty().clone();
    match ty.dtype {
        DType::I8 => Tensor::from_i8(ty.shape, values.iter().map(|&v| v as i8).collect()),
        DType::I32 => Tensor::from_i32(ty.shape, values.iter().map(|&v| v as i32).collect()),
    }
    .expect("values of the tensor's own type")
}

impl Cheat {
    /// Checks that the cheat fits `model` (a step after the input, an element in range).
    pub fn check(&self, model: &Model) -> Result<(), String> {
        let n = model.step_count();
        let (step, element) = match *self {
            Cheat::Output => return Ok(()),
            Cheat::Step(s) => (s, 0),
            Cheat::Element { step, element } => (step, element),
        };
        if step == 0 || step >= n {
            return Err(format!("cheat {self}: model {} has steps 1..{} after its input", model.name(), n - 1));
        }
        let numel = model.steps()[step].spec.out.numel();
        if element >= numel {
            return Err(format!("cheat {self}: step {step} of model {} has {numel} elements", model.name()));
        }
        Ok(())
    }

    /// Applies the cheat to an honest trace's step tensors.
    pub fn apply(&self, model: &Model, tensors: &mut [Tensor]) {
        let last = tensors.len() - 1;
        let first_wrong = match *self {
            Cheat::Output => {
                let t = &tensors[last];
                let mut v: Vec<i64> = (0..t.numel()).map(|i| t.get(i)).collect();
                v[0] = other_value(t.ty().dtype, v[0]);
                tensors[last] = with_values(t, &v);
                return;
            }
            Cheat::Step(s) => {
                let t = &tensors[s];
                let v: Vec<i64> = (0..t.numel()).map(|i| other_value(t.ty().dtype, t.get(i))).collect();
                tensors[s] = with_values(t, &v);
                s
            }
            Cheat::Element { step, element } => {
                let t = &tensors[step];
                let mut v: Vec<i64> = (0..t.numel()).map(|i| t.get(i)).collect();
                v[element] = other_value(t.ty().dtype, v[element]);
                tensors[step] = with_values(t, &v);
                step
            }
        };
        for i in first_wrong + 1..tensors.len() {
            let step = &model.steps()[i];
            let values = {
                let ins: Vec<&Tensor> = step.inputs.iter().map(|&j| &tensors[j as usize]).collect();
                let ws: Vec<&Tensor> = step.weights.iter().collect();
                eval_all(&step.spec, &ins, &ws)
            };
            tensors[i] = with_values(&tensors[i], &values);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use refute_core::testing::{random_model, reference_run, Rng};

    #[test]
    fn parses_and_prints() {
        for s in ["output", "step:3", "element:2:17"] {
            assert_eq!(s.parse::<Cheat>().unwrap().to_string(), s);
        }
        for s in ["", "step", "step:x", "element:1", "outputs"] {
            assert!(s.parse::<Cheat>().is_err(), "{s}");
        }
    }

    #[test]
    fn the_first_wrong_step_is_the_chosen_one_and_later_steps_follow_from_it() {
        let mut rng = Rng::new(7);
        let model = random_model(&mut rng, 6);
        let input = refute_core::testing::tensor_of(model.input_type(), &vec![3; model.input_type().numel()]);
        let honest = reference_run(&model, &input);
        let n = honest.len();
        for cheat in [Cheat::Output, Cheat::Step(1), Cheat::Element { step: n - 1, element: 0 }] {
            cheat.check(&model).unwrap();
            let mut t = honest.clone();
            cheat.apply(&model, &mut t);
            let first = (0..n).find(|&i| t[i] != honest[i]).expect("something changed");
            let expected = match cheat {
                Cheat::Output => n - 1,
                Cheat::Step(s) => s,
                Cheat::Element { step, .. } => step,
            };
            assert_eq!(first, expected, "{cheat}");
            // every later step is the reference applied to the (wrong) earlier ones
            for i in first + 1..n {
                let step = &model.steps()[i];
                let ins: Vec<&Tensor> = step.inputs.iter().map(|&j| &t[j as usize]).collect();
                let ws: Vec<&Tensor> = step.weights.iter().collect();
                let want = eval_all(&step.spec, &ins, &ws);
                let got: Vec<i64> = (0..t[i].numel()).map(|e| t[i].get(e)).collect();
                if !matches!(cheat, Cheat::Output) {
                    assert_eq!(got, want, "{cheat}: step {i}");
                }
            }
        }
        assert!(Cheat::Step(0).check(&model).is_err());
        assert!(Cheat::Element { step: 1, element: usize::MAX }.check(&model).is_err());
    }
}
