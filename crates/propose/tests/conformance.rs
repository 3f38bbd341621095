//! The proposer contract (`hnswtune_testkit::proposer_conformance!`), run for every
//! strategy of this crate. A new strategy joins the suite by adding a module.

mod frontier {
    hnswtune_testkit::proposer_conformance!(hnswtune_propose::Frontier::seeded);
}
mod grid {
    hnswtune_testkit::proposer_conformance!(|_seed: u64| hnswtune_propose::Grid::new());
}
mod annealing {
    hnswtune_testkit::proposer_conformance!(hnswtune_propose::Annealing::seeded);
}
mod epsilon_greedy {
    hnswtune_testkit::proposer_conformance!(hnswtune_propose::EpsilonGreedy::seeded);
}
mod random {
    hnswtune_testkit::proposer_conformance!(hnswtune_propose::Random::seeded);
}
mod tpe {
    hnswtune_testkit::proposer_conformance!(hnswtune_propose::Tpe::seeded);
}
