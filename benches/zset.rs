//! Bytes per member of a [`Zset`] of 10⁶ members `member:N` with random
//! scores, and what is left after removing 90 % of them (a set that shrank
//! must give memory back).
//!
//! Run: `cargo bench --bench zset`. Memory is live heap
//! bytes counted by `usher::alloc::CountingAllocator` (what the allocator was
//! asked for, without its own overhead); the members' `Vec<u8>` sources are
//! built before the first reading and are not counted.

use usher::alloc::{allocated_bytes, CountingAllocator};
use usher::state::Zset;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const MEMBERS: usize = 1_000_000;

fn main() {
    let members: Vec<Vec<u8>> = (0..MEMBERS)
        .map(|i| format!("member:{i}").into_bytes())
        .collect();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let scores: Vec<f64> = (0..MEMBERS).map(|_| (next() % 1_000_000) as f64).collect();
    let before = allocated_bytes();
    let mut zset = Zset::new(42);
    for (member, score) in members.iter().zip(&scores) {
        zset.insert(member, *score);
    }
    let full = allocated_bytes() - before;
    println!(
        "{MEMBERS} members: {full} live heap bytes, {:.1} bytes per member",
        full as f64 / MEMBERS as f64
    );
    for member in members.iter().skip(MEMBERS / 10) {
        zset.remove(member);
    }
    let shrunk = allocated_bytes() - before;
    println!(
        "after removing 90 %: {} members, {shrunk} live heap bytes, {:.1} bytes per member",
        zset.len(),
        shrunk as f64 / zset.len() as f64
    );
}
