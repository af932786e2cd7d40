//! Counters and histograms of the query API.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of API request metrics: both bounded sets.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `sql` or `trace`.
    pub endpoint: &'static str,
    /// `ok`, `bad_request`, `not_found`, `timeout`, `unavailable` or `internal`.
    pub outcome: &'static str,
}

/// Labels of the duration histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// `sql` or `trace`.
    pub endpoint: &'static str,
}

/// The query API's metrics.
#[derive(Clone)]
pub struct QueryTelemetry {
    requests: Family<RequestLabels, Counter>,
    duration: Family<EndpointLabels, Histogram>,
}

impl QueryTelemetry {
    /// Creates the metrics and registers them.
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 18))
        });
        registry.register(
            "lookout_query_requests",
            "Query API requests by endpoint and outcome",
            requests.clone(),
        );
        registry.register(
            "lookout_query_duration_seconds",
            "Time to answer a query API request",
            duration.clone(),
        );
        Self { requests, duration }
    }

    /// Records one answered request.
    pub fn observe(&self, endpoint: &'static str, outcome: &'static str, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels { endpoint, outcome })
            .inc();
        self.duration
            .get_or_create(&EndpointLabels { endpoint })
            .observe(seconds);
    }
}
