//! `hnswtune serve`: the HTTP routes and the live dashboard over a store.
//!
//! It reads the store through a read-only journal handle (no snapshot writes), so it
//! can run beside any number of `tune` and `worker` processes on the same store. The
//! mutating routes (rollback) are on only with `--token-file`.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use hnswtune_http::{Api, BearerToken};

use crate::cli::{ServeArgs, check_min_recall};
use crate::store::Store;

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs, json: bool) -> anyhow::Result<ExitCode> {
    check_min_recall(args.min_recall)?;
    let token = match &args.token_file {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --token-file {}", path.display()))?;
            let token = BearerToken::new(&text)
                .with_context(|| format!("--token-file {} cannot be used", path.display()))?;
            Some(token)
        }
    };
    let store = Store::open_with(
        &args.store,
        hnswtune_journal::JournalOptions::default().read_only(),
    )?;
    // One bounded round trip first, so that a wrong path or endpoint is one sentence
    // now rather than a 503 on every request later.
    let indexes = store.indexes().await?;
    let writable = token.is_some();
    let mut api = Api::new(store.journal.clone(), store.registry.clone())
        .with_min_recall(args.min_recall)?
        .with_refresh(std::time::Duration::from_millis(args.refresh_ms))
        .with_actor(crate::store::whoami_as("hnswtune-serve"));
    if let Some(token) = token {
        api = api.with_token(token);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address: SocketAddr = listener.local_addr()?;
    if !address.ip().is_loopback() {
        tracing::warn!(
            %address,
            "listening beyond loopback: anyone who can reach this address can read the study"
        );
    }
    let url = format!("http://{address}/");
    if json {
        println!(
            "{}",
            serde_json::json!({
                "listening": url,
                "store": store.location.to_string(),
                "indexes": indexes,
                "writable": writable,
            })
        );
    } else {
        println!(
            "serving {} ({} index{}) on {url} — {}; Ctrl-C stops",
            store.location,
            indexes.len(),
            if indexes.len() == 1 { "" } else { "es" },
            if writable {
                "rollback needs the bearer token"
            } else {
                "read-only"
            }
        );
    }
    let mut interrupts = crate::tune::ctrl_c_channel();
    axum::serve(listener, api.router())
        .with_graceful_shutdown(async move {
            interrupts.recv().await;
        })
        .await
        .context("the server stopped")?;
    Ok(ExitCode::SUCCESS)
}
