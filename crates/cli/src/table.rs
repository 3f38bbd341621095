//! Plain-text tables and the per-trial rows shared by `tune`, `report` and `status`.

use std::fmt;

use hnswtune_core::{Trial, TrialId, TrialState};

/// A table of left-aligned text columns, printed with two spaces between columns.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (missing cells print empty, extra cells are kept).
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// True when no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.headers.len()])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).map_or("", String::as_str);
                line.push_str(cell);
                if i + 1 < columns {
                    let pad = width - cell.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// The short text of a trial's state.
pub fn state_text(state: &TrialState) -> String {
    match state {
        TrialState::Running => "running".into(),
        TrialState::Complete => "complete".into(),
        TrialState::Failed { reason } => format!("failed: {reason}"),
        TrialState::Pruned { reason } => format!("pruned: {reason}"),
    }
}

/// A trial table: one row per trial with its params and headline metrics, marked `*`
/// when it is the champion and `P` when it is on the Pareto front.
pub fn trial_table<'a>(
    trials: impl IntoIterator<Item = &'a Trial>,
    champion: Option<TrialId>,
    front: &[TrialId],
) -> Table {
    let mut table = Table::new([
        "#", "trial", "params", "state", "recall", "p50 µs", "p95 µs", "build s", "build", "MiB",
        "mark",
    ]);
    for (i, t) in trials.into_iter().enumerate() {
        let mut mark = String::new();
        if Some(t.id) == champion {
            mark.push('*');
        }
        if front.contains(&t.id) {
            mark.push('P');
        }
        let mut cells = vec![
            (i + 1).to_string(),
            t.id.to_string(),
            t.params.to_string(),
            state_text(&t.state),
        ];
        match t.completed_metrics() {
            Some(m) => cells.extend([
                format!("{:.4}", m.recall),
                format!("{:.1}", m.search_p50_us),
                format!("{:.1}", m.search_p95_us),
                format!("{:.2}", m.build_cost_secs()),
                build_kind_text(m.build_kind).into(),
                format!("{:.1}", m.index_bytes as f64 / (1024.0 * 1024.0)),
            ]),
            None => cells.extend(std::iter::repeat_n(String::from("-"), 6)),
        }
        cells.push(mark);
        table.row(cells);
    }
    table
}

/// The text of a build kind.
pub fn build_kind_text(kind: hnswtune_core::BuildKind) -> &'static str {
    match kind {
        hnswtune_core::BuildKind::Fresh => "fresh",
        hnswtune_core::BuildKind::Cached => "cached",
        hnswtune_core::BuildKind::Extended => "extended",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_trailing_space_is_trimmed() {
        let mut t = Table::new(["a", "long header"]);
        t.row(["wide cell", "x"]);
        t.row(["y"]);
        let text = t.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "a          long header");
        assert_eq!(lines[1], "wide cell  x");
        assert_eq!(lines[2], "y");
    }
}
