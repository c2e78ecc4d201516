// Structured logs: one JSON line per event (pino), to stdout, for a log
// shipper to read. The API logs each request (with its run's id), the worker
// each run (its id, language, verdict, queue wait and run time), both their
// start-up and their faults. RUSE_LOG_LEVEL (default info) sets how much.
import { pino, type DestinationStream, type Logger } from "pino";

export type Log = Logger;

/** A component's logger ("api", "worker"); `to` another destination than stdout (tests read it). */
export function createLog(component: string, level: string, to?: DestinationStream): Log {
  return pino({ base: { component }, level, timestamp: pino.stdTimeFunctions.isoTime }, to);
}
