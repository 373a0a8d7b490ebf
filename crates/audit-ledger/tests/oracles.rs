//! The tree against its oracles: transparency-dev's known answers, the `ct-merkle` crate over
//! thousands of random trees, and bit-flipped proofs.

use std::collections::HashMap;

use audit_ledger::{
    consistency_proof, inclusion_proof, leaf_hash, root_hash, verify_consistency, verify_inclusion,
    Frontier, Hash, NodeId, TreeError,
};

/// An in-memory store of complete subtrees, filled as a server fills its table.
#[derive(Default)]
struct Store {
    nodes: HashMap<NodeId, Hash>,
    frontier: Frontier,
}

impl Store {
    fn push(&mut self, data: &[u8]) {
        let nodes = &mut self.nodes;
        self.frontier.push_with(leaf_hash(data), |id, h| {
            nodes.insert(id, *h);
        });
    }
    fn get(&self) -> impl FnMut(NodeId) -> Result<Hash, TreeError> + '_ {
        |id| {
            self.nodes.get(&id).copied().ok_or(TreeError::Missing {
                level: id.level,
                index: id.index,
            })
        }
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn hashes(s: &str) -> Vec<Hash> {
    if s == "-" {
        return vec![];
    }
    s.split(',')
        .map(|h| unhex(h).try_into().expect("32 bytes"))
        .collect()
}

#[test]
fn transparency_dev_known_answers() {
    let text = include_str!("../testdata/transparency-dev-vectors.txt");
    let mut store = Store::default();
    let mut leaves = Vec::new();
    for l in text.lines().filter(|l| l.starts_with("leaf ")) {
        let hex = &l[5..];
        leaves.push(if hex == "-" { vec![] } else { unhex(hex) });
    }
    for l in &leaves {
        store.push(l);
    }
    let mut checked = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "root" => {
                let size: u64 = f[1].parse().expect("size");
                let want: Hash = unhex(f[2]).try_into().expect("32");
                assert_eq!(
                    root_hash(size, &mut store.get()).expect("root"),
                    want,
                    "root {size}"
                );
                let mut fr = Frontier::new();
                for l in &leaves[..size as usize] {
                    fr.push(leaf_hash(l));
                }
                assert_eq!(fr.root(), want, "frontier root {size}");
                checked += 1;
            }
            "inclusion" => {
                let (index, size): (u64, u64) =
                    (f[1].parse().expect("i"), f[2].parse().expect("n"));
                let want = hashes(f[3]);
                let got = inclusion_proof(index, size, &mut store.get()).expect("proof");
                assert_eq!(got, want, "inclusion {index} {size}");
                let root = root_hash(size, &mut store.get()).expect("root");
                verify_inclusion(
                    index,
                    size,
                    &leaf_hash(&leaves[index as usize]),
                    &got,
                    &root,
                )
                .expect("verifies");
                checked += 1;
            }
            "consistency" => {
                let (a, b): (u64, u64) = (f[1].parse().expect("a"), f[2].parse().expect("b"));
                let want = hashes(f[3]);
                let got = consistency_proof(a, b, &mut store.get()).expect("proof");
                assert_eq!(got, want, "consistency {a} {b}");
                let ra = root_hash(a, &mut store.get()).expect("root");
                let rb = root_hash(b, &mut store.get()).expect("root");
                verify_consistency(a, b, &ra, &rb, &got).expect("verifies");
                checked += 1;
            }
            _ => {}
        }
    }
    assert_eq!(checked, 9 + 7 + 4, "every vector in the file was checked");
}

/// xorshift64*: deterministic randomness without a dependency; the seed is printed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// 10,000 random trees (prefixes of one random log, sizes up to 65,536) against `ct-merkle`:
/// roots, inclusion proofs and consistency proofs must be byte-identical.
#[test]
fn agrees_with_ct_merkle_on_random_trees() {
    let seed = 0x1d7e_55ed_u64 ^ std::process::id() as u64;
    println!("seed {seed:#x}");
    let mut rng = Rng(seed | 1);
    const MAX: u64 = 65_536;
    const TREES: usize = 10_000;
    let mut sizes: Vec<u64> = (0..TREES).map(|_| 1 + rng.below(MAX)).collect();
    sizes.sort_unstable();
    let mut ours = Store::default();
    let mut theirs: ct_merkle::mem_backed_tree::MemoryBackedTree<sha2::Sha256, Vec<u8>> =
        ct_merkle::mem_backed_tree::MemoryBackedTree::new();
    let mut mismatches = 0usize;
    for &size in &sizes {
        while ours.frontier.size() < size {
            let len = rng.below(64) as usize;
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            ours.push(&data);
            theirs.push(data);
        }
        let root = root_hash(size, &mut ours.get()).expect("root");
        if root.as_slice() != theirs.root().as_bytes().as_slice() || root != ours.frontier.root() {
            mismatches += 1;
        }
        let index = rng.below(size);
        let p = inclusion_proof(index, size, &mut ours.get()).expect("inclusion");
        let flat: Vec<u8> = p.concat();
        if flat != theirs.prove_inclusion(index as usize).as_bytes() {
            mismatches += 1;
        }
        if size > 1 {
            let old = 1 + rng.below(size - 1);
            let c = consistency_proof(old, size, &mut ours.get()).expect("consistency");
            if c.concat() != theirs.prove_consistency((size - old) as usize).as_bytes() {
                mismatches += 1;
            }
        }
    }
    assert_eq!(mismatches, 0, "seed {seed:#x}");
}

/// Every proof with any one bit flipped (in a proof hash, the leaf or the root) fails, and so
/// does a proof checked against the wrong index. (The size is not checked by the path alone:
/// RFC 9162 binds it through the signed checkpoint.)
#[test]
fn bit_flipped_proofs_fail() {
    let mut store = Store::default();
    for i in 0..300u32 {
        store.push(&i.to_be_bytes());
    }
    let mut rng = Rng(0xB17F11B);
    for _ in 0..40 {
        let size = 1 + rng.below(300);
        let index = rng.below(size);
        let leaf = leaf_hash(&(index as u32).to_be_bytes());
        let root = root_hash(size, &mut store.get()).expect("root");
        let proof = inclusion_proof(index, size, &mut store.get()).expect("proof");
        verify_inclusion(index, size, &leaf, &proof, &root).expect("genuine proof verifies");
        for h in 0..proof.len() {
            for bit in 0..256 {
                let mut bad = proof.clone();
                bad[h][bit / 8] ^= 1 << (bit % 8);
                assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err());
            }
        }
        for bit in 0..256 {
            let (mut l, mut r) = (leaf, root);
            l[bit / 8] ^= 1 << (bit % 8);
            r[bit / 8] ^= 1 << (bit % 8);
            assert!(verify_inclusion(index, size, &l, &proof, &root).is_err());
            assert!(verify_inclusion(index, size, &leaf, &proof, &r).is_err());
        }
        if size > 1 {
            assert!(verify_inclusion((index + 1) % size, size, &leaf, &proof, &root).is_err());
        }
        if size > 1 {
            let old = 1 + rng.below(size - 1);
            let old_root = root_hash(old, &mut store.get()).expect("root");
            let c = consistency_proof(old, size, &mut store.get()).expect("consistency");
            verify_consistency(old, size, &old_root, &root, &c).expect("genuine verifies");
            for h in 0..c.len() {
                for bit in 0..256 {
                    let mut bad = c.clone();
                    bad[h][bit / 8] ^= 1 << (bit % 8);
                    assert!(verify_consistency(old, size, &old_root, &root, &bad).is_err());
                }
            }
            for bit in 0..256 {
                let mut r = old_root;
                r[bit / 8] ^= 1 << (bit % 8);
                assert!(verify_consistency(old, size, &r, &root, &c).is_err());
            }
        }
    }
}

#[test]
fn requests_outside_the_tree_are_errors() {
    let mut store = Store::default();
    store.push(b"a");
    assert!(inclusion_proof(1, 1, &mut store.get()).is_err());
    assert!(consistency_proof(0, 1, &mut store.get()).is_err());
    assert!(consistency_proof(2, 1, &mut store.get()).is_err());
    assert!(matches!(
        inclusion_proof(0, 2, &mut store.get()),
        Err(TreeError::Missing { .. })
    ));
}
