//! Percentiles and medians.

use std::time::Duration;

/// Nearest-rank percentile (`p` in 0..=100) of an unsorted sample.
pub fn percentile(sample: &[Duration], p: f64) -> Duration {
    if sample.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = sample.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median of a non-empty list of numbers (the mean of the middle two for
/// an even count); 0 for an empty one.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let sample: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&sample, 50.0), Duration::from_micros(50));
        assert_eq!(percentile(&sample, 99.0), Duration::from_micros(99));
        assert_eq!(percentile(&sample, 100.0), Duration::from_micros(100));
        assert_eq!(percentile(&sample, 0.0), Duration::from_micros(1));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
