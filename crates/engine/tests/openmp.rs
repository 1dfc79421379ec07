//! `openmp::bound_spinning` for real: this test program starts copies of itself
//! without the OpenMP variables and with an operator's choice, and each copy checks
//! what it ends up running with. (Its own `main`: a restart replaces the process,
//! which the test harness's threads would not survive.)

use refute_engine::openmp::{bound_spinning, Spin, SPIN_COUNT, SPIN_VAR};
use std::process::Command;

const STAGE: &str = "REFUTE_OPENMP_TEST_STAGE";

fn main() {
    match std::env::var(STAGE).as_deref() {
        Ok("unset") => unset(),
        Ok("chosen") => chosen(),
        Ok("policy") => policy(),
        _ => parent(),
    }
}

/// Started without either variable: restarts itself once with the bounded spin,
/// keeping its arguments.
fn unset() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert_eq!(args, ["--keep", "this argument"], "arguments survive the restart");
    match std::env::var(SPIN_VAR) {
        // after the restart
        Ok(v) => {
            assert_eq!(v, SPIN_COUNT);
            assert!(matches!(bound_spinning(), Spin::Chosen), "no second restart");
            println!("restarted with {SPIN_VAR}={v}");
        }
        // before it: returns only if the restart failed
        Err(_) => match bound_spinning() {
            Spin::Unbounded(e) => panic!("could not restart: {e}"),
            Spin::Chosen => panic!("{SPIN_VAR} is unset, yet nothing was done"),
        },
    }
}

/// Started with an operator's setting: left alone, no restart.
fn chosen() {
    assert!(matches!(bound_spinning(), Spin::Chosen));
    assert_eq!(std::env::var(SPIN_VAR).as_deref(), Ok("123"));
    println!("kept {SPIN_VAR}=123");
}

/// Started with `OMP_WAIT_POLICY` only: a choice too, left alone.
fn policy() {
    assert!(matches!(bound_spinning(), Spin::Chosen));
    assert!(std::env::var_os(SPIN_VAR).is_none());
    println!("kept OMP_WAIT_POLICY");
}

fn parent() {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(&exe)
        .args(["--keep", "this argument"])
        .env(STAGE, "unset")
        .env_remove(SPIN_VAR)
        .env_remove("OMP_WAIT_POLICY")
        .output()
        .expect("start a copy");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "unset: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), format!("restarted with {SPIN_VAR}={SPIN_COUNT}"));

    let out = Command::new(&exe).env(STAGE, "chosen").env(SPIN_VAR, "123").output().expect("start a copy");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "chosen: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), format!("kept {SPIN_VAR}=123"));

    // an OMP_WAIT_POLICY is a choice too
    let out = Command::new(&exe).env(STAGE, "policy").env_remove(SPIN_VAR).env("OMP_WAIT_POLICY", "passive").output().expect("start a copy");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "policy: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), "kept OMP_WAIT_POLICY");
    println!("openmp: 3 checks passed");
}
