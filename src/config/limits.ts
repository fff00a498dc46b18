// Platform limits and defaults, in one place. Units are in the names. docs/limits.md lists them.

export const MAX_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024; // request and response of a synchronous invocation
export const MAX_HEADER_BYTES = 16 * 1024;
export const MAX_DEPLOY_BYTES = 64 * 1024 * 1024; // one deploy upload (manifest + bundles, base64)
export const MEMORY_MIN_MB = 128;
export const MEMORY_MAX_MB = 10240;
export const MEMORY_DEFAULT_MB = 128;
export const TIMEOUT_MIN_S = 1;
export const TIMEOUT_MAX_S = 900;
export const TIMEOUT_DEFAULT_S = 3;
export const CONCURRENCY_DEFAULT_MAX = 10;
export const QUEUE_TIMEOUT_DEFAULT_MS = 1000;
export const KEEP_ALIVE_DEFAULT_MS = 5 * 60 * 1000;
export const MAX_INSTANCES_DEFAULT = 1000; // host-wide; the memory budget is usually the tighter cap
export const MEMORY_BUDGET_DEFAULT_FRACTION = 0.75; // of the host's RAM, over instances' configured sizes
export const MAX_CONCURRENT_STARTS_PER_CORE = 2; // processes booting at once, per CPU core (min 2)
export const SPARES_MIN_DEFAULT = 1; // booted runtimes kept waiting for the default memory size
export const SPARES_MAX_DEFAULT = 8; // most booted runtimes waiting, all sizes
export const LOG_LINE_MAX_BYTES = 256 * 1024; // a longer line is truncated and says so
export const LOG_RETENTION_DEFAULT_ROWS = 200_000;
export const LOG_RETENTION_DEFAULT_MS = 7 * 24 * 3600 * 1000;
export const BILLING_GRANULARITY_MS = 1;
export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
