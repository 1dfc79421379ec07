//! `refute model …` and `refute infer` as a user runs them.

use refute_core::hash::to_hex;
use refute_core::Model;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/models").join(name)
}

fn refute(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_refute")).args(args).output().expect("refute runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("refute-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn inspect_and_id_print_the_model_id() {
    let manifest = fixture("hand-every-op.json");
    let id = to_hex(&Model::load(&manifest).unwrap().id());
    let (ok, out, _) = refute(&["model", "id", manifest.to_str().unwrap()]);
    assert!(ok);
    assert_eq!(out.trim(), id);
    let (ok, out, _) = refute(&["model", "inspect", manifest.to_str().unwrap()]);
    assert!(ok);
    assert!(out.contains(&id) && out.contains("conv2d") && out.contains("int8[4, 8, 8]") && out.contains("argmax"), "{out}");
    let (ok, out, _) = refute(&["model", "inspect", "--json", manifest.to_str().unwrap()]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["step_count"], 10);
    assert_eq!(v["parameters"], 494);
    assert!(v["steps"].as_array().unwrap().iter().all(|s| s["blocks"] == 1), "every reduction of the hand-built model is one block");
    // a reduction over K = 1,100 is three blocks of 512
    let wide = tmp("wide-mlp.json");
    refute_core::testing::wide_mlp(1100, 1).save(&wide).unwrap();
    let (ok, out, _) = refute(&["model", "inspect", "--json", wide.to_str().unwrap()]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let blocks: Vec<u64> = v["steps"].as_array().unwrap().iter().map(|s| s["blocks"].as_u64().unwrap()).collect();
    assert_eq!(blocks, vec![1, 3, 3]);
}

#[test]
fn infer_prints_what_the_engine_computes() {
    let manifest = fixture("hand-every-op.json");
    let model = std::sync::Arc::new(Model::load(&manifest).unwrap());
    let raw: Vec<u8> = (0..64u32).map(|i| (i * 37 % 256) as u8).collect();
    let input = tmp("raw.bin");
    std::fs::write(&input, &raw).unwrap();
    let (ok, out, err) = refute(&["infer", "--json", manifest.to_str().unwrap(), input.to_str().unwrap()]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = refute_core::Tensor::from_i8([1, 8, 8], raw.iter().map(|&b| b as i8).collect()).unwrap();
    let (tensors, trace) = refute_engine::Engine::cpu(model.clone()).unwrap().run_one(&t).unwrap();
    assert_eq!(v["results"][0]["trace_root"], to_hex(&trace.root));
    assert_eq!(v["results"][0]["step_count"], 10);
    assert_eq!(v["results"][0]["output"], tensors.last().unwrap().get(0));
}

#[test]
fn float_inputs_are_quantized_with_the_input_scale() {
    // input_scale is 1/16: 0.5 -> 8, 1.0 -> 16; the same input as int8 gives the same trace
    let manifest = fixture("hand-every-op.json");
    let floats: Vec<f64> = (0..64).map(|i| (i % 5) as f64 * 0.5 - 1.0).collect();
    let ints: Vec<i64> = floats.iter().map(|f| (f * 16.0) as i64).collect();
    let (fpath, ipath) = (tmp("f.json"), tmp("i.json"));
    std::fs::write(&fpath, serde_json::to_string(&floats).unwrap()).unwrap();
    std::fs::write(&ipath, serde_json::to_string(&ints).unwrap()).unwrap();
    let (ok, a, _) = refute(&["infer", "--json", manifest.to_str().unwrap(), fpath.to_str().unwrap()]);
    assert!(ok);
    let (ok, b, _) = refute(&["infer", "--json", "--int8", manifest.to_str().unwrap(), ipath.to_str().unwrap()]);
    assert!(ok);
    assert_eq!(a, b);
}

/// An `.npy` (version 1) of little-endian f4 values with `shape`, cut to `keep`
/// bytes of data when given.
fn npy_f32(shape: &[usize], values: &[f32], keep: Option<usize>) -> Vec<u8> {
    let dims = shape.iter().map(|d| format!("{d}, ")).collect::<String>();
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    out.extend(&data[..keep.unwrap_or(data.len())]);
    out
}

#[test]
fn float_inputs_are_checked_for_shape_finiteness_and_truncation() {
    let manifest = fixture("hand-every-op.json"); // input int8[1, 8, 8]
    let run = |name: &str, bytes: Vec<u8>| {
        let p = tmp(name);
        std::fs::write(&p, bytes).unwrap();
        refute(&["infer", manifest.to_str().unwrap(), p.to_str().unwrap()])
    };
    let ones = vec![0.25f32; 64];
    // the right shape, and a batch of two, are read
    assert!(run("ok.npy", npy_f32(&[1, 8, 8], &ones, None)).0);
    assert!(run("batch.npy", npy_f32(&[2, 1, 8, 8], &[ones.clone(), ones.clone()].concat(), None)).0);
    // 64 values of another shape are not
    let (ok, _, err) = run("shape.npy", npy_f32(&[2, 32], &ones, None));
    assert!(!ok && err.contains("shape [2, 32]") && err.contains("[1, 8, 8]"), "{err}");
    // NaN and infinity are refused, naming the element
    let mut bad = ones.clone();
    bad[17] = f32::NAN;
    let (ok, _, err) = run("nan.npy", npy_f32(&[1, 8, 8], &bad, None));
    assert!(!ok && err.contains("element 17 is NaN"), "{err}");
    bad[17] = f32::INFINITY;
    let (ok, _, err) = run("inf.npy", npy_f32(&[1, 8, 8], &bad, None));
    assert!(!ok && err.contains("element 17 is inf"), "{err}");
    // a file cut short says so
    let (ok, _, err) = run("cut.npy", npy_f32(&[1, 8, 8], &ones, Some(100)));
    assert!(!ok && err.contains("truncated") && err.contains("256 bytes of data") && err.contains("only 100"), "{err}");
    // JSON nested arrays of the wrong shape too
    let (ok, _, err) = run("shape.json", serde_json::to_vec(&vec![vec![0.25; 32]; 2]).unwrap());
    assert!(!ok && err.contains("shape [2, 32]"), "{err}");
}

#[test]
fn bad_inputs_and_models_get_clear_errors() {
    let manifest = fixture("hand-every-op.json");
    let short = tmp("short.bin");
    std::fs::write(&short, [1u8; 63]).unwrap();
    let (ok, _, err) = refute(&["infer", manifest.to_str().unwrap(), short.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("has 63 values") && err.contains("int8[1, 8, 8]"), "{err}");
    let notjson = tmp("x.json");
    std::fs::write(&notjson, "[1, 2,").unwrap();
    let (ok, _, err) = refute(&["infer", manifest.to_str().unwrap(), notjson.to_str().unwrap()]);
    assert!(!ok && err.contains("not valid JSON"), "{err}");
    let (ok, _, err) = refute(&["model", "inspect", "/no/such/model.json"]);
    assert!(!ok && err.contains("/no/such/model.json"), "{err}");
    let broken = tmp("broken.json");
    std::fs::write(&broken, r#"{"format":"refute-model","version":1,"name":"b","weights":"w.safetensors","steps":[]}"#).unwrap();
    let (ok, _, err) = refute(&["model", "id", broken.to_str().unwrap()]);
    assert!(!ok && err.contains("w.safetensors"), "{err}");
}

#[test]
fn a_batch_runs_one_inference_per_row() {
    let manifest = fixture("hand-every-op.json");
    let input = tmp("batch.bin");
    std::fs::write(&input, (0..192u32).map(|i| (i * 11 % 256) as u8).collect::<Vec<_>>()).unwrap();
    let (ok, out, err) = refute(&["infer", "--json", manifest.to_str().unwrap(), input.to_str().unwrap()]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 3);
}
