//! `weld-examples:clock`: tools that read state the host gives the component
//! through WASI. The clocks come through Rust's standard library
//! (`SystemTime` reads `wasi:clocks/wall-clock`, `Instant` and `thread::sleep`
//! use `wasi:clocks/monotonic-clock`); randomness comes from the
//! `wasi:random/random` import declared in `wit/clock.wit`, for which
//! `wit_bindgen::generate!` writes the bindings.

mod date;

wit_bindgen::generate!({
    world: "clock",
    path: "wit",
    // Generate bindings for the WASI interface imported from wit/deps/.
    generate_all,
});

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wasi::random::random::get_random_bytes;

struct Clock;

fn timestamp(seconds: i64, nanoseconds: u32) -> Result<Timestamp, String> {
    Ok(Timestamp {
        seconds,
        nanoseconds,
        rfc3339: date::format_rfc3339(seconds, nanoseconds)?,
    })
}

impl Guest for Clock {
    fn now() -> Timestamp {
        let (seconds, nanoseconds) = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(after) => (after.as_secs() as i64, after.subsec_nanos()),
            // Before 1970: round towards negative infinity.
            Err(before) => {
                let d = before.duration();
                match d.subsec_nanos() {
                    0 => (-(d.as_secs() as i64), 0),
                    n => (-(d.as_secs() as i64) - 1, 1_000_000_000 - n),
                }
            }
        };
        // A wall clock outside years 0-9999 is broken; show the raw numbers anyway.
        timestamp(seconds, nanoseconds).unwrap_or_else(|error| Timestamp {
            seconds,
            nanoseconds,
            rfc3339: error,
        })
    }

    fn format_rfc3339(seconds: i64, nanoseconds: Option<u32>) -> Result<String, String> {
        date::format_rfc3339(seconds, nanoseconds.unwrap_or(0))
    }

    fn parse_rfc3339(text: String) -> Result<Timestamp, String> {
        let (seconds, nanoseconds) = date::parse_rfc3339(&text)?;
        timestamp(seconds, nanoseconds)
    }

    fn days_between(start: String, end: String) -> Result<i64, String> {
        Ok(date::parse_date(&end)? - date::parse_date(&start)?)
    }

    fn measure_sleep(millis: u32) -> Result<u64, String> {
        if millis > 10_000 {
            return Err(format!("{millis} ms is too long: at most 10000 ms"));
        }
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(u64::from(millis)));
        Ok(start.elapsed().as_nanos() as u64)
    }

    fn random_bytes(count: u16) -> Vec<u8> {
        get_random_bytes(u64::from(count))
    }

    fn uuid_v4() -> String {
        let mut b: [u8; 16] = get_random_bytes(16)
            .try_into()
            .expect("the host returned the wrong number of random bytes");
        b[6] = (b[6] & 0x0f) | 0x40; // version 4
        b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
        let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

export!(Clock);
