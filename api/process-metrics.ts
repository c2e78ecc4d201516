// This API process's own runtime metrics (prom-client): event-loop lag, heap,
// GC, CPU, open connections. Per process by nature, so they sit beside the
// cluster-wide run counters on /metrics, which stay in Redis (core/store.ts):
// a process's registry cannot count the runs of other workers.
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";

export function processMetrics(openConnections: () => Promise<number>): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "ruse_api_" });
  new Gauge({
    name: "ruse_api_open_connections",
    help: "HTTP connections open on this API process",
    registers: [registry],
    async collect() {
      this.set(await openConnections());
    },
  });
  return registry;
}
