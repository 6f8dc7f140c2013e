//! The one rule for the worker threads of every command (`--threads`,
//! `--workers`): what was asked for (default: every core), never more than
//! the cores this process may use, nor more than there are pieces of work.
//!
//! More workers than cores only time-slice: threads that spin while they
//! wait for each other then wait for whole scheduler slices, and each extra
//! worker holds its own buffers. More workers than pieces of work only
//! start threads that find nothing to do.

/// Cores this process may use (affinity and cgroup limits included).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Workers for `work` pieces of work (patches, pairs, batches; at least 1)
/// when `requested` were asked for (`None` or 0: every core).
pub fn workers(requested: Option<usize>, work: usize) -> usize {
    capped(requested, work, cores())
}

/// [`workers`] on a machine with `cores` cores.
fn capped(requested: Option<usize>, work: usize, cores: usize) -> usize {
    let cores = cores.max(1);
    requested.filter(|&n| n > 0).unwrap_or(cores).min(cores).min(work.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_capped_at_the_cores_and_the_work() {
        // (requested, work, cores) -> workers
        let cases = [
            (None, 2000, 2, 2),
            (Some(0), 2000, 4, 4),
            (Some(1), 2000, 2, 1),
            (Some(3), 2000, 2, 2),
            (Some(66), 2000, 2, 2),
            (Some(1024), 2000, 16, 16),
            (Some(1024), 3, 16, 3),
            (None, 1, 8, 1),
            (Some(8), 0, 8, 1),
            (Some(5), 10, 0, 1),
        ];
        for (requested, work, cores, want) in cases {
            assert_eq!(capped(requested, work, cores), want, "{requested:?} requested, {work} work, {cores} cores");
        }
        assert!((1..=cores()).contains(&workers(Some(1024), usize::MAX)));
    }
}
