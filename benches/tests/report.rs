//! The report in its quick mode, as CI runs it: every table comes out, and the
//! dispute, watchtower and burst rows hold what the protocol must do (a dispute
//! ends in a slashing after moves, the watchtower checks every honest result, a
//! burst has every request posted once, every honest result final and the lie
//! rejected). The figures of a quick run are not meaningful and nothing here looks
//! at timings.

use std::process::Command;

#[test]
fn the_quick_report_writes_every_table() {
    let out = Command::new(env!("CARGO_BIN_EXE_report")).arg("--quick").output().expect("report runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "report failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for section in [
        "### Inference",
        "### Commitment hashing",
        "### Disputes on anvil",
        "### Gas on anvil",
        "### The watchtower",
        "### The watchtower through a backlog",
        "### A burst of requests",
        "### Resident memory",
    ] {
        assert!(stdout.contains(section), "no `{section}` in\n{stdout}");
    }
    let moves_of = |row: &str| -> usize {
        let line = stdout.lines().find(|l| l.contains(row)).unwrap_or_else(|| panic!("no dispute row `{row}` in\n{stdout}"));
        line.split('|').nth(4).unwrap().trim().parse().unwrap()
    };
    assert!(moves_of("| digits-mlp | output | instant |") >= 3, "a dispute takes moves");
    assert!(moves_of("| mlp-1100x1 | element:1:0 | instant |") >= 3, "a dispute takes moves");
    // a one-element lie in a wide linear step is descended through its reduction
    // to one block: its dispute opens checkpoints and proves a block
    let gas = stdout.split("### Gas on anvil").nth(1).expect("the gas table");
    let header: Vec<&str> = gas.lines().find(|l| l.starts_with("| model | lie |")).expect("its header").split('|').map(str::trim).collect();
    let row: Vec<&str> = gas.lines().find(|l| l.starts_with("| mlp-1100x1 | element:1:0 |")).expect("its row").split('|').map(str::trim).collect();
    for call in ["openCheckpoints", "proveBlock"] {
        let col = header.iter().position(|h| *h == call).unwrap_or_else(|| panic!("no {call} column"));
        assert!(row[col].parse::<u64>().is_ok(), "the wide lie's dispute sent no {call}: {row:?}");
    }
    let watch = stdout.lines().find(|l| l.starts_with("| digits-mlp | 8 |")).unwrap_or_else(|| panic!("no watchtower row in\n{stdout}"));
    assert!(!watch.contains("| 0.0 |"), "{watch}");
    // the burst: every request posted once, every honest result final, the one
    // lie rejected through its game
    let burst = stdout.split("### A burst of requests").nth(1).expect("the burst table");
    let row: Vec<&str> = burst.lines().find(|l| l.starts_with("| digits-mlp | 40 |")).expect("the burst row").split('|').map(str::trim).collect();
    assert_eq!(&row[3..7], &["40", "0", "39", "1"], "posted once, posted twice, finalized, rejected: {row:?}");
    assert!(row[9].parse::<usize>().unwrap() >= 3, "the lie's game takes moves: {row:?}");
    // the memory table has a row per wave, both services alive at each
    let memory = stdout.split("### Resident memory").nth(1).expect("the memory table");
    let rows: Vec<&str> = memory.lines().filter(|l| l.starts_with("| digits-mlp |")).collect();
    assert_eq!(rows.len(), 2, "{memory}");
    for r in rows {
        assert!(!r.contains("| 0.0 |"), "a service was not running: {r}");
    }
}
