// Minimal types for the parts of autocannon the benchmarks use.
declare module 'autocannon' {
  interface Histogram { p50: number; p90: number; p99: number; average: number; mean: number; max: number }
  interface Result { requests: Histogram & { total: number }; latency: Histogram; errors: number; timeouts: number; non2xx: number; duration: number }
  function autocannon(opts: { url: string; connections?: number; duration?: number; amount?: number; pipelining?: number; method?: string; /** requests per second over all connections */ overallRate?: number }): Promise<Result>;
  export default autocannon;
}
