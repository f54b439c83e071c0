//! The largest fully connected group inside one component (maximum clique of the mutual
//! graph restricted to the component).
//!
//! Maximum clique is NP-hard, so the search is layered, each layer cheap enough to run on
//! every picture change:
//!
//! 1. **Lower bound, greedy by degree**: members in (degree descending, id ascending) order,
//!    each added when it is linked to everything added so far. O(k * span) word operations
//!    for a component of k members spanning `span` words.
//! 2. **Upper bound, greedy colouring**: colour classes are independent sets built by bitset
//!    elimination; a clique has at most one member per class, so the number of classes
//!    bounds it. Also O((k + classes) * span).
//! 3. When the bounds meet, the greedy clique is provably maximum (the common partial
//!    partitions, a bridge or two overlapping majorities, end here). Otherwise, for
//!    components up to `exact_limit` members, an exact branch and bound (Tomita's MCQ with
//!    colouring bounds on bitsets, as in San Segundo's BBMC) runs under a step budget.
//!    Only when the component is larger or the budget runs out is the answer a heuristic,
//!    and then it says so (`exact == false`) and carries the colouring upper bound.

#![forbid(unsafe_code)]

use super::bits;

/// A clique found in one component.
pub(crate) struct CliqueResult {
    /// Member slots, ascending.
    pub members: Vec<usize>,
    /// Whether `members` is proven maximum.
    pub exact: bool,
    /// An upper bound on the maximum clique size (equal to `members.len()` when exact).
    pub upper: usize,
}

/// Inputs describing one component of the mutual graph.
pub(crate) struct Component<'a> {
    /// The whole mutual matrix, row stride `w`.
    pub mutual: &'a [u64],
    /// Row stride in words.
    pub w: usize,
    /// The component's membership bitset (`w` words).
    pub comp: &'a [u64],
    /// Member slots, ascending.
    pub members: &'a [usize],
    /// Degree of each member inside the component (parallel to `members`).
    pub degree: &'a [usize],
    /// First word of the component's span.
    pub lo: usize,
    /// One past the last word of the component's span.
    pub hi: usize,
}

impl Component<'_> {
    fn row(&self, v: usize) -> &[u64] {
        &self.mutual[v * self.w + self.lo..v * self.w + self.hi]
    }
}

/// Finds a maximum (or, past the limits, a large) clique of the component.
pub(crate) fn max_clique(c: &Component<'_>, exact_limit: usize, budget: u64) -> CliqueResult {
    let k = c.members.len();
    if k <= 1 {
        return CliqueResult { members: c.members.to_vec(), exact: true, upper: k };
    }
    let span = c.hi - c.lo;
    let comp = &c.comp[c.lo..c.hi];

    // 1. Greedy lower bound.
    // (degree desc, index asc); members linked to everyone come first without sorting,
    // which in a near-complete component is nearly all of them.
    let mut order: Vec<usize> = (0..k).filter(|&i| c.degree[i] + 1 == k).collect();
    let mut rest: Vec<usize> = (0..k).filter(|&i| c.degree[i] + 1 != k).collect();
    rest.sort_unstable_by_key(|&i| (std::cmp::Reverse(c.degree[i]), i));
    order.extend(rest);
    let mut chosen = vec![0u64; span];
    for &i in &order {
        let v = c.members[i];
        let row = c.row(v);
        if chosen.iter().zip(row).all(|(&x, &r)| x & !r == 0) {
            bits::set(&mut chosen, v - c.lo * 64);
        }
    }

    // The greedy clique, ascending.
    let best: Vec<usize> = bits::ones(&chosen, c.lo).collect();

    // 2a. Matching upper bound: members that miss each other pairwise cannot share a
    // clique, so a clique has at most k - |M| members for any matching M of missing links.
    // A greedy matching costs O(span) per member that misses someone, which in the common
    // partial partitions (one lost link, a bridge between two halves) is already tight.
    let mut unmatched = comp.to_vec();
    let mut matching = 0usize;
    for (i, &v) in c.members.iter().enumerate() {
        let local = v - c.lo * 64;
        if c.degree[i] + 1 == k || !bits::get(&unmatched, local) {
            continue;
        }
        bits::clear(&mut unmatched, local);
        let row = c.row(v);
        let partner = unmatched.iter().zip(row).position(|(&u, &r)| u & !r != 0);
        if let Some(wi) = partner {
            let p = wi * 64 + (unmatched[wi] & !row[wi]).trailing_zeros() as usize;
            bits::clear(&mut unmatched, p);
            matching += 1;
        }
    }
    let mut upper = k - matching;
    if best.len() >= upper {
        return CliqueResult { members: best, exact: true, upper };
    }

    // 2b. Colouring upper bound.
    let mut uncoloured = comp.to_vec();
    let mut q = vec![0u64; span];
    let mut classes = 0usize;
    let mut start = 0usize;
    while let Some(off) = bits::first(&uncoloured[start..]) {
        start += off / 64;
        classes += 1;
        q.copy_from_slice(&uncoloured);
        let mut qs = start;
        while let Some(off) = bits::first(&q[qs..]) {
            qs += off / 64;
            let local = qs * 64 + off % 64;
            bits::clear(&mut q, local);
            bits::clear(&mut uncoloured, local);
            let row = c.row(local + c.lo * 64);
            for (x, &r) in q[qs..].iter_mut().zip(&row[qs..]) {
                *x &= !r;
            }
        }
    }
    upper = upper.min(classes);
    if best.len() >= upper {
        return CliqueResult { members: best, exact: true, upper };
    }
    if k > exact_limit {
        return CliqueResult { members: best, exact: false, upper };
    }

    // 3. Exact branch and bound on local indices.
    let lw = bits::words(k);
    let mut adj = vec![0u64; k * lw];
    for (i, &v) in c.members.iter().enumerate() {
        let row = c.row(v);
        for (j, &u) in c.members.iter().enumerate() {
            if bits::get(row, u - c.lo * 64) {
                bits::set(&mut adj[i * lw..(i + 1) * lw], j);
            }
        }
    }
    let local_best: Vec<usize> = best.iter().filter_map(|v| c.members.binary_search(v).ok()).collect();
    let mut s = Search { adj: &adj, lw, best: local_best, steps: 0, budget, aborted: false };
    let mut p = vec![0u64; lw];
    for i in 0..k {
        bits::set(&mut p, i);
    }
    let mut cur = Vec::with_capacity(k);
    s.expand(&mut cur, p);
    let mut members: Vec<usize> = s.best.iter().map(|&i| c.members[i]).collect();
    members.sort_unstable();
    let exact = !s.aborted;
    let upper = if exact { members.len() } else { upper };
    CliqueResult { members, exact, upper }
}

struct Search<'a> {
    adj: &'a [u64],
    lw: usize,
    best: Vec<usize>,
    steps: u64,
    budget: u64,
    aborted: bool,
}

impl Search<'_> {
    fn adj(&self, v: usize) -> &[u64] {
        &self.adj[v * self.lw..(v + 1) * self.lw]
    }

    /// Colours `p` greedily; returns the vertices in colour order with their colour.
    fn colour_sort(&self, p: &[u64]) -> (Vec<usize>, Vec<usize>) {
        let mut order = Vec::new();
        let mut colour = Vec::new();
        let mut u = p.to_vec();
        let mut k = 0usize;
        while bits::first(&u).is_some() {
            k += 1;
            let mut q = u.clone();
            while let Some(v) = bits::first(&q) {
                bits::clear(&mut q, v);
                bits::clear(&mut u, v);
                for (x, &a) in q.iter_mut().zip(self.adj(v)) {
                    *x &= !a;
                }
                order.push(v);
                colour.push(k);
            }
        }
        (order, colour)
    }

    fn expand(&mut self, cur: &mut Vec<usize>, mut p: Vec<u64>) {
        self.steps += 1;
        if self.steps > self.budget {
            self.aborted = true;
            return;
        }
        let (order, colour) = self.colour_sort(&p);
        for idx in (0..order.len()).rev() {
            if cur.len() + colour[idx] <= self.best.len() {
                return;
            }
            let v = order[idx];
            cur.push(v);
            let np: Vec<u64> = p.iter().zip(self.adj(v)).map(|(&a, &b)| a & b).collect();
            if np.iter().all(|&x| x == 0) {
                if cur.len() > self.best.len() {
                    self.best = cur.clone();
                }
            } else {
                self.expand(cur, np);
                if self.aborted {
                    return;
                }
            }
            cur.pop();
            bits::clear(&mut p, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a symmetric matrix from an edge list and runs the search on all `n` nodes.
    fn run(n: usize, edges: &[(usize, usize)], exact_limit: usize) -> CliqueResult {
        let w = bits::words(n);
        let mut m = vec![0u64; n * w];
        for &(a, b) in edges {
            bits::set(&mut m[a * w..(a + 1) * w], b);
            bits::set(&mut m[b * w..(b + 1) * w], a);
        }
        let mut comp = vec![0u64; w];
        for i in 0..n {
            bits::set(&mut comp, i);
        }
        let members: Vec<usize> = (0..n).collect();
        let degree: Vec<usize> = (0..n).map(|i| bits::count(&m[i * w..(i + 1) * w])).collect();
        let c = Component { mutual: &m, w, comp: &comp, members: &members, degree: &degree, lo: 0, hi: w };
        max_clique(&c, exact_limit, 1_000_000)
    }

    fn brute(n: usize, edges: &[(usize, usize)]) -> usize {
        let adj = |a: usize, b: usize| edges.iter().any(|&(x, y)| (x, y) == (a, b) || (y, x) == (a, b));
        (0u32..1 << n)
            .filter(|s| (0..n).all(|a| (0..n).all(|b| a == b || s & (1 << a) == 0 || s & (1 << b) == 0 || adj(a, b))))
            .map(|s| s.count_ones() as usize)
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn ring_of_five_has_no_triangle() {
        let r = run(5, &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)], 64);
        assert_eq!(r.members.len(), 2);
        assert!(r.exact);
    }

    #[test]
    fn bridge_finds_a_majority_clique() {
        // {0,1} and {3,4} cut, 2 reaches all.
        let r = run(5, &[(0, 1), (0, 2), (1, 2), (2, 3), (2, 4), (3, 4)], 64);
        assert_eq!(r.members, vec![0, 1, 2]);
        assert!(r.exact);
    }

    #[test]
    fn exact_matches_brute_force_on_random_graphs() {
        let mut x = 7u64;
        for n in 2..=12usize {
            for _ in 0..20 {
                let mut edges = vec![];
                for a in 0..n {
                    for b in a + 1..n {
                        x = crate::hash::mix64(x.wrapping_add(0x9e37));
                        if x % 10 < 6 {
                            edges.push((a, b));
                        }
                    }
                }
                let r = run(n, &edges, 64);
                assert!(r.exact);
                assert_eq!(r.members.len(), brute(n, &edges), "n={n} {edges:?}");
                for &a in &r.members {
                    for &b in &r.members {
                        assert!(a == b || edges.contains(&(a.min(b), a.max(b))));
                    }
                }
                // Past the exact limit the answer is still a clique, with an honest bound.
                let h = run(n, &edges, 0);
                assert!(h.members.len() <= r.members.len() && h.upper >= r.members.len());
                assert_eq!(h.exact, h.members.len() == h.upper);
            }
        }
    }
}
