//! Prometheus metrics (`prometheus-client`), served as text by the admin listener's `/metrics`.
//! One set per process, reached through [`get`] from wherever something is counted: the request
//! path (from each request's record), the store backends, the key cache, the audit log writer and
//! the scheduler. Keys by state and spec are counted from the store when scraped.

use crate::record::RequestRecord;
use crate::store::StoreError;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    /// `success`, `denied` (AccessDeniedException) or `error`.
    outcome: &'static str,
    /// The AWS error code, empty on success.
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    state: String,
    spec: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    backend: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    commit: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<OperationLabel>,
    keys: Family<KeyLabels, Gauge>,
    store_seconds: Histograms<StoreLabels>,
    store_errors: Family<StoreLabels, Counter>,
    key_cache: Family<ResultLabel, Counter>,
    audit_lines: Family<ResultLabel, Counter>,
    scheduler_runs: Family<ResultLabel, Counter>,
}

fn latency_histogram() -> Histogram {
    // 50 µs to ~1.6 s.
    Histogram::new(exponential_buckets(0.00005, 2.0, 16))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("trent_requests", "KMS API requests, by operation, outcome and AWS error code", requests.clone());
        let request_seconds: Histograms<OperationLabel> = Family::new_with_constructor(latency_histogram);
        registry.register("trent_request_duration_seconds", "Time from a request's arrival to its response, by operation", request_seconds.clone());
        let keys = Family::<KeyLabels, Gauge>::default();
        registry.register("trent_keys", "KMS keys in the store, by key state and key spec (counted when scraped)", keys.clone());
        let store_seconds: Histograms<StoreLabels> = Family::new_with_constructor(latency_histogram);
        registry.register("trent_store_call_duration_seconds", "Duration of store calls, by backend", store_seconds.clone());
        let store_errors = Family::<StoreLabels, Counter>::default();
        registry.register("trent_store_errors", "Store calls that failed, by backend", store_errors.clone());
        let key_cache = Family::<ResultLabel, Counter>::default();
        registry.register("trent_key_cache_lookups", "Key record lookups, by result (hit or miss)", key_cache.clone());
        let audit_lines = Family::<ResultLabel, Counter>::default();
        registry.register("trent_audit_lines", "Audit log lines, by result (written or failed)", audit_lines.clone());
        let scheduler_runs = Family::<ResultLabel, Counter>::default();
        registry.register("trent_scheduler_runs", "Runs of the scheduled work (deletions, rotations, expiry), by result", scheduler_runs.clone());
        registry.register("trent_build", "The running build", Info::new(BuildLabels { version: crate::VERSION_NUMBER, commit: crate::COMMIT }));
        Metrics { registry, requests, request_seconds, keys, store_seconds, store_errors, key_cache, audit_lines, scheduler_runs }
    }

    /// Counts a finished request.
    pub fn request(&self, record: &RequestRecord) {
        let operation = record.operation.map_or("Unknown", trent_model::OperationName::as_str);
        let (outcome, code) = match &record.error {
            None => ("success", ""),
            Some(e) if e.code() == trent_model::ErrorCode::AccessDeniedException => ("denied", e.code().as_str()),
            Some(e) => ("error", e.code().as_str()),
        };
        self.requests.get_or_create(&RequestLabels { operation, outcome, code }).inc();
        self.request_seconds.get_or_create(&OperationLabel { operation }).observe(record.latency.as_secs_f64());
    }

    /// Times a store call; a lost compare-and-swap (`Conflict`) is not a failure.
    pub fn store_call<T>(&self, backend: &'static str, took: Duration, result: &Result<T, StoreError>) {
        let labels = StoreLabels { backend };
        self.store_seconds.get_or_create(&labels).observe(took.as_secs_f64());
        if matches!(result, Err(e) if !matches!(e, StoreError::Conflict)) {
            self.store_errors.get_or_create(&labels).inc();
        }
    }

    pub fn key_cache(&self, hit: bool) {
        self.key_cache.get_or_create(&ResultLabel { result: if hit { "hit" } else { "miss" } }).inc();
    }

    pub fn audit_written(&self, ok: bool, lines: usize) {
        self.audit_lines.get_or_create(&ResultLabel { result: if ok { "written" } else { "failed" } }).inc_by(lines as u64);
    }

    pub fn scheduler_run(&self, ok: bool) {
        self.scheduler_runs.get_or_create(&ResultLabel { result: if ok { "ok" } else { "failed" } }).inc();
    }

    /// The text exposition, with the key counts given (state, spec, count) set first.
    pub fn encode(&self, key_counts: &[(String, String, i64)]) -> String {
        self.keys.clear();
        for (state, spec, count) in key_counts {
            self.keys.get_or_create(&KeyLabels { state: state.clone(), spec: spec.clone() }).set(*count);
        }
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            tracing::error!("metrics could not be encoded");
        }
        text
    }
}
