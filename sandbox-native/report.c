/* The report: one JSON object on --report-fd, read by the TypeScript driver
 * (worker/sandbox/report.ts holds its schema). */
#include "launcher.h"

#include <stdio.h>

static const char *limit_name(enum limit_hit l) {
  switch (l) {
  case LIMIT_CPU: return "\"cpu\"";
  case LIMIT_WALL: return "\"wall\"";
  case LIMIT_MEMORY: return "\"memory\"";
  case LIMIT_OUTPUT: return "\"output\"";
  case LIMIT_SETUP: return "\"setup\"";
  default: return "null";
  }
}

void report_write(int fd, const struct outcome *o) {
  char buf[1024], code[16], sig[16];
  snprintf(code, sizeof code, "%d", o->exit_code);
  snprintf(sig, sizeof sig, "%d", o->signal);
  int n = snprintf(
      buf, sizeof buf,
      "{\"ok\":true,\"exitCode\":%s,\"signal\":%s,\"limit\":%s,\"oomKilled\":%s,"
      "\"wallUs\":%llu,\"cpuUs\":%llu,\"userUs\":%llu,\"sysUs\":%llu,\"memoryPeakBytes\":%llu,"
      "\"setupUs\":%llu,\"stdoutBytes\":%llu,\"stderrBytes\":%llu,"
      "\"stdoutTruncated\":%s,\"stderrTruncated\":%s,\"netLeftover\":%s}\n",
      o->exited ? code : "null", o->signaled ? sig : "null", limit_name(o->limit), o->oom_killed ? "true" : "false",
      (unsigned long long)o->wall_us, (unsigned long long)o->cpu_us, (unsigned long long)o->user_us,
      (unsigned long long)o->sys_us, (unsigned long long)o->memory_peak_bytes, (unsigned long long)o->setup_us,
      (unsigned long long)o->out_bytes[0], (unsigned long long)o->out_bytes[1], o->out_truncated[0] ? "true" : "false",
      o->out_truncated[1] ? "true" : "false", o->net_left ? "true" : "false");
  write_all(fd, buf, (size_t)n);
}
