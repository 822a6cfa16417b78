//! Dependencies between services (`depends_on`): the graph, its cycles, and which failing
//! services are blocked by a failing dependency.
//!
//! Pure: indices in, indices out. A service is *blocked* when it is failing and one of its
//! dependencies, direct or transitive, is failing too; the failing services that are not
//! blocked are the *roots*, and each blocked service is blocked by the roots among its
//! failing dependencies. A root's alert names what it blocks; a blocked service is neither
//! restarted nor alerted on its own.

/// The dependency graph of a configuration's services, without cycles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    /// For each service, the services it depends on directly.
    parents: Vec<Vec<usize>>,
}

impl Graph {
    /// The graph of `parents` (for each service, the indices it depends on), or every cycle
    /// found, each as the services along it, starting and ending with the same one.
    pub fn new(parents: Vec<Vec<usize>>) -> Result<Self, Vec<Vec<usize>>> {
        let cycles = cycles(&parents);
        if cycles.is_empty() { Ok(Self { parents }) } else { Err(cycles) }
    }

    /// How many services.
    pub fn len(&self) -> usize {
        self.parents.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.parents.is_empty()
    }

    /// The services `i` depends on, directly or not, each once, nearest first.
    pub fn ancestors(&self, i: usize) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut out = Vec::new();
        let mut queue: std::collections::VecDeque<usize> = self.parents[i].iter().copied().collect();
        while let Some(j) = queue.pop_front() {
            if j >= self.len() || std::mem::replace(&mut seen[j], true) {
                continue;
            }
            out.push(j);
            queue.extend(self.parents[j].iter().copied());
        }
        out
    }

    /// For each service: `None` when it is not blocked, else the roots blocking it (failing
    /// dependencies that are not blocked themselves), in index order. `failing[i]` says
    /// whether service `i` is failing.
    pub fn blocked(&self, failing: &[bool]) -> Vec<Option<Vec<usize>>> {
        let down = |j: usize| failing.get(j).copied().unwrap_or(false);
        let failing_ancestors: Vec<Vec<usize>> =
            (0..self.len()).map(|i| self.ancestors(i).into_iter().filter(|&j| down(j)).collect()).collect();
        (0..self.len())
            .map(|i| {
                if !down(i) || failing_ancestors[i].is_empty() {
                    return None;
                }
                let mut roots: Vec<usize> = failing_ancestors[i]
                    .iter()
                    .copied()
                    .filter(|&j| failing_ancestors[j].is_empty())
                    .collect();
                roots.sort_unstable();
                Some(roots)
            })
            .collect()
    }
}

/// Every cycle of `parents`, each once (as found by a depth-first walk), as the services along
/// it from its first (in index order) back to itself.
fn cycles(parents: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; parents.len()];
    let mut found: Vec<Vec<usize>> = Vec::new();
    for start in 0..parents.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // An explicit stack: a long chain of dependencies cannot overflow the thread's stack.
        let mut path: Vec<usize> = vec![start];
        let mut next: Vec<usize> = vec![0];
        mark[start] = Mark::OnPath;
        while let Some(&node) = path.last() {
            let k = next.last().copied().unwrap_or(0);
            match parents[node].get(k) {
                Some(&p) if p < parents.len() => {
                    *next.last_mut().expect("in step with the path") += 1;
                    match mark[p] {
                        Mark::New => {
                            mark[p] = Mark::OnPath;
                            path.push(p);
                            next.push(0);
                        }
                        Mark::OnPath => {
                            let from = path.iter().position(|&n| n == p).unwrap_or(0);
                            let mut cycle: Vec<usize> = path[from..].to_vec();
                            let first =
                                cycle.iter().enumerate().min_by_key(|(_, n)| **n).map_or(0, |(i, _)| i);
                            cycle.rotate_left(first);
                            cycle.push(cycle[0]);
                            if !found.contains(&cycle) {
                                found.push(cycle);
                            }
                        }
                        Mark::Done => {}
                    }
                }
                Some(_) => *next.last_mut().expect("in step with the path") += 1,
                None => {
                    mark[node] = Mark::Done;
                    path.pop();
                    next.pop();
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_found_and_named_from_their_first_service() {
        assert_eq!(Graph::new(vec![vec![1], vec![2], vec![0]]).unwrap_err(), [vec![0, 1, 2, 0]]);
        assert_eq!(Graph::new(vec![vec![0]]).unwrap_err(), [vec![0, 0]]);
        assert_eq!(Graph::new(vec![vec![], vec![2], vec![1], vec![0]]).unwrap_err(), [vec![1, 2, 1]]);
        assert!(Graph::new(vec![vec![], vec![0], vec![0, 1], vec![2]]).is_ok(), "a diamond is no cycle");
    }

    #[test]
    fn blocked_services_name_their_roots() {
        // 0 Database; 1 Web Port -> 0; 2 API -> 1; 3 Cache; 4 Worker -> 2, 3.
        let g = Graph::new(vec![vec![], vec![0], vec![1], vec![], vec![2, 3]]).unwrap();
        assert_eq!(g.ancestors(4), [2, 3, 1, 0]);
        let b = g.blocked(&[true, true, true, false, true]);
        assert_eq!(b, [None, Some(vec![0]), Some(vec![0]), None, Some(vec![0])]);
        // Web Port up but API down: API is still blocked by the Database, transitively.
        let b = g.blocked(&[true, false, true, true, true]);
        assert_eq!(b, [None, None, Some(vec![0]), None, Some(vec![0, 3])]);
        let b = g.blocked(&[false, false, true, false, true]);
        assert_eq!(b, [None, None, None, None, Some(vec![2])]);
    }
}
