//! `challenger status`: what the challenger's store holds, read beside a running
//! challenger (the store is opened read-only).

use crate::records::{CheckState, GameRec, ResultRec};
use refute_service::id_of;
use refute_store::{Cf, Store, StoreError};
use serde_json::json;

/// The store's results and games as text, or JSON with `json`.
pub fn render(store: &Store, json_out: bool) -> Result<String, StoreError> {
    let results = store.all::<ResultRec>(Cf::Results)?;
    let games = store.all::<GameRec>(Cf::Games)?;
    if json_out {
        let v = json!({
            "results": results.iter().map(|(k, r)| json!({"id": id_of(k), "record": r})).collect::<Vec<_>>(),
            "games": games.iter().map(|(k, r)| json!({"id": id_of(k), "record": r})).collect::<Vec<_>>(),
        });
        return Ok(serde_json::to_string_pretty(&v).expect("serialisable"));
    }
    let count = |f: fn(&CheckState) -> bool| results.iter().filter(|(_, r)| f(&r.state)).count();
    let mut out = format!(
        "results followed: {} ({} correct, {} to check, {} challenged, {} missed)\n",
        results.len(),
        count(|s| matches!(s, CheckState::Correct)),
        count(|s| matches!(s, CheckState::ToCheck)),
        count(|s| matches!(s, CheckState::Challenged { .. } | CheckState::Mismatch { .. })),
        count(|s| matches!(s, CheckState::Missed { .. })),
    );
    for (k, r) in results.iter().filter(|(_, r)| !matches!(r.state, CheckState::Correct)) {
        out.push_str(&format!("  result {:>5}  {:?}  executor {}\n", id_of(k), r.state, r.executor));
    }
    out.push_str(&format!("games ({})\n", games.len()));
    out.push_str(&format!("  {:>6}  {:>6}  {:>5}  {}\n", "id", "result", "moves", "status"));
    for (k, g) in &games {
        let status = g.ended.map_or("Open".to_string(), |s| format!("{s:?}"));
        out.push_str(&format!("  {:>6}  {:>6}  {:>5}  {}\n", id_of(k), g.result_id, g.moves, status));
    }
    Ok(out)
}
