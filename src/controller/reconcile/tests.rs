//! Tests of the reconcile's retry schedule (exponential backoff, bounded jitter, cap).

use super::*;

#[test]
fn backoff_grows_exponentially_with_bounded_jitter_and_a_cap() {
    let (base, max) = (Duration::from_secs(2), Duration::from_secs(300));
    assert_eq!(backoff(1, base, max, 0.5), Duration::from_secs(2));
    assert_eq!(backoff(3, base, max, 0.5), Duration::from_secs(8));
    assert_eq!(backoff(40, base, max, 0.5), max);
    let low = backoff(4, base, max, 0.0);
    let high = backoff(4, base, max, 0.999);
    assert!(
        low >= Duration::from_millis(12_800) && high <= Duration::from_millis(19_200),
        "{low:?} {high:?}"
    );
    assert!(low < high);
    assert!(backoff(0, base, max, 0.5) >= Duration::from_millis(1_600));
}

#[test]
fn jitter_is_in_the_unit_interval() {
    for _ in 0..100 {
        let u = random_unit();
        assert!((0.0..1.0).contains(&u));
    }
}
