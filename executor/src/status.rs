//! `executor status`: what the executor's store holds, read beside a running
//! executor (the store is opened read-only).

use crate::records::{GameRec, RequestRec, ResultRec};
use refute_service::id_of;
use refute_store::{Cf, Store, StoreError};
use serde_json::json;

/// The store's requests, results and games as text, or JSON with `json`.
pub fn render(store: &Store, json_out: bool) -> Result<String, StoreError> {
    let requests = store.all::<RequestRec>(Cf::Requests)?;
    let results = store.all::<ResultRec>(Cf::Results)?;
    let games = store.all::<GameRec>(Cf::Games)?;
    if json_out {
        let v = json!({
            "requests": requests.iter().map(|(k, r)| json!({"id": id_of(k), "record": r})).collect::<Vec<_>>(),
            "results": results.iter().map(|(k, r)| json!({"id": id_of(k), "record": r})).collect::<Vec<_>>(),
            "games": games.iter().map(|(k, r)| json!({"id": id_of(k), "record": r})).collect::<Vec<_>>(),
        });
        return Ok(serde_json::to_string_pretty(&v).expect("serialisable"));
    }
    let mut out = String::new();
    out.push_str(&format!("results ({})\n", results.len()));
    out.push_str(&format!("  {:>6}  {:>7}  {:<10}  {}\n", "id", "request", "state", "trace root"));
    for (k, r) in &results {
        out.push_str(&format!("  {:>6}  {:>7}  {:<10}  {}\n", id_of(k), r.request_id, format!("{:?}", r.state), r.trace_root));
    }
    out.push_str(&format!("games ({})\n", games.len()));
    out.push_str(&format!("  {:>6}  {:>6}  {:>5}  {:<14}  {}\n", "id", "result", "moves", "status", "challenger"));
    for (k, g) in &games {
        let status = g.ended.map_or("Open".to_string(), |s| format!("{s:?}"));
        out.push_str(&format!("  {:>6}  {:>6}  {:>5}  {:<14}  {}\n", id_of(k), g.result_id, g.moves, status, g.challenger));
    }
    let open = requests.iter().filter(|(_, r)| matches!(r.state, crate::records::RequestState::Open | crate::records::RequestState::Posting)).count();
    out.push_str(&format!("requests: {} seen, {open} waiting to be served\n", requests.len()));
    Ok(out)
}
