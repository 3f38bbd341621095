//! [`ObjectStorePromotions`]: the champion chain of each index on any object store.
//!
//! Revision `r` of an index is the object `promotions/<index>/<r>.json`, written once
//! with `PutMode::Create`. Exactly one writer can create it; every other writer gets
//! [`Error::Conflict`] and must re-read the history and decide again. A revision `r >
//! 1` is written only when revision `r - 1` exists, so the chain is always `1..=n`
//! with no holes: linear, and the champion is the last revision. Nothing is ever
//! rewritten, so the history keeps every promotion and rollback.
//!
//! Unlike journal entries, a revision that cannot be decoded is an error
//! ([`Error::Corrupt`]), not a skip: guessing the champion from a damaged chain could
//! serve the wrong config, so an operator has to look.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use hnswtune_core::{Error, IndexName, Promotion, PromotionRegistry};
use object_store::{GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::StoreLocation;
use crate::error::from_store;
use crate::keys::{Layout, parse_numbered};

/// The largest revision object read or written.
pub const MAX_PROMOTION_BYTES: u64 = 1 << 20;

/// A [`PromotionRegistry`] over any [`ObjectStore`]: a Create-only chain of
/// revisions per index.
pub struct ObjectStorePromotions {
    store: Arc<dyn ObjectStore>,
    layout: Layout,
}

impl fmt::Debug for ObjectStorePromotions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStorePromotions")
            .field("store", &self.store.to_string())
            .field("prefix", &self.layout.root())
            .finish()
    }
}

impl ObjectStorePromotions {
    /// A registry at the root of `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        ObjectStorePromotions {
            store,
            layout: Layout::default(),
        }
    }

    /// A registry at `location` (store and key prefix).
    pub fn open(location: StoreLocation) -> Result<Self, Error> {
        Ok(ObjectStorePromotions {
            store: location.store,
            layout: Layout::new(&location.prefix)?,
        })
    }

    /// A registry in a fresh in-memory store.
    pub fn in_memory() -> Self {
        ObjectStorePromotions::new(StoreLocation::in_memory().store)
    }

    /// The local default: a registry in files under `dir`, created if missing.
    pub fn local(dir: impl AsRef<std::path::Path>, fsync: bool) -> Result<Self, Error> {
        ObjectStorePromotions::open(StoreLocation::local(dir, fsync)?)
    }

    /// A registry at a location URL (see [`StoreLocation::parse`]).
    pub fn from_url(url: &str) -> Result<Self, Error> {
        ObjectStorePromotions::open(StoreLocation::parse(url)?)
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    async fn fetch(&self, index: &IndexName, revision: u64) -> Result<Promotion, Error> {
        let key = self.layout.promotion(index, revision);
        let result = self
            .store
            .get_opts(&key, GetOptions::default())
            .await
            .map_err(|e| from_store("get", &key, e))?;
        let corrupt = |why: String| Error::Corrupt {
            key: key.to_string(),
            why,
        };
        if result.meta.size > MAX_PROMOTION_BYTES {
            return Err(Error::TooLarge {
                what: key.to_string(),
                size_bytes: result.meta.size,
                limit_bytes: MAX_PROMOTION_BYTES,
            });
        }
        let bytes = result
            .bytes()
            .await
            .map_err(|e| from_store("get", &key, e))?;
        let promotion: Promotion =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if promotion.index != *index || promotion.revision != revision {
            return Err(corrupt(format!(
                "the record says index {} revision {}",
                promotion.index, promotion.revision
            )));
        }
        Ok(promotion)
    }
}

#[async_trait]
impl PromotionRegistry for ObjectStorePromotions {
    async fn history(&self, index: &IndexName) -> Result<Vec<Promotion>, Error> {
        let dir = self.layout.promotions_dir(index);
        let listed: Vec<_> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|e| from_store("list", &dir, e))?;
        let mut revisions: Vec<u64> = listed
            .iter()
            .filter_map(|meta| {
                let revision = meta.location.filename().and_then(parse_numbered);
                if revision.is_none() {
                    tracing::warn!(key = %meta.location, "ignoring a foreign object among the promotions");
                }
                revision
            })
            .collect();
        // LocalFileSystem lists in no particular order.
        revisions.sort_unstable();
        futures::stream::iter(revisions)
            .map(|r| self.fetch(index, r))
            .buffered(16)
            .try_collect()
            .await
    }

    async fn write_revision(&self, promotion: &Promotion) -> Result<(), Error> {
        let index = &promotion.index;
        let revision = promotion.revision;
        if revision == 0 {
            return Err(Error::invalid("promotion.revision", "revisions start at 1"));
        }
        if let Some(m) = &promotion.metrics {
            m.validate()?;
        }
        if revision > 1 {
            let previous = self.layout.promotion(index, revision - 1);
            match self.store.head(&previous).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(Error::Conflict {
                        what: format!(
                            "revision {revision} of index {index}: revision {} does not exist, re-read the history",
                            revision - 1
                        ),
                    });
                }
                Err(e) => return Err(from_store("head", &previous, e)),
            }
        }
        let key = self.layout.promotion(index, revision);
        let body = serde_json::to_vec(promotion)
            .map_err(|e| Error::invalid("promotion", e.to_string()))?;
        if body.len() as u64 > MAX_PROMOTION_BYTES {
            return Err(Error::TooLarge {
                what: format!("revision {revision} of index {index}"),
                size_bytes: body.len() as u64,
                limit_bytes: MAX_PROMOTION_BYTES,
            });
        }
        match self
            .store
            .put_opts(
                &key,
                PutPayload::from(body),
                PutOptions::from(PutMode::Create),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => Err(Error::Conflict {
                what: format!(
                    "revision {revision} of index {index} was written by another promoter"
                ),
            }),
            Err(e) => Err(from_store("put", &key, e)),
        }
    }
}
