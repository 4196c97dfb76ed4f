//! The live catalog: the one a server serves, replaced whole on reload.

use std::sync::{Arc, RwLock};

use super::Catalog;

/// The live set of tools. Readers take a snapshot; a reload replaces it and
/// tells whoever [subscribed](LiveCatalog::changes).
pub struct LiveCatalog {
    current: RwLock<Arc<Catalog>>,
    generation: tokio::sync::watch::Sender<u64>,
}

impl Default for LiveCatalog {
    fn default() -> Self {
        Self::new(Catalog::default())
    }
}

impl LiveCatalog {
    /// A live serving `catalog` until the first [`LiveCatalog::replace`].
    pub fn new(catalog: Catalog) -> Self {
        Self {
            current: RwLock::new(Arc::new(catalog)),
            generation: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The current set of tools.
    pub fn snapshot(&self) -> Arc<Catalog> {
        // A poisoned lock means a writer panicked between two whole-value
        // assignments; the value inside is still a complete catalog.
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replaces the set of tools and wakes every [`LiveCatalog::changes`]
    /// receiver.
    pub fn replace(&self, mut catalog: Catalog) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        catalog.adopt_slots(&current);
        *current = Arc::new(catalog);
        drop(current);
        self.generation.send_modify(|g| *g += 1);
    }

    /// A receiver that sees every later [`LiveCatalog::replace`].
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }
}
