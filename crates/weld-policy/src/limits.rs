//! Resource limits and their units.
//!
//! Sizes are plain bytes or a whole number with a binary unit (`Ki`, `Mi`,
//! `Gi`); decimal or ambiguous units (`M`, `MB`, `k`) are refused rather
//! than guessed. Durations are a whole number with `ms`, `s`, `m` or `h`.

use std::fmt;
use std::time::Duration;

const KI: u64 = 1024;
const MI: u64 = 1024 * KI;
const GI: u64 = 1024 * MI;

/// The smallest memory limit: one WebAssembly page.
pub const MIN_MEMORY: u64 = 64 * KI;
/// The largest memory or output limit: the 32-bit address space of a
/// `wasm32` component (canonical-ABI lengths are 32-bit too).
pub const MAX_BYTES: u64 = 4 * GI;
/// The longest timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// A number of bytes. `Display` writes the largest binary unit that divides
/// it exactly (`128Mi`), or plain bytes (`1000`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `"128Mi"`, `"512Ki"`, `"1Gi"` or `"1048576"`.
    ///
    /// # Errors
    /// A message (without location) naming the value and the fix.
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let digits_end = text.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = text.split_at(digits_end);
        if number.is_empty() {
            return Err(format!(
                "`{text}` is not a size; write a whole number of bytes, or one with a unit: `512Ki`, `128Mi`, `1Gi`"
            ));
        }
        if unit.starts_with('.') || unit.starts_with(',') {
            return Err(format!(
                "`{text}` is not a whole number; use a smaller unit instead of a fraction (`1536Mi`, not `1.5Gi`)"
            ));
        }
        if unit.starts_with(' ') {
            return Err(format!(
                "`{text}` has a space before its unit; write it without one (`128Mi`)"
            ));
        }
        let scale = match unit {
            "" => 1,
            "Ki" => KI,
            "Mi" => MI,
            "Gi" => GI,
            "B" | "b" => {
                return Err(format!(
                    "`{text}`: write bytes as a plain number (`{number}`)"
                ));
            }
            "k" | "K" | "kB" | "KB" | "M" | "MB" | "m" | "mb" | "G" | "GB" | "g" | "gb" | "KiB"
            | "MiB" | "GiB" => {
                let fix = match unit.chars().next() {
                    Some('k' | 'K') => "Ki",
                    Some('m' | 'M') => "Mi",
                    _ => "Gi",
                };
                return Err(format!(
                    "`{text}` has an ambiguous unit (decimal or binary?); weld uses binary units only — write `{number}{fix}` or a plain number of bytes"
                ));
            }
            _ => {
                return Err(format!(
                    "`{text}` has an unknown unit `{unit}`; use `Ki`, `Mi` or `Gi`, or a plain number of bytes"
                ));
            }
        };
        number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .map(ByteSize)
            .ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (scale, unit) in [(GI, "Gi"), (MI, "Mi"), (KI, "Ki")] {
            if n != 0 && n.is_multiple_of(scale) {
                return write!(f, "{}{unit}", n / scale);
            }
        }
        write!(f, "{n}")
    }
}

/// Parses `"500ms"`, `"10s"`, `"2m"` or `"1h"`.
///
/// # Errors
/// A message (without location) naming the value and the fix.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let digits_end = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits_end);
    if number.is_empty() {
        return Err(format!(
            "`{text}` is not a duration; write a whole number with a unit: `500ms`, `10s`, `2m`, `1h`"
        ));
    }
    if unit.starts_with('.') || unit.starts_with(',') {
        return Err(format!(
            "`{text}` is not a whole number; use a smaller unit instead of a fraction (`1500ms`, not `1.5s`)"
        ));
    }
    let millis_per = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => {
            return Err(format!(
                "`{text}` needs a unit: `{number}s`, `{number}ms`, `{number}m` or `{number}h`"
            ));
        }
        u if u.trim_start().starts_with(|c: char| c.is_ascii_digit())
            || u.bytes().any(|b| b.is_ascii_digit()) =>
        {
            return Err(format!(
                "`{text}` mixes units; write one number with one unit (`90s`, not `1m30s`)"
            ));
        }
        u => {
            return Err(format!(
                "`{text}` has an unknown unit `{u}`; use `ms`, `s`, `m` or `h`"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(millis_per))
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is too long"))
}

/// Writes a duration (whole milliseconds) in the largest exact unit.
#[must_use]
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (scale, unit) in [(3_600_000, "h"), (60_000, "m"), (1000, "s")] {
        if ms != 0 && ms.is_multiple_of(scale) {
            return format!("{}{unit}", ms / scale);
        }
    }
    format!("{ms}ms")
}

/// What becomes of a call of a component's tools made while `max` calls of
/// them are already running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Excess {
    /// It waits until a running call finishes. The wait is not bounded by
    /// weld: the client can still cancel the call (or close its HTTP
    /// connection), which ends the wait.
    #[default]
    Wait,
    /// It fails at once with a tool error, so a busy tool pushes back on
    /// its callers instead of piling up their requests.
    Refuse,
}

impl Excess {
    /// The policy keyword: `wait` or `refuse`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Excess::Wait => "wait",
            Excess::Refuse => "refuse",
        }
    }
}

impl fmt::Display for Excess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `limits.concurrency`: written `4` (extra calls wait) or
/// `{ max: 4, excess: refuse }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Concurrency {
    /// Calls of the component's tools that may run at once (at least 1).
    pub max: u32,
    /// What happens to a call beyond `max`.
    pub excess: Excess,
}

impl Concurrency {
    /// At most `max` at once; more wait (the meaning of `concurrency: N`).
    #[must_use]
    pub fn waiting(max: u32) -> Self {
        Self {
            max,
            excess: Excess::Wait,
        }
    }
}

/// `permissions.resources.limits`. Every field is optional; `None` leaves the
/// runtime's (operator-configured) default in force. Values from a policy
/// are validated: memory 64Ki–4Gi, output 1–4Gi, timeout 1ms–24h,
/// concurrency and fuel at least 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Limits {
    /// Linear memory per instance.
    pub memory: Option<ByteSize>,
    /// Wall-clock time per call.
    pub timeout: Option<Duration>,
    /// Output (result plus captured stdout/stderr) per call.
    pub output: Option<ByteSize>,
    /// Calls of the component's tools running at once, and what happens to
    /// more.
    pub concurrency: Option<Concurrency>,
    /// A deterministic instruction budget per call (Wasmtime fuel).
    pub fuel: Option<u64>,
}

impl Limits {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Limits::default()
    }
}

pub(crate) fn check_memory(b: ByteSize) -> Result<ByteSize, String> {
    if b.0 < MIN_MEMORY {
        return Err(format!(
            "memory `{b}` is less than one WebAssembly page; give at least `64Ki`"
        ));
    }
    if b.0 > MAX_BYTES {
        return Err(format!(
            "memory `{b}` exceeds `4Gi`, the most a wasm32 component can address"
        ));
    }
    Ok(b)
}

pub(crate) fn check_output(b: ByteSize) -> Result<ByteSize, String> {
    if b.0 == 0 {
        return Err("output `0` would fail every call; give at least 1 byte".to_owned());
    }
    if b.0 > MAX_BYTES {
        return Err(format!(
            "output `{b}` exceeds `4Gi`, the most a component can return"
        ));
    }
    Ok(b)
}

pub(crate) fn check_timeout(d: Duration) -> Result<Duration, String> {
    if d.is_zero() {
        return Err("timeout `0ms` would fail every call; give at least `1ms`".to_owned());
    }
    if d > MAX_TIMEOUT {
        return Err(format!(
            "timeout `{}` exceeds the maximum of `24h`",
            format_duration(d)
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_binary_units_and_print_the_largest_exact_one() {
        assert_eq!(ByteSize::parse("128Mi"), Ok(ByteSize(128 * MI)));
        assert_eq!(ByteSize::parse("512Ki"), Ok(ByteSize(512 * KI)));
        assert_eq!(ByteSize::parse("1Gi"), Ok(ByteSize(GI)));
        assert_eq!(ByteSize::parse("1000"), Ok(ByteSize(1000)));
        assert_eq!(ByteSize(1536 * MI).to_string(), "1536Mi");
        assert_eq!(ByteSize(2048).to_string(), "2Ki");
        assert_eq!(ByteSize(1000).to_string(), "1000");
        assert_eq!(ByteSize(0).to_string(), "0");
    }

    #[test]
    fn ambiguous_and_malformed_sizes_are_refused_with_the_fix() {
        let e = |s: &str| ByteSize::parse(s).unwrap_err();
        assert_eq!(
            e("128M"),
            "`128M` has an ambiguous unit (decimal or binary?); weld uses binary units only — write `128Mi` or a plain number of bytes"
        );
        assert_eq!(
            e("128MB"),
            "`128MB` has an ambiguous unit (decimal or binary?); weld uses binary units only — write `128Mi` or a plain number of bytes"
        );
        assert_eq!(
            e("1GiB"),
            "`1GiB` has an ambiguous unit (decimal or binary?); weld uses binary units only — write `1Gi` or a plain number of bytes"
        );
        assert_eq!(
            e("4k"),
            "`4k` has an ambiguous unit (decimal or binary?); weld uses binary units only — write `4Ki` or a plain number of bytes"
        );
        assert_eq!(
            e("1.5Gi"),
            "`1.5Gi` is not a whole number; use a smaller unit instead of a fraction (`1536Mi`, not `1.5Gi`)"
        );
        assert_eq!(
            e("128 Mi"),
            "`128 Mi` has a space before its unit; write it without one (`128Mi`)"
        );
        assert_eq!(
            e("128Ti"),
            "`128Ti` has an unknown unit `Ti`; use `Ki`, `Mi` or `Gi`, or a plain number of bytes"
        );
        assert_eq!(e("12B"), "`12B`: write bytes as a plain number (`12`)");
        assert_eq!(
            e("Mi"),
            "`Mi` is not a size; write a whole number of bytes, or one with a unit: `512Ki`, `128Mi`, `1Gi`"
        );
        assert_eq!(
            e("-1"),
            "`-1` is not a size; write a whole number of bytes, or one with a unit: `512Ki`, `128Mi`, `1Gi`"
        );
        assert_eq!(
            e("99999999999999999999Gi"),
            "`99999999999999999999Gi` is too large"
        );
        assert_eq!(e("17179869184Gi"), "`17179869184Gi` is too large");
    }

    #[test]
    fn durations_parse_one_unit_and_print_the_largest_exact_one() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(format_duration(Duration::from_millis(90_000)), "90s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::ZERO), "0ms");
    }

    #[test]
    fn malformed_durations_are_refused_with_the_fix() {
        let e = |s: &str| parse_duration(s).unwrap_err();
        assert_eq!(e("10"), "`10` needs a unit: `10s`, `10ms`, `10m` or `10h`");
        assert_eq!(
            e("1.5s"),
            "`1.5s` is not a whole number; use a smaller unit instead of a fraction (`1500ms`, not `1.5s`)"
        );
        assert_eq!(
            e("1m30s"),
            "`1m30s` mixes units; write one number with one unit (`90s`, not `1m30s`)"
        );
        assert_eq!(
            e("10sec"),
            "`10sec` has an unknown unit `sec`; use `ms`, `s`, `m` or `h`"
        );
        assert_eq!(
            e("s"),
            "`s` is not a duration; write a whole number with a unit: `500ms`, `10s`, `2m`, `1h`"
        );
        assert_eq!(
            e("99999999999999999999h"),
            "`99999999999999999999h` is too long"
        );
    }

    #[test]
    fn limit_bounds_are_enforced() {
        assert_eq!(
            check_memory(ByteSize(1000)).unwrap_err(),
            "memory `1000` is less than one WebAssembly page; give at least `64Ki`"
        );
        assert_eq!(
            check_memory(ByteSize(8 * GI)).unwrap_err(),
            "memory `8Gi` exceeds `4Gi`, the most a wasm32 component can address"
        );
        assert_eq!(
            check_output(ByteSize(0)).unwrap_err(),
            "output `0` would fail every call; give at least 1 byte"
        );
        assert_eq!(
            check_output(ByteSize(5 * GI)).unwrap_err(),
            "output `5Gi` exceeds `4Gi`, the most a component can return"
        );
        assert_eq!(
            check_timeout(Duration::ZERO).unwrap_err(),
            "timeout `0ms` would fail every call; give at least `1ms`"
        );
        assert_eq!(
            check_timeout(Duration::from_secs(25 * 3600)).unwrap_err(),
            "timeout `25h` exceeds the maximum of `24h`"
        );
        assert!(check_memory(ByteSize(4 * GI)).is_ok());
    }
}
