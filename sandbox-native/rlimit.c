/* rlimits: per-process backstops under the cgroup's limits.
 *   CORE 0      no core files in the scratch space
 *   FSIZE       no single file larger than asked (SIGXFSZ)
 *   NOFILE      bounded descriptors
 *   STACK       the stack a judge promises (often more than 8 MiB)
 *   CPU         the CPU limit + 1 s: if the supervisor were ever late, the
 *               kernel still stops a spinning process (it counts one process
 *               only; the cgroup counts them all and is the real limit)
 * No RLIMIT_AS: the JVM and Go reserve far more address space than they use;
 * memory is bounded by the cgroup instead. */
#include "launcher.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

static void set(int status_fd, int res, const char *name, uint64_t soft, uint64_t hard) {
  struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
  if (setrlimit(res, &rl) != 0) child_fail(status_fd, "setrlimit %s: %s", name, strerror(errno));
}

void rlimits_apply(const struct config *cfg, int status_fd) {
  uint64_t cpu_s = (cfg->cpu_ms + 999) / 1000 + 1;
  set(status_fd, RLIMIT_CORE, "CORE", 0, 0);
  set(status_fd, RLIMIT_FSIZE, "FSIZE", cfg->fsize_bytes, cfg->fsize_bytes);
  set(status_fd, RLIMIT_NOFILE, "NOFILE", cfg->nofile, cfg->nofile);
  set(status_fd, RLIMIT_STACK, "STACK", cfg->stack_bytes, cfg->stack_bytes);
  set(status_fd, RLIMIT_CPU, "CPU", cpu_s, cpu_s + 1);
}
