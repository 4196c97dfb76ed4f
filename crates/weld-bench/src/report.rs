//! The report: a Markdown table of weld's figures next to native-add's,
//! each with its ratio and target, then the absolute figures per round.
//! Nothing here measures; it only reads [`Results`].

use std::time::Duration;

use crate::inproc::InProcess;
use crate::languages::{IN_FLIGHT, LanguageResult};
use crate::options::Options;
use crate::proc::Memory;
use crate::rounds::{Round, Which};
use crate::startup::{AddResults, StartupResults};
use crate::stats::{median, micros, percentile};
use crate::worlds::WorldResult;

/// Everything one run measured, and the conditions it ran in.
pub struct Results {
    /// Metrics 1-3: one row per server per round, the two of a round
    /// adjacent.
    pub rounds: Vec<(Which, Round)>,
    /// Metrics 4-5.
    pub startup: Option<StartupResults>,
    /// Metric 6.
    pub add: Option<AddResults>,
    /// Metric 7: alone, then with a busy sibling thread.
    pub inproc: Option<(InProcess, InProcess)>,
    /// Metric 8: per tool.
    pub languages: Option<Vec<LanguageResult>>,
    /// Metric 9: the plain export first, then the paths judged against it.
    pub worlds: Option<Vec<WorldResult>>,
    /// The machine's load before and after, and how long the run took.
    pub env: Environment,
}

/// The conditions a run measured in.
pub struct Environment {
    /// `/proc/loadavg` before the run.
    pub load_before: String,
    /// `/proc/loadavg` after the run.
    pub load_after: String,
    /// How long the run took.
    pub took: Duration,
}

/// Prints the report on stdout.
pub fn report(o: &Options, results: &Results) {
    let mut t = Table { rows: Vec::new() };
    let rounds = &results.rounds;
    if o.wants("latency") {
        latency_rows(&mut t, rounds);
    }
    if o.wants("pipelined") {
        pipelined_rows(&mut t, rounds);
    }
    if o.wants("http") {
        http_rows(&mut t, o, rounds);
    }
    if let Some(s) = &results.startup {
        startup_rows(&mut t, s);
    }
    if let Some(a) = &results.add {
        add_rows(&mut t, a);
    }
    if let Some((alone, busy)) = &results.inproc {
        inproc_rows(&mut t, alone, busy);
    }
    for tool in results.languages.iter().flatten() {
        language_rows(&mut t, tool);
    }
    if let Some(worlds) = &results.worlds {
        world_rows(&mut t, worlds);
    }
    print_heading(o, &results.env);
    t.print();
    print_absolutes(results);
}

fn latency_rows(t: &mut Table, rounds: &[(Which, Round)]) {
    t.rounds(
        "1. stdio call latency p50",
        "µs",
        rounds,
        |r| r.p50_us,
        Target::RatioAtMost(1.5),
    );
    t.rounds(
        "1. stdio call latency p99",
        "µs",
        rounds,
        |r| r.p99_us,
        Target::None,
    );
    t.rounds(
        "1. server CPU per sequential call",
        "µs",
        rounds,
        |r| r.seq_cpu_us.unwrap_or(f64::NAN),
        Target::None,
    );
}

fn pipelined_rows(t: &mut Table, rounds: &[(Which, Round)]) {
    t.rounds(
        "2. stdio pipelined calls/s",
        "/s",
        rounds,
        |r| r.pipelined_per_sec,
        Target::RatioAtLeast(0.7),
    );
    let lost = |which| sum_of(rounds, which, |r| r.pipelined_lost);
    let bad = |which| sum_of(rounds, which, |r| r.pipelined_malformed);
    let ok = lost(Which::Weld) + bad(Which::Weld) == 0;
    t.row([
        "2. pipelined lost / malformed (all rounds)",
        &format!("{} / {}", lost(Which::Weld), bad(Which::Weld)),
        &format!("{} / {}", lost(Which::Native), bad(Which::Native)),
        "",
        "0 / 0",
        if ok { "yes" } else { "**NO**" },
    ]);
    let inflight = |which| {
        let of = |f: fn(&Round) -> u64| {
            rounds
                .iter()
                .filter(|(w, _)| *w == which)
                .map(|(_, r)| f(r))
                .min()
                .unwrap_or(0)
        };
        format!(
            "{} ({} KiB); ≥ {} while refilling",
            of(|r| r.pipelined_inflight),
            of(|r| r.pipelined_inflight_bytes) / 1024,
            of(|r| r.pipelined_low_water)
        )
    };
    let weld_rounds = || rounds.iter().filter(|(w, _)| *w == Which::Weld);
    let kept_full = weld_rounds()
        .all(|(_, r)| r.pipelined_low_water >= 1000 && r.pipelined_inflight_bytes > 64 * 1024);
    t.row([
        "2. pipelined requests in flight: most (least over rounds), fewest at a refill",
        &inflight(Which::Weld),
        &inflight(Which::Native),
        "",
        "≥ 1000, > 64 KiB",
        if kept_full { "yes" } else { "**NO**" },
    ]);
    t.rounds(
        "2. server CPU per pipelined call",
        "µs",
        rounds,
        |r| r.pipelined_cpu_us.unwrap_or(f64::NAN),
        Target::None,
    );
}

fn http_rows(t: &mut Table, o: &Options, rounds: &[(Which, Round)]) {
    t.rounds(
        &format!("3. HTTP calls/s, {} clients", o.http_clients),
        "/s",
        rounds,
        |r| r.http_per_sec,
        Target::RatioAtLeast(0.7),
    );
    let lost = |which| sum_of(rounds, which, |r| r.http_lost);
    let bad = |which| sum_of(rounds, which, |r| r.http_malformed);
    let ok = lost(Which::Weld) + bad(Which::Weld) == 0;
    t.row([
        "3. HTTP lost / malformed (all rounds)",
        &format!("{} / {}", lost(Which::Weld), bad(Which::Weld)),
        &format!("{} / {}", lost(Which::Native), bad(Which::Native)),
        "",
        "0 / 0",
        if ok { "yes" } else { "**NO**" },
    ]);
    t.rounds(
        "3. HTTP call latency p50 under load",
        "µs",
        rounds,
        |r| r.http_p50_us,
        Target::None,
    );
    t.rounds(
        "3. HTTP call latency p99 under load",
        "µs",
        rounds,
        |r| r.http_p99_us,
        Target::None,
    );
    t.rounds(
        "3. server CPU per HTTP call",
        "µs",
        rounds,
        |r| r.http_cpu_us.unwrap_or(f64::NAN),
        Target::None,
    );
}

fn startup_rows(t: &mut Table, s: &StartupResults) {
    t.compare(
        "4. start → first tools/list, 10 components (median)",
        "ms",
        median(&s.weld_ms),
        median(&s.native_ms),
        Target::AtMost(10.0, "ms"),
    );
    let rss = |m: &[Memory]| median(&m.iter().map(|m| mb(m.rss_kib)).collect::<Vec<_>>());
    t.compare(
        "5. RSS idle, 10 components",
        "MB",
        rss(&s.weld_memory),
        rss(&s.native_memory),
        Target::AtMost(25.0, "MB"),
    );
}

fn add_rows(t: &mut Table, a: &AddResults) {
    t.row([
        "6. `weld add add.wasm`, fresh state and cache (median)",
        &format!("{} ms", num(median(&a.add_ms))),
        "",
        "",
        "≤ 150 ms",
        if median(&a.add_ms) <= 150.0 {
            "yes"
        } else {
            "**NO**"
        },
    ]);
    t.row([
        "6. `weld list`, empty state (process + engine floor)",
        &format!("{} ms", num(median(&a.list_ms))),
        "",
        "",
        "—",
        "",
    ]);
}

fn inproc_rows(t: &mut Table, alone: &InProcess, busy: &InProcess) {
    t.row([
        "7. in-process instantiate+call, median (p99)",
        &format!(
            "{} µs ({} µs)",
            num(micros(percentile(&alone.samples, 50.0))),
            num(micros(percentile(&alone.samples, 99.0)))
        ),
        "",
        "",
        "floor",
        "",
    ]);
    let alone_p50 = micros(percentile(&alone.samples, 50.0));
    let busy_p50 = micros(percentile(&busy.samples, 50.0));
    t.row([
        "7. the same, another thread busy on the other core",
        &format!(
            "{} µs ({} µs)",
            num(busy_p50),
            num(micros(percentile(&busy.samples, 99.0)))
        ),
        "",
        &format!("{:.2}× alone", busy_p50 / alone_p50),
        "—",
        "",
    ]);
}

fn language_rows(t: &mut Table, r: &LanguageResult) {
    let stdio = micros(percentile(&r.stdio, 50.0));
    let floor = micros(percentile(&r.floor, 50.0));
    let ratio = stdio / floor;
    t.row([
        &format!(
            "8. {}: stdio call p50, against the in-process floor (native column)",
            r.label
        ),
        &format!("{} µs", num(stdio)),
        &format!("{} µs", num(floor)),
        &format!("{ratio:.2}×"),
        "≤ 1.2× floor",
        if ratio <= 1.2 { "yes" } else { "**NO**" },
    ]);
    t.row([
        &format!("8. {}: stdio calls/s, {IN_FLIGHT} in flight", r.label),
        &format!("{} /s", num(median(&r.per_sec))),
        "",
        "",
        "—",
        "",
    ]);
}

/// Metric 9: each path's p50 and calls/s next to the plain export's.
fn world_rows(t: &mut Table, worlds: &[WorldResult]) {
    let Some((plain, others)) = worlds.split_first() else {
        return;
    };
    let plain_p50 = micros(percentile(&plain.stdio, 50.0));
    let plain_rate = median(&plain.per_sec);
    for r in others {
        let p50 = micros(percentile(&r.stdio, 50.0));
        let rate = median(&r.per_sec);
        t.row([
            &format!(
                "9. {}: stdio call p50, against a plain export's (native column)",
                r.label
            ),
            &format!("{} µs", num(p50)),
            &format!("{} µs", num(plain_p50)),
            &format!("{:.2}×", p50 / plain_p50),
            "—",
            "",
        ]);
        t.row([
            &format!(
                "9. {}: stdio calls/s, {IN_FLIGHT} in flight, against a plain export's",
                r.label
            ),
            &format!("{} /s", num(rate)),
            &format!("{} /s", num(plain_rate)),
            &format!("{:.2}×", rate / plain_rate),
            "—",
            "",
        ]);
    }
}

/// The title, the machine and its load, and how the rounds were run.
fn print_heading(o: &Options, env: &Environment) {
    println!();
    println!("## weld benchmark, {}", today());
    println!();
    println!(
        "{}; {} CPUs; load average before {}, after {}; took {:.0} s.",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        env.load_before
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        env.load_after
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        env.took.as_secs_f64()
    );
    println!(
        "Rounds: {}; weld and native figures are medians over rounds, ratios the medians of \
         the per-round ratios. In each round weld and native run side \
         by side and the work alternates between them: stdio, {} sequential calls each (after \
         200 warm-up) in blocks of 100, client pinned to CPU 0 and servers to CPU 1; {} pipelined calls each, ≤ {} in flight, in 4 chunks; \
         HTTP, {} clients × {} calls each, in 4 chunks (after 10 warm-up calls per client \
         and chunk).",
        o.rounds, o.calls, o.pipelined, o.window, o.http_clients, o.http_calls
    );
    println!();
}

/// Every round's figures, and the samples behind metrics 4-7.
fn print_absolutes(results: &Results) {
    let rounds = &results.rounds;
    println!();
    println!("### Absolute figures per round");
    println!();
    for (which, r) in rounds {
        let cpu = |v: Option<f64>| v.map_or("?".into(), num);
        println!(
            "- {:6} stdio p50 {} µs p99 {} µs cpu/call {} µs | pipelined {}/s lost {} malformed {} \
             in-flight max {} ({} KiB) min-at-refill {} cpu/call {} µs | HTTP {}/s lost {} \
             malformed {} p50 {} µs p99 {} µs cpu/call {} µs",
            which.name(),
            num(r.p50_us),
            num(r.p99_us),
            cpu(r.seq_cpu_us),
            num(r.pipelined_per_sec),
            r.pipelined_lost,
            r.pipelined_malformed,
            r.pipelined_inflight,
            r.pipelined_inflight_bytes / 1024,
            r.pipelined_low_water,
            cpu(r.pipelined_cpu_us),
            num(r.http_per_sec),
            r.http_lost,
            r.http_malformed,
            num(r.http_p50_us),
            num(r.http_p99_us),
            cpu(r.http_cpu_us),
        );
    }
    if let Some(s) = &results.startup {
        let list = |v: &[f64]| v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", ");
        println!(
            "- start → first tools/list, weld (ms): {}",
            list(&s.weld_ms)
        );
        println!(
            "- start → first tools/list, native (ms): {}",
            list(&s.native_ms)
        );
        let mem = |m: &[Memory]| {
            let pick =
                |f: fn(&Memory) -> u64| median(&m.iter().map(|x| mb(f(x))).collect::<Vec<_>>());
            format!(
                "RSS {} MB = anonymous {} MB + file-backed {} MB",
                num(pick(|x| x.rss_kib)),
                num(pick(|x| x.anon_kib)),
                num(pick(|x| x.file_kib))
            )
        };
        println!("- weld, 10 components idle: {}", mem(&s.weld_memory));
        println!("- native idle: {}", mem(&s.native_memory));
    }
    if let Some(a) = &results.add {
        let list = |v: &[f64]| v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", ");
        println!("- weld add (ms): {}", list(&a.add_ms));
        println!("- weld list, empty state (ms): {}", list(&a.list_ms));
    }
    for r in results.languages.iter().flatten() {
        let cpu = r.cpu_per_call_us.map_or("?".into(), num);
        let rates = r.per_sec.iter().map(|x| num(*x)).collect::<Vec<_>>();
        println!(
            "- {}: stdio p50 {} µs p99 {} µs; in-process p50 {} µs p99 {} µs; {IN_FLIGHT} in \
             flight {}/s per round, server CPU {} µs per call",
            r.label,
            num(micros(percentile(&r.stdio, 50.0))),
            num(micros(percentile(&r.stdio, 99.0))),
            num(micros(percentile(&r.floor, 50.0))),
            num(micros(percentile(&r.floor, 99.0))),
            rates.join(", "),
            cpu
        );
    }
    for r in results.worlds.iter().flatten() {
        let cpu = r.cpu_per_call_us.map_or("?".into(), num);
        let rates = r.per_sec.iter().map(|x| num(*x)).collect::<Vec<_>>();
        println!(
            "- {}: stdio p50 {} µs p99 {} µs; {IN_FLIGHT} in flight {}/s per round, server CPU \
             {} µs per call",
            r.label,
            num(micros(percentile(&r.stdio, 50.0))),
            num(micros(percentile(&r.stdio, 99.0))),
            rates.join(", "),
            cpu
        );
    }
    if let Some((alone, busy)) = &results.inproc {
        for (label, i) in [("alone", alone), ("busy sibling", busy)] {
            println!(
                "- in-process ({label}): call median {} µs, p99 {} µs; the runtime's own \
                 CallStats::duration median {} µs",
                num(micros(percentile(&i.samples, 50.0))),
                num(micros(percentile(&i.samples, 99.0))),
                num(micros(percentile(&i.runtime_durations, 50.0)))
            );
        }
    }
}

/// Formats a number with a sensible number of digits.
fn num(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

struct Table {
    rows: Vec<[String; 6]>,
}

impl Table {
    fn row(&mut self, cells: [&str; 6]) {
        self.rows.push(cells.map(str::to_string));
    }

    /// A weld-vs-native row; `target` is (text, check on the ratio or on
    /// weld's value).
    fn compare(&mut self, metric: &str, unit: &str, weld: f64, native: f64, target: Target) {
        self.compare_with_ratio(metric, unit, weld, native, weld / native, target);
    }

    /// A weld-vs-native row from the rounds: each column is the median over
    /// rounds, the ratio the median of the per-round ratios (the two servers
    /// of one round ran interleaved, under the same conditions).
    fn rounds(
        &mut self,
        metric: &str,
        unit: &str,
        rounds: &[(Which, Round)],
        f: impl Fn(&Round) -> f64,
        target: Target,
    ) {
        let ratios: Vec<f64> = rounds
            .chunks(2)
            .filter_map(|pair| {
                let of = |which| pair.iter().find(|(w, _)| *w == which).map(|(_, r)| f(r));
                Some(of(Which::Weld)? / of(Which::Native)?)
            })
            .collect();
        self.compare_with_ratio(
            metric,
            unit,
            med_of(rounds, Which::Weld, &f),
            med_of(rounds, Which::Native, &f),
            median(&ratios),
            target,
        );
    }

    fn compare_with_ratio(
        &mut self,
        metric: &str,
        unit: &str,
        weld: f64,
        native: f64,
        ratio: f64,
        target: Target,
    ) {
        let (target_text, met) = target.judge(weld, ratio);
        self.rows.push([
            metric.to_string(),
            format!("{} {unit}", num(weld)),
            format!("{} {unit}", num(native)),
            format!("{ratio:.2}×"),
            target_text,
            met,
        ]);
    }

    fn print(&self) {
        let header = ["metric", "weld", "native", "ratio", "target", "met"];
        println!("| {} |", header.join(" | "));
        println!("|{}", "---|".repeat(header.len()));
        for row in &self.rows {
            println!("| {} |", row.join(" | "));
        }
    }
}

enum Target {
    None,
    RatioAtMost(f64),
    RatioAtLeast(f64),
    AtMost(f64, &'static str),
}

impl Target {
    fn judge(&self, weld: f64, ratio: f64) -> (String, String) {
        let yes = |ok: bool| if ok { "yes" } else { "**NO**" }.to_string();
        match *self {
            Target::None => ("—".into(), String::new()),
            Target::RatioAtMost(max) => (format!("≤ {max}× native"), yes(ratio <= max)),
            Target::RatioAtLeast(min) => (format!("≥ {min}× native"), yes(ratio >= min)),
            Target::AtMost(max, unit) => (format!("≤ {max} {unit}"), yes(weld <= max)),
        }
    }
}

fn med_of(rounds: &[(Which, Round)], which: Which, f: &impl Fn(&Round) -> f64) -> f64 {
    let values: Vec<f64> = rounds
        .iter()
        .filter(|(w, _)| *w == which)
        .map(|(_, r)| f(r))
        .collect();
    median(&values)
}

fn sum_of(rounds: &[(Which, Round)], which: Which, f: impl Fn(&Round) -> u64) -> u64 {
    rounds
        .iter()
        .filter(|(w, _)| *w == which)
        .map(|(_, r)| f(r))
        .sum()
}

fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Today's date (UTC), from the system clock, as YYYY-MM-DD.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_judge_ratio_or_value() {
        assert_eq!(Target::RatioAtMost(1.5).judge(0.0, 1.4).1, "yes");
        assert_eq!(Target::RatioAtLeast(0.7).judge(0.0, 0.5).1, "**NO**");
        assert_eq!(Target::AtMost(10.0, "ms").judge(9.0, 99.0).1, "yes");
    }

    #[test]
    fn numbers_keep_a_few_digits() {
        assert_eq!(num(12345.6), "12346");
        assert_eq!(num(123.45), "123.5");
        assert_eq!(num(1.2345), "1.23");
    }
}
