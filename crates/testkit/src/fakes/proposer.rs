//! A proposer that follows a script.

use std::collections::HashSet;

use hnswtune_core::Params;
use hnswtune_propose::{ProposalContext, ProposeError, Proposer};

/// Proposes the first config of a fixed list that is not in the history yet, and
/// `None` once every one has been tried. Deterministic, and it honours the
/// [`Proposer`] contract as long as every listed config lies in the space.
#[derive(Clone, Debug)]
pub struct ScriptedProposer {
    name: String,
    script: Vec<Params>,
}

impl ScriptedProposer {
    /// A proposer that walks `script` in order.
    pub fn new(script: Vec<Params>) -> Self {
        ScriptedProposer {
            name: "scripted".into(),
            script,
        }
    }

    /// The same proposer under another recorded name.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl Proposer for ScriptedProposer {
    fn name(&self) -> &str {
        &self.name
    }

    fn propose(&self, ctx: &ProposalContext<'_>) -> Result<Option<Params>, ProposeError> {
        let tried: HashSet<&Params> = ctx.history.iter().map(|t| &t.params).collect();
        for params in &self.script {
            if tried.contains(params) {
                continue;
            }
            ctx.space.validate(params)?;
            return Ok(Some(params.clone()));
        }
        Ok(None)
    }
}
