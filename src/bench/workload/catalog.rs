//! The synthetic shop behind `lookout bench ingest`: services, routes, databases, topics.

/// A database a service talks to.
pub(super) struct Database {
    pub(super) system: &'static str,
    pub(super) namespace: &'static str,
    pub(super) peer_name: &'static str,
    pub(super) port: i64,
    /// Span name and a short statement.
    pub(super) operations: &'static [(&'static str, &'static str)],
}

/// One service of the shop: what it serves and whom it calls.
pub(super) struct Service {
    pub(super) name: &'static str,
    pub(super) version: &'static str,
    pub(super) sdk_language: &'static str,
    /// HTTP method and route of each endpoint the service serves.
    pub(super) routes: &'static [(&'static str, &'static str)],
    /// Services called, as indices into [`SERVICES`]; one listed twice is called twice as often.
    pub(super) downstream: &'static [usize],
    pub(super) database: Option<Database>,
    pub(super) topics: &'static [&'static str],
    /// A business id attribute the service puts on its server spans.
    pub(super) id_attribute: &'static str,
}

/// Index of the service that receives every trace's root request.
pub(super) const FRONTEND: usize = 0;
const CHECKOUT: usize = 1;
const PAYMENT: usize = 2;
const INVENTORY: usize = 3;
const SHIPPING: usize = 4;
const AUTH: usize = 5;

const POSTGRES_PORT: i64 = 5432;
const REDIS_PORT: i64 = 6379;

/// The shop; `downstream` holds indices into this array.
pub(super) static SERVICES: [Service; 6] = [
    Service {
        name: "frontend",
        version: "2.14.1",
        sdk_language: "nodejs",
        routes: &[
            ("GET", "/"),
            ("GET", "/api/cart"),
            ("POST", "/api/cart/items"),
            ("POST", "/api/checkout"),
            ("GET", "/api/products/{id}"),
        ],
        downstream: &[CHECKOUT, CHECKOUT, INVENTORY, AUTH],
        database: None,
        topics: &[],
        id_attribute: "app.session.id",
    },
    Service {
        name: "checkout",
        version: "1.8.0",
        sdk_language: "go",
        routes: &[
            ("POST", "/checkout"),
            ("GET", "/checkout/{id}"),
            ("POST", "/checkout/{id}/confirm"),
        ],
        downstream: &[PAYMENT, INVENTORY, SHIPPING],
        database: Some(Database {
            system: "postgresql",
            namespace: "orders",
            peer_name: "orders-db",
            port: POSTGRES_PORT,
            operations: &[
                (
                    "SELECT orders",
                    "SELECT id, status, total FROM orders WHERE id = $1",
                ),
                (
                    "INSERT orders",
                    "INSERT INTO orders (id, user_id, total) VALUES ($1, $2, $3)",
                ),
                (
                    "UPDATE orders",
                    "UPDATE orders SET status = $1 WHERE id = $2",
                ),
            ],
        }),
        topics: &["order.created", "order.confirmed"],
        id_attribute: "app.order.id",
    },
    Service {
        name: "payment",
        version: "3.2.7",
        sdk_language: "java",
        routes: &[
            ("POST", "/charge"),
            ("POST", "/refund"),
            ("GET", "/payments/{id}"),
        ],
        downstream: &[AUTH],
        database: Some(Database {
            system: "postgresql",
            namespace: "payments",
            peer_name: "payments-db",
            port: POSTGRES_PORT,
            operations: &[
                (
                    "INSERT payments",
                    "INSERT INTO payments (id, order_id, amount) VALUES ($1, $2, $3)",
                ),
                (
                    "SELECT payments",
                    "SELECT id, state FROM payments WHERE order_id = $1",
                ),
            ],
        }),
        topics: &["payment.settled"],
        id_attribute: "app.payment.id",
    },
    Service {
        name: "inventory",
        version: "0.9.4",
        sdk_language: "rust",
        routes: &[
            ("GET", "/stock/{id}"),
            ("POST", "/reserve"),
            ("POST", "/release"),
        ],
        downstream: &[],
        database: Some(Database {
            system: "redis",
            namespace: "0",
            peer_name: "inventory-cache",
            port: REDIS_PORT,
            operations: &[
                ("HGET", "HGET stock:? available"),
                ("HINCRBY", "HINCRBY stock:? reserved ?"),
            ],
        }),
        topics: &[],
        id_attribute: "app.sku",
    },
    Service {
        name: "shipping",
        version: "1.1.2",
        sdk_language: "python",
        routes: &[
            ("POST", "/quote"),
            ("POST", "/shipments"),
            ("GET", "/shipments/{id}"),
        ],
        downstream: &[],
        database: Some(Database {
            system: "postgresql",
            namespace: "shipping",
            peer_name: "shipping-db",
            port: POSTGRES_PORT,
            operations: &[
                (
                    "SELECT rates",
                    "SELECT carrier, price FROM rates WHERE zone = $1",
                ),
                (
                    "INSERT shipments",
                    "INSERT INTO shipments (id, order_id) VALUES ($1, $2)",
                ),
            ],
        }),
        topics: &["shipment.created"],
        id_attribute: "app.shipment.id",
    },
    Service {
        name: "auth",
        version: "4.0.3",
        sdk_language: "go",
        routes: &[
            ("POST", "/token/verify"),
            ("GET", "/users/{id}"),
            ("POST", "/login"),
        ],
        downstream: &[],
        database: Some(Database {
            system: "redis",
            namespace: "1",
            peer_name: "sessions-cache",
            port: REDIS_PORT,
            operations: &[
                ("GET", "GET session:?"),
                ("SETEX", "SETEX session:? 3600 ?"),
            ],
        }),
        topics: &[],
        id_attribute: "app.session.id",
    },
];

/// Exception type and message of a server span that fails on its own.
pub(super) const SERVER_ERRORS: [(&str, &str); 4] = [
    ("TimeoutError", "deadline exceeded waiting for upstream"),
    ("IllegalStateException", "order is already confirmed"),
    ("PoolExhaustedError", "connection pool exhausted"),
    ("ValueError", "invalid cart item quantity"),
];
