//! The load client, in layers that only ever import downwards:
//!
//! | layer | module | owns |
//! | --- | --- | --- |
//! | errors | [`error`] | [`ErrorKind`], [`Outcome`], the one mapping of socket errors |
//! | allow-list | [`allow`] | [`Allow`]: the job's target allow-lists, checked by the transport when it resolves a host |
//! | transport | [`transport`] | [`Endpoint`] (resolved once), TCP, TLS (rustls, ring), byte and connection counters |
//! | HTTP/1.1 wire | [`h1`] | request serialisation and response framing, pure (no I/O) |
//! | HTTP/1.1 connection | [`h1_conn`] | [`H1Conn`]: one keep-alive connection on a transport stream |
//! | HTTP/2 connection | [`h2`] | hyper's low-level `client::conn::http2` on a transport stream |
//! | pool | [`pool`] | [`Pool`]: one worker's connections to one endpoint |
//! | load path | [`load`] | [`load::send`]: a template's request, its [`Outcome`] only |
//! | full exchange | [`exchange`] | [`exchange::Client`]: any request, the whole response and k6-style timings (the JavaScript runtime's `http.request`) |
//! | downloads | [`fetch`] | a job's data file, over [`exchange`] |
//!
//! The client computes no statistics: it returns an [`Outcome`] and the
//! engine folds it into the per-second buckets.

pub mod allow;
pub mod error;
pub mod exchange;
pub mod fetch;
pub mod h1;
pub mod h1_conn;
pub mod h2;
pub mod load;
pub mod pool;
pub mod transport;

pub use allow::{Allow, Refusals};
pub use error::{ErrorKind, Outcome};
pub use h1_conn::H1Conn;
pub use pool::Pool;
pub use transport::{Endpoint, IoCounters, OPEN_CONNECTIONS};
