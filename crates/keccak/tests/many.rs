//! `keccak256_many` against one-at-a-time keccak256 (`tiny-keccak`) on random
//! messages of every length class and every group remainder.

use proptest::prelude::*;
use refute_keccak::{is_wide, keccak256, keccak256_many, keccak256_many_prefixed, Hash};

fn check<const LEN: usize>(seed: u64, count: usize) {
    let mut x = seed | 1;
    let msgs: Vec<[u8; LEN]> = (0..count)
        .map(|_| {
            std::array::from_fn(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
        })
        .collect();
    let mut got = vec![[0u8; 32]; count];
    keccak256_many(&msgs, &mut got);
    let want: Vec<Hash> = msgs.iter().map(|m| keccak256(m)).collect();
    assert_eq!(got, want, "LEN {LEN}, {count} messages");
    // the same messages after a prefix byte, against the prefixed message built out
    let prefix = seed as u8;
    keccak256_many_prefixed(prefix, &msgs, &mut got);
    let want: Vec<Hash> = msgs.iter().map(|m| keccak256(&[&[prefix][..], &m[..]].concat())).collect();
    assert_eq!(got, want, "prefix {prefix:#04x}, LEN {LEN}, {count} messages");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_length_class_and_remainder_matches(seed in any::<u64>(), count in 0usize..27) {
        // empty, short, one byte short of a block, a full block (padding takes a
        // second one), just over, the data tree's node (65) and leaf (257), two blocks
        // (and after a prefix byte: 134 and 135 fill a block then, 256 is the leaf's chunk)
        check::<0>(seed, count);
        check::<1>(seed, count);
        check::<7>(seed, count);
        check::<64>(seed, count);
        check::<65>(seed, count);
        check::<134>(seed, count);
        check::<135>(seed, count);
        check::<136>(seed, count);
        check::<137>(seed, count);
        check::<256>(seed, count);
        check::<257>(seed, count);
        check::<271>(seed, count);
        check::<272>(seed, count);
        check::<300>(seed, count);
    }
}

#[test]
fn messages_of_a_length_known_at_run_time() {
    for count in [0usize, 1, 7, 8, 9, 300] {
        let msgs: Vec<Vec<u8>> = (0..count).map(|i| (0..65).map(|b| (i * 31 + b) as u8).collect()).collect();
        let want: Vec<Hash> = msgs.iter().map(|m| keccak256(m)).collect();
        let mut got = vec![[0u8; 32]; count];
        keccak256_many(&msgs, &mut got);
        assert_eq!(got, want, "{count} messages");
    }
}

#[test]
#[should_panic(expected = "messages of one length")]
fn messages_of_different_lengths_are_refused() {
    keccak256_many(&[vec![0u8; 4], vec![0u8; 5]], &mut [[0u8; 32]; 2]);
}

#[test]
fn known_digests() {
    let mut out = [[0u8; 32]; 9];
    keccak256_many(&[[]; 9], &mut out);
    for d in out {
        assert_eq!(hex(&d), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    }
    keccak256_many(&[*b"abc"; 9], &mut out);
    for d in out {
        assert_eq!(hex(&d), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    }
    eprintln!("eight per permutation on this CPU: {}", is_wide());
}

#[test]
#[should_panic(expected = "one digest per message")]
fn a_short_output_is_refused() {
    keccak256_many(&[[0u8; 4]; 3], &mut [[0u8; 32]; 2]);
}

fn hex(d: &Hash) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
