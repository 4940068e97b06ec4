//! What `/metrics` says about itself and the process: a `# HELP` line for every crucible family, the
//! build (`crucible_build_info`), and the standard process series read from `/proc` at every scrape
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
//! `process_open_fds`, `process_max_fds`, `process_start_time_seconds`), named as Prometheus' own
//! client libraries name them, so stock dashboards work.

/// Every family crucible records, with its kind and help text. A test scrapes `/metrics` and checks
/// that every family it finds has its `# HELP`.
pub const FAMILIES: &[(&str, Kind, &str)] = &[
    ("crucible_http_requests_total", Kind::Counter, "HTTP requests answered, by method, route pattern and status."),
    ("crucible_http_request_duration_seconds", Kind::Histogram, "Time to answer an HTTP request, by route pattern."),
    ("crucible_training_attempts_total", Kind::Counter, "Training attempts ended, by outcome."),
    (
        "crucible_reaction_seconds",
        Kind::Histogram,
        "From a tournament's decision to act to its persisted state being read back.",
    ),
    ("crucible_store_call_seconds", Kind::Histogram, "Time of one store call made by an actor, waiting included."),
    ("crucible_store_batch_seconds", Kind::Histogram, "Time to commit one group-committed batch of writes."),
    ("crucible_store_batch_writes", Kind::Histogram, "Writes sharing one group-committed transaction."),
    (
        "crucible_stalled",
        Kind::Gauge,
        "Tournaments and trainings stalled and waiting for an operator's retry, by kind.",
    ),
    ("crucible_tournaments", Kind::Gauge, "Tournaments in the store, by type and status."),
    ("crucible_trainings", Kind::Gauge, "Trainings in the store, by status."),
    ("crucible_gpu_slots", Kind::Gauge, "GPUs per node and class that are free, reserved by a training, or fenced."),
    ("crucible_build_info", Kind::Gauge, "Always 1; the labels name the running build."),
    ("process_cpu_seconds_total", Kind::Counter, "User and system CPU time spent by the process, in seconds."),
    ("process_resident_memory_bytes", Kind::Gauge, "Resident memory of the process, in bytes."),
    ("process_virtual_memory_bytes", Kind::Gauge, "Virtual memory of the process, in bytes."),
    ("process_open_fds", Kind::Gauge, "Open file descriptors of the process."),
    ("process_max_fds", Kind::Gauge, "The process's limit on open file descriptors."),
    ("process_start_time_seconds", Kind::Gauge, "When the process started, in seconds since the Unix epoch."),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Registers the help text of every family with the installed recorder, and the build info.
pub fn describe() {
    for &(name, kind, help) in FAMILIES.iter().filter(|(name, _, _)| !name.starts_with("process_")) {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, help),
        }
    }
    metrics::gauge!(
        "crucible_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "profile" => if cfg!(debug_assertions) { "debug" } else { "release" },
    )
    .set(1.0);
}

/// The process series in the Prometheus text format, read from `/proc/self` (Linux). Written here
/// rather than through the recorder because CPU seconds are fractional and the recorder's counters
/// count whole numbers. A series that cannot be read is left out rather than reported wrong.
pub fn render_process() -> String {
    let mut out = String::new();
    let mut series = |name: &str, value: f64| {
        if let Some(&(_, kind, help)) = FAMILIES.iter().find(|(n, _, _)| *n == name) {
            let kind = if kind == Kind::Counter { "counter" } else { "gauge" };
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n\n"));
        }
    };
    if let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| ProcStat::parse(&s)) {
        let ticks = clock_ticks();
        series("process_cpu_seconds_total", (stat.utime + stat.stime) as f64 / ticks);
        series("process_virtual_memory_bytes", stat.vsize as f64);
        series("process_resident_memory_bytes", (stat.rss_pages * page_size()) as f64);
        if let Some(boot) = boot_time() {
            series("process_start_time_seconds", boot as f64 + stat.starttime as f64 / ticks);
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        series("process_open_fds", fds.count() as f64);
    }
    if let Some(max) = max_fds() {
        series("process_max_fds", max as f64);
    }
    out
}

/// The fields of `/proc/self/stat` the process series need.
#[derive(Debug, PartialEq)]
struct ProcStat {
    utime: u64,
    stime: u64,
    starttime: u64,
    vsize: u64,
    rss_pages: u64,
}

impl ProcStat {
    /// Fields after the command name, which is in parentheses and may hold spaces or parentheses
    /// itself: split after the last `)`. Field 3 (state) is the first after it.
    fn parse(stat: &str) -> Option<Self> {
        let after = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        // proc(5) numbers the fields from 1: state is 3, utime 14, stime 15, starttime 22, vsize 23,
        // rss 24; here state is index 0.
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(Self {
            utime: field(14)?,
            stime: field(15)?,
            starttime: field(22)?,
            vsize: field(23)?,
            rss_pages: field(24)?,
        })
    }
}

/// Clock ticks per second (`getconf CLK_TCK`).
fn clock_ticks() -> f64 {
    // SAFETY: sysconf reads a constant of the system and has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// The size of a memory page in bytes.
fn page_size() -> u64 {
    // SAFETY: as above.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

/// The boot time in seconds since the epoch (`btime` of `/proc/stat`).
fn boot_time() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
}

/// The soft limit on open files (`Max open files` of `/proc/self/limits`).
fn max_fds() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_is_parsed_after_a_command_name_with_spaces_and_parentheses() {
        let line = "4242 (crucible (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 \
                    123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let stat = ProcStat::parse(line).unwrap();
        assert_eq!(stat, ProcStat { utime: 250, stime: 75, starttime: 123456, vsize: 987654321, rss_pages: 2048 });
        assert_eq!(ProcStat::parse("garbage"), None);
        assert_eq!(ProcStat::parse("1 (x) S 1 2"), None);
    }

    /// The dashboard in `deploy/` queries only families crucible records, and shows every one.
    #[test]
    fn the_grafana_dashboard_queries_the_families_crucible_records() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/crucible.json");
        let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let exprs: Vec<&str> = dashboard["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["targets"].as_array().unwrap())
            .map(|t| t["expr"].as_str().unwrap())
            .collect();
        let mut shown = std::collections::BTreeSet::new();
        for expr in &exprs {
            let names = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("crucible_") || w.starts_with("process_"));
            for name in names {
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|f| FAMILIES.iter().any(|(n, _, _)| n == f)))
                    .unwrap_or(name);
                assert!(FAMILIES.iter().any(|(n, _, _)| *n == family), "{expr}: {name} is not a crucible family");
                shown.insert(family.to_owned());
            }
        }
        let missing: Vec<&str> = FAMILIES.iter().map(|(n, _, _)| *n).filter(|n| !shown.contains(*n)).collect();
        assert!(missing.is_empty(), "not on the dashboard: {missing:?}");
    }

    #[test]
    fn this_process_reads_its_own_stat_and_limits() {
        let stat = ProcStat::parse(&std::fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
        assert!(stat.vsize > 0 && stat.rss_pages > 0, "{stat:?}");
        assert!(max_fds().unwrap() > 0);
        assert!(boot_time().unwrap() > 1_600_000_000);
    }
}
