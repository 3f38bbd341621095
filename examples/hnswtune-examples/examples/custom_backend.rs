//! custom_backend: plug your own index into the harness by implementing `IndexBackend`.
//!
//! `Ivf` is a small inverted-file index written here: k-means (a few Lloyd iterations)
//! splits the vectors into `nlist` cells at build time; a search scans the `nprobe`
//! cells whose centroids are nearest to the query. `nlist` is a build-time parameter
//! and `nprobe` a search-time one, so the harness caches each build and measures many
//! `nprobe` values on it without rebuilding, exactly as it does for HNSW's
//! `ef_search`. The study then tunes (nlist, nprobe) with the same agent, journal and
//! promotion rules as an HNSW index.
//!
//! ```text
//! cargo run --release -p hnswtune-examples --example custom_backend
//! ```

use std::sync::Arc;

use hnswtune_agent::{AgentConfig, Backends, IndexSettings, StudyBudget, tune};
use hnswtune_core::{IndexName, Objective, ParamSpec, Params, Phase, SearchSpace};
use hnswtune_examples::{ProgressObserver, print_champion_and_front};
use hnswtune_harness::testdata::clustered;
use hnswtune_harness::{
    BuildOptions, BuiltIndex, EvalSet, HnswEvaluator, InMemorySource, IndexBackend, Metric,
    Searcher, Vectors,
};
use hnswtune_journal::{ObjectStoreJournal, ObjectStorePromotions};
use hnswtune_propose::Grid;

/// Cells built by k-means.
const NLIST: &str = "nlist";
/// Cells scanned per query.
const NPROBE: &str = "nprobe";

/// An inverted-file index backend.
#[derive(Debug, Default)]
struct Ivf;

#[derive(Debug)]
struct IvfIndex {
    vectors: Vectors,
    centroids: Vec<Vec<f32>>,
    cells: Vec<Vec<u32>>,
}

/// A build, shared with the searchers made from it.
#[derive(Debug)]
struct IvfBuilt(Arc<IvfIndex>);

#[derive(Debug)]
struct IvfSearcher {
    index: Arc<IvfIndex>,
    nprobe: usize,
}

fn param(params: &Params, name: &str) -> hnswtune_harness::Result<usize> {
    params
        .int(name)
        .filter(|v| *v >= 1)
        .map(|v| v as usize)
        .ok_or_else(|| hnswtune_harness::Error::MissingParam { name: name.into() })
}

fn nearest(centroids: &[Vec<f32>], metric: Metric, v: &[f32]) -> usize {
    (0..centroids.len())
        .min_by(|&a, &b| {
            metric
                .distance(&centroids[a], v)
                .total_cmp(&metric.distance(&centroids[b], v))
        })
        .unwrap_or(0)
}

impl IndexBackend for Ivf {
    fn name(&self) -> &str {
        "example-ivf"
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::levels(NLIST, vec![8, 16, 32, 64], Phase::Build),
            ParamSpec::int(NPROBE, 1, 32, 1, Phase::Search),
        ]
    }

    fn build(
        &self,
        vectors: &Vectors,
        params: &Params,
        options: &BuildOptions,
    ) -> hnswtune_harness::Result<Box<dyn BuiltIndex>> {
        let nlist = param(params, NLIST)?.min(vectors.len());
        let metric = vectors.metric();
        // Seeded initial centroids: evenly spaced rows, offset by the seed.
        let mut centroids: Vec<Vec<f32>> = (0..nlist)
            .map(|c| {
                vectors
                    .row((c * vectors.len() / nlist + options.seed as usize) % vectors.len())
                    .to_vec()
            })
            .collect();
        let mut assignment = vec![0usize; vectors.len()];
        for _ in 0..6 {
            for (i, row) in vectors.rows().enumerate() {
                assignment[i] = nearest(&centroids, metric, row);
            }
            let mut sums = vec![vec![0f32; vectors.dim()]; nlist];
            let mut counts = vec![0usize; nlist];
            for (i, row) in vectors.rows().enumerate() {
                counts[assignment[i]] += 1;
                for (s, x) in sums[assignment[i]].iter_mut().zip(row) {
                    *s += x;
                }
            }
            for c in 0..nlist {
                if counts[c] > 0 {
                    centroids[c] = sums[c].iter().map(|s| s / counts[c] as f32).collect();
                }
            }
        }
        let mut cells = vec![Vec::new(); nlist];
        for (i, row) in vectors.rows().enumerate() {
            cells[nearest(&centroids, metric, row)].push(i as u32);
        }
        Ok(Box::new(IvfBuilt(Arc::new(IvfIndex {
            vectors: vectors.clone(),
            centroids,
            cells,
        }))))
    }
}

impl BuiltIndex for IvfBuilt {
    fn searcher(&self, params: &Params) -> hnswtune_harness::Result<Arc<dyn Searcher>> {
        Ok(Arc::new(IvfSearcher {
            index: Arc::clone(&self.0),
            nprobe: param(params, NPROBE)?,
        }))
    }

    fn index_bytes(&self) -> u64 {
        // Counted from the structures themselves: the vectors, the centroids and the
        // posting lists.
        let index = &self.0;
        let floats =
            index.vectors.as_slice().len() + index.centroids.iter().map(Vec::len).sum::<usize>();
        let ids: usize = index.cells.iter().map(Vec::len).sum();
        (floats * 4 + ids * 4) as u64
    }

    fn len(&self) -> usize {
        self.0.vectors.len()
    }
}

impl Searcher for IvfSearcher {
    fn search(&self, query: &[f32], k: usize, out: &mut Vec<u32>) -> hnswtune_harness::Result<()> {
        let index = &self.index;
        let metric = index.vectors.metric();
        let mut order: Vec<usize> = (0..index.centroids.len()).collect();
        order.sort_by(|&a, &b| {
            metric
                .distance(&index.centroids[a], query)
                .total_cmp(&metric.distance(&index.centroids[b], query))
        });
        let mut candidates: Vec<(f32, u32)> = order
            .iter()
            .take(self.nprobe)
            .flat_map(|&c| index.cells[c].iter())
            .map(|&id| (metric.distance(index.vectors.row(id as usize), query), id))
            .collect();
        candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        out.clear();
        out.extend(candidates.iter().take(k).map(|&(_, id)| id));
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let index = IndexName::new("ivf-demo")?;
    let source = Arc::new(InMemorySource::new());
    source.insert(&index, Arc::new(clustered(4_000, 32, 40, 1, Metric::L2)));
    let evaluator = HnswEvaluator::new(Arc::new(Ivf), source);
    evaluator.add_eval_set(EvalSet::new(
        "queries",
        clustered(100, 32, 40, 2, Metric::L2),
        10,
        None,
    )?);

    // The space is the backend's own: nlist (build) × nprobe (search).
    let space = SearchSpace::new(Ivf.parameters())?;
    let settings = IndexSettings::new(index.clone(), "queries", Arc::new(Grid::new()))
        .with_space(space)
        .with_initial_params(Params::new().with(NLIST, 16).with(NPROBE, 4))
        .with_objective(Objective::new(0.9)?);
    let backends = Backends::new(
        Arc::new(ObjectStoreJournal::local(dir.path(), false)?),
        Arc::new(ObjectStorePromotions::local(dir.path(), false)?),
        Arc::new(evaluator),
    );
    let config = AgentConfig {
        min_recall: 0.9,
        agent_id: "custom-backend-example".into(),
        ..AgentConfig::default()
    };
    let budget = 20;
    let observer = ProgressObserver::new(budget);
    let report = tune(
        &config,
        &backends,
        &settings,
        StudyBudget::trials(budget),
        &observer,
    )
    .await?;
    observer.finish();
    print_champion_and_front(report.champion.as_ref(), &report.pareto_front);
    Ok(())
}
