//! The seams' impls for `Arc`, `&` and `Box` forward every method, so a wrapper never
//! falls back to a default that the wrapped backend overrides.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    DatasetFingerprint, Error, IndexName, JournalRead, Params, Promotion, PromotionRegistry, Trial,
    TrialId, TrialJournal, Trials, TriggerReason,
};

/// The names of the `fn`s between `start` and the first line that is only `}` after it.
fn fns_in(source: &str, start: &str) -> BTreeSet<String> {
    let from = source
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not found"));
    let block = &source[from..];
    let block = &block[..block.find("\n}\n").expect("the block ends")];
    block
        .split("fn ")
        .skip(1)
        .filter_map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// Fails when a method is added to a seam trait and not to its forwarding macro.
#[test]
fn every_trait_method_is_in_its_forwarding_macro() {
    let journal = include_str!("journal.rs");
    assert_eq!(
        fns_in(journal, "pub trait TrialJournal"),
        fns_in(journal, "macro_rules! forward_journal"),
    );
    let promotion = include_str!("promotion.rs");
    assert_eq!(
        fns_in(promotion, "pub trait PromotionRegistry"),
        fns_in(promotion, "macro_rules! forward_registry"),
    );
    let lease = include_str!("lease.rs");
    assert_eq!(
        fns_in(lease, "pub trait TrialLeases"),
        fns_in(lease, "macro_rules! forward_leases"),
    );
}

/// A backend that overrides every provided method with an answer the default would not
/// give.
#[derive(Debug)]
struct Probe;

fn marker_trial() -> Trial {
    Trial::start(
        IndexName::new("probe").unwrap(),
        "probe",
        Params::new(),
        DatasetFingerprint {
            vector_count: 0,
            dimension: 0,
            content_hash: "probe".into(),
        },
        TriggerReason::Manual,
    )
}

#[async_trait]
impl TrialJournal for Probe {
    async fn append(&self, _: &Trial) -> Result<(), Error> {
        Ok(())
    }
    async fn read(&self, _: &IndexName) -> Result<JournalRead, Error> {
        Err(Error::Unsupported {
            what: "read".into(),
        })
    }
    async fn indexes(&self) -> Result<Vec<IndexName>, Error> {
        Ok(vec![IndexName::new("overridden")?])
    }
    async fn trials(&self, _: &IndexName) -> Result<Trials, Error> {
        Ok(Trials::from(vec![marker_trial()]))
    }
    async fn get(&self, _: &IndexName, _: TrialId) -> Result<Trial, Error> {
        Ok(marker_trial())
    }
}

#[async_trait]
impl PromotionRegistry for Probe {
    async fn history(&self, _: &IndexName) -> Result<Vec<Promotion>, Error> {
        Err(Error::Unsupported {
            what: "history".into(),
        })
    }
    async fn write_revision(&self, _: &Promotion) -> Result<(), Error> {
        Ok(())
    }
    async fn champion(&self, _: &IndexName) -> Result<Option<Promotion>, Error> {
        Ok(None)
    }
}

async fn overrides_are_seen(journal: &dyn TrialJournal, registry: &dyn PromotionRegistry) {
    let index = IndexName::new("probe").unwrap();
    assert_eq!(journal.indexes().await.unwrap()[0].as_str(), "overridden");
    // The defaults of `trials` and `get` would call `read`, which fails.
    assert_eq!(journal.trials(&index).await.unwrap().len(), 1);
    assert!(journal.get(&index, TrialId::new()).await.is_ok());
    // The default of `champion` would call `history`, which fails.
    assert!(registry.champion(&index).await.unwrap().is_none());
}

#[test]
fn arc_ref_and_box_forward_the_overridden_methods() {
    futures::executor::block_on(async {
        let probe = Probe;
        overrides_are_seen(&&probe, &&probe).await;
        overrides_are_seen(&Arc::new(Probe), &Arc::new(Probe)).await;
        overrides_are_seen(&Box::new(Probe), &Box::new(Probe)).await;
        let shared: Arc<dyn TrialJournal> = Arc::new(Probe);
        let registry: Arc<dyn PromotionRegistry> = Arc::new(Probe);
        overrides_are_seen(&shared, &registry).await;
    });
}
