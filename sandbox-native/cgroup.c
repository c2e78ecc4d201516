/* Cgroups: the one thing that is not a lie. Each run gets a fresh cgroup
 * (clean counters, nothing inherited) under a parent the set-up delegated to
 * the worker's uid, with memory (swap off), pids and CPU caps, and it is
 * removed after the run.
 *   v2: one directory: memory.max, memory.swap.max, memory.oom.group, pids.max,
 *       cpu.max; accounting from cpu.stat, memory.peak, memory.events.
 *   v1: one directory per controller hierarchy (memory, pids, cpuacct, cpu):
 *       memory.limit_in_bytes (+memsw when the kernel accounts swap),
 *       pids.max, cpu.cfs_quota_us; accounting from cpuacct.usage*,
 *       memory.max_usage_in_bytes, memory.oom_control.
 * Killing the whole run is done by killing its pid-namespace init (pid.c),
 * which works on both; on v2 cgroup.kill is written as well. */
#include "launcher.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { C_MEMORY = 1, C_PIDS = 2, C_CPUACCT = 4, C_CPU = 8 };
static int v1_kinds[MAX_CG1];

static bool has_file(const char *dir, const char *file) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  return access(p, F_OK) == 0;
}

static void put(const char *dir, const char *file, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(const char *dir, const char *file, const char *fmt, ...) {
  char p[600], v[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(v, sizeof v, fmt, ap);
  va_end(ap);
  snprintf(p, sizeof p, "%s/%s", dir, file);
  int fd = open(p, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, v, (size_t)n) != n) fail("write '%s' to %s: %s", v, p, strerror(errno));
  close(fd);
}

static int open_in(const char *dir, const char *file) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("open %s: %s", p, strerror(errno));
  return fd;
}

/* Reads a number from a cgroup file; with key, the value on the "key N" line. */
static uint64_t read_num_fd(int fd, const char *key) {
  char buf[1024];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = 0;
  if (!key) return strtoull(buf, NULL, 10);
  size_t kl = strlen(key);
  for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
    if (strncmp(line, key, kl) == 0 && line[kl] == ' ') return strtoull(line + kl + 1, NULL, 10);
  return 0;
}

static uint64_t read_num(const char *dir, const char *file, const char *key) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  uint64_t v = read_num_fd(fd, key);
  close(fd);
  return v;
}

/* A fresh directory; one left by a launcher that was killed (same pid
 * reused) is removed first. */
static void make_group(const char *parent, char *out, size_t cap) {
  snprintf(out, cap, "%s/run-%d", parent, (int)getpid());
  if (mkdir(out, 0755) == 0) return;
  if (errno == EEXIST && rmdir(out) == 0 && mkdir(out, 0755) == 0) return;
  fail("cannot create cgroup %s: %s (is %s delegated to this user? run scripts/setup.sh)", out, strerror(errno),
       parent);
}

static void create_v2(const struct config *cfg, struct cgroup *cg) {
  const char *dir = cg->paths[0];
  make_group(cfg->cg2_parent, cg->paths[0], sizeof cg->paths[0]);
  cg->n = 1;
  if (!has_file(dir, "memory.max") || !has_file(dir, "pids.max"))
    fail("cgroup v2: %s lacks the memory or pids controller; they must be enabled in %s/cgroup.subtree_control "
         "(the worker does at start, in the cgroup delegated to it; README: Cgroups)",
         dir, cfg->cg2_parent);
  if (has_file(dir, "memory.swap.max")) put(dir, "memory.swap.max", "0");
  put(dir, "memory.oom.group", "1"); /* an OOM kills the whole run, not one process */
  cg->cpu_usage_fd = open_in(dir, "cpu.stat");
  /* POLLPRI when it changed since it was last read. A cgroup (kernfs) file
   * polls as changed until it has been read once, so read it now (else the
   * supervisor would wake at once, every time); cgroup_collect reads it
   * through this descriptor, which re-arms it after each event. */
  cg->oom_fd = open_in(dir, "memory.events");
  (void)read_num_fd(cg->oom_fd, NULL);
}

static void create_v1(const struct config *cfg, struct cgroup *cg) {
  int seen = 0;
  cg->n = 0;
  for (int i = 0; i < cfg->n_cg1; i++) {
    const char *parent = cfg->cg1_parents[i];
    int kind = (has_file(parent, "memory.limit_in_bytes") ? C_MEMORY : 0) |
               (has_file(parent, "pids.max") ? C_PIDS : 0) | (has_file(parent, "cpuacct.usage") ? C_CPUACCT : 0) |
               (has_file(parent, "cpu.cfs_quota_us") ? C_CPU : 0);
    if (!kind) fail("cgroup v1 parent %s is not a memory, pids, cpu or cpuacct hierarchy", parent);
    char *dir = cg->paths[cg->n];
    v1_kinds[cg->n++] = kind;
    make_group(parent, dir, sizeof cg->paths[0]);
    seen |= kind;
    if (kind & C_MEMORY) {
      put(dir, "memory.swappiness", "0");
      /* An eventfd that fires on OOM, so the run is killed whole at once. */
      cg->oom_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      int ctl = open_in(dir, "memory.oom_control");
      put(dir, "cgroup.event_control", "%d %d", cg->oom_fd, ctl);
      close(ctl);
    }
    if (kind & C_CPUACCT) cg->cpu_usage_fd = open_in(dir, "cpuacct.usage");
  }
  int need = C_MEMORY | C_PIDS | C_CPUACCT;
  if ((seen & need) != need)
    fail("cgroup v1: the memory, pids and cpuacct controllers are all required (missing:%s%s%s)",
         seen & C_MEMORY ? "" : " memory", seen & C_PIDS ? "" : " pids", seen & C_CPUACCT ? "" : " cpuacct");
}

void cgroup_create(const struct config *cfg, struct cgroup *cg) {
  memset(cg, 0, sizeof *cg);
  cg->cpu_usage_fd = cg->oom_fd = -1;
  cg->version = cfg->cg_version;
  if (cg->version == 2) create_v2(cfg, cg);
  else create_v1(cfg, cg);
}

/* The run's limits; a prepared sandbox gets them when its run comes, before
 * anything of the run starts (until then only init, our code, is inside). */
void cgroup_limit(struct cgroup *cg, const struct config *cfg) {
  const unsigned long long mem = cfg->memory_bytes, pids = cfg->pids, quota = cfg->cpus_milli * 100;
  for (int i = 0; i < cg->n; i++) {
    const char *dir = cg->paths[i];
    if (cg->version == 2) {
      put(dir, "memory.max", "%llu", mem);
      put(dir, "pids.max", "%llu", pids);
      /* Without a delegated cpu controller, CPU time is still measured from
       * cpu.stat and enforced by supervise.c; only the bandwidth cap is lost. */
      if (quota && has_file(dir, "cpu.max")) put(dir, "cpu.max", "%llu 100000", quota);
      continue;
    }
    if (v1_kinds[i] & C_MEMORY) {
      put(dir, "memory.limit_in_bytes", "%llu", mem);
      if (has_file(dir, "memory.memsw.limit_in_bytes")) put(dir, "memory.memsw.limit_in_bytes", "%llu", mem);
    }
    if (v1_kinds[i] & C_PIDS) put(dir, "pids.max", "%llu", pids);
    if ((v1_kinds[i] & C_CPU) && quota) {
      put(dir, "cpu.cfs_period_us", "100000");
      put(dir, "cpu.cfs_quota_us", "%llu", quota);
    }
  }
}

void cgroup_attach(struct cgroup *cg, pid_t pid) {
  for (int i = 0; i < cg->n; i++) put(cg->paths[i], "cgroup.procs", "%d", (int)pid);
}

uint64_t cgroup_cpu_usage_us(struct cgroup *cg) {
  if (cg->version == 2) return read_num_fd(cg->cpu_usage_fd, "usage_usec");
  return read_num_fd(cg->cpu_usage_fd, NULL) / 1000;
}

static void user_sys(struct cgroup *cg, uint64_t *user, uint64_t *sys) {
  *user = *sys = 0;
  for (int i = 0; i < cg->n; i++) {
    if (cg->version == 2) {
      *user = read_num(cg->paths[i], "cpu.stat", "user_usec");
      *sys = read_num(cg->paths[i], "cpu.stat", "system_usec");
    } else if (v1_kinds[i] & C_CPUACCT) {
      *user = read_num(cg->paths[i], "cpuacct.usage_user", NULL) / 1000;
      *sys = read_num(cg->paths[i], "cpuacct.usage_sys", NULL) / 1000;
    }
  }
}

/* The program starts now: what init spent building the root is not its. */
void cgroup_mark_start(struct cgroup *cg) {
  cg->cpu_baseline_us = cgroup_cpu_usage_us(cg);
  user_sys(cg, &cg->user_baseline_us, &cg->sys_baseline_us);
}

/* The program and all its processes are gone. */
void cgroup_mark_end(struct cgroup *cg) {
  cg->cpu_end_us = cgroup_cpu_usage_us(cg);
  user_sys(cg, &cg->user_end_us, &cg->sys_end_us);
}

void cgroup_kill(struct cgroup *cg) {
  if (cg->version == 2 && has_file(cg->paths[0], "cgroup.kill")) put(cg->paths[0], "cgroup.kill", "1");
}

void cgroup_collect(struct cgroup *cg, struct outcome *out) {
  if (out->have_rusage) {
    /* The run ended by itself: init's rusage of everything it reaped is
     * exact and holds none of init's own set-up. */
    out->cpu_us = out->user_us + out->sys_us;
  } else {
    /* Killed at a limit: the cgroup's counters, from the program's start.
     * Without a recorded end, the end is now; it is not recorded, because
     * the supervisor also looks mid-run (at a memory event that may not be
     * an OOM kill), and the run's end is later. */
    uint64_t t = cg->cpu_end_us, u = cg->user_end_us, s = cg->sys_end_us;
    if (!t) {
      t = cgroup_cpu_usage_us(cg);
      user_sys(cg, &u, &s);
    }
    out->cpu_us = t > cg->cpu_baseline_us ? t - cg->cpu_baseline_us : 0;
    out->user_us = u > cg->user_baseline_us ? u - cg->user_baseline_us : 0;
    out->sys_us = s > cg->sys_baseline_us ? s - cg->sys_baseline_us : 0;
  }
  for (int i = 0; i < cg->n; i++) {
    const char *d = cg->paths[i];
    if (cg->version == 2) {
      out->memory_peak_bytes = read_num(d, "memory.peak", NULL);
      out->oom_killed = read_num_fd(cg->oom_fd, "oom_kill") > 0; /* re-arms its POLLPRI too */
    } else if (v1_kinds[i] & C_MEMORY) {
      out->memory_peak_bytes = read_num(d, "memory.max_usage_in_bytes", NULL);
      out->oom_killed = read_num(d, "memory.oom_control", "oom_kill") > 0;
    }
  }
  /* An OOM kill the supervisor did not see before init was gone is still the
   * memory limit: on v2, memory.oom.group kills init with the rest of the
   * run, and its exit may be noticed before the memory.events change. */
  if (out->oom_killed && out->limit == LIMIT_NONE) out->limit = LIMIT_MEMORY;
}

void cgroup_remove(struct cgroup *cg) {
  for (int i = 0; i < cg->n; i++) {
    /* Tasks leave their cgroup as they exit; a just-killed run may need a
     * moment before the directory is empty. */
    for (int tries = 0; rmdir(cg->paths[i]) != 0 && errno == EBUSY && tries < 200; tries++)
      nanosleep(&(struct timespec){0, 500000}, NULL);
  }
  if (cg->cpu_usage_fd >= 0) close(cg->cpu_usage_fd);
  if (cg->oom_fd >= 0) close(cg->oom_fd);
  cg->n = 0;
  cg->cpu_usage_fd = cg->oom_fd = -1;
}
