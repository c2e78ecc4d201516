/* Supervision: pump stdin in and output out, and enforce the limits.
 *   CPU   from the cgroup's usage, so every process and thread counts. The
 *         next wake-up is planned from the CPU time left divided by the CPUs
 *         the run can use: the earliest moment it could reach its limit. As
 *         the limit nears the waits shrink (down to 1 ms), so a spin is
 *         stopped within a few ms of it, not at the next 100 ms tick.
 *   wall  from CLOCK_MONOTONIC, starting when the program's exec succeeded.
 *   memory  the cgroup's OOM notification: the run is killed whole at once.
 *   output  a cap per stream; past it the run is killed and the rest cut.
 * Any limit kills init, which takes every process of the run with it. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SETUP_TIMEOUT_US (20u * 1000000u)
#define MIN_WAIT_US 1000u

struct pump {
  int in_w, out_r[2];
  bool stdin_open;
  char inbuf[65536];
  size_t in_len, in_off;
};

static void kill_run(struct cgroup *cg, int pidfd, struct outcome *out, enum limit_hit why) {
  if (out->limit == LIMIT_NONE) out->limit = why;
  syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
  cgroup_kill(cg);
}

static int cpus_usable(const struct config *cfg) {
  cpu_set_t set;
  int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  int cap = (int)((cfg->cpus_milli + 999) / 1000);
  return (cfg->cpus_milli && cap < n) ? cap : (n > 0 ? n : 1);
}

/* Forward what the program wrote to our own stdout/stderr, up to the cap. */
static void pump_output(const struct config *cfg, struct pump *p, int i, struct cgroup *cg, int pidfd,
                        struct outcome *out) {
  char buf[65536];
  ssize_t n = read(p->out_r[i], buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    close(p->out_r[i]);
    p->out_r[i] = -1;
    return;
  }
  uint64_t room = cfg->output_bytes - out->out_bytes[i];
  size_t keep = (uint64_t)n < room ? (size_t)n : (size_t)room;
  if (keep && write_all_ret(i + 1, buf, keep) != 0) {
    /* The worker stopped reading: nobody is left to give the output to. */
    kill_run(cg, pidfd, out, LIMIT_OUTPUT);
  }
  out->out_bytes[i] += keep;
  if (keep < (size_t)n) {
    out->out_truncated[i] = true;
    kill_run(cg, pidfd, out, LIMIT_OUTPUT);
  }
}

static void close_stdin(struct pump *p) {
  if (p->in_w >= 0) close(p->in_w);
  p->in_w = -1;
  p->stdin_open = false;
}

static void pump_stdin(struct pump *p, bool readable, bool writable) {
  if (readable && p->in_len == 0) {
    ssize_t n = read(0, p->inbuf, sizeof p->inbuf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      close_stdin(p);
      return;
    }
    p->in_len = (size_t)n;
    p->in_off = 0;
  }
  if (writable && p->in_len > p->in_off) {
    ssize_t n = write(p->in_w, p->inbuf + p->in_off, p->in_len - p->in_off);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n < 0) { /* the program closed its stdin: stop feeding it */
      close_stdin(p);
      return;
    }
    p->in_off += (size_t)n;
    if (p->in_off == p->in_len) p->in_len = p->in_off = 0;
  }
}

void supervise(const struct config *cfg, struct cgroup *cg, pid_t init_pid, int pidfd, int status_fd, int pipes[3],
               struct outcome *out, bool *init_reaped) {
  memset(out, 0, sizeof *out);
  *init_reaped = false;
  /* CPU: the cgroup's counter enforces the limit as the run goes; at the end
   * the rusage of everything init reaped is exact (see cgroup_collect). */
  signal(SIGPIPE, SIG_IGN);
  struct pump p = {.in_w = pipes[0], .out_r = {pipes[1], pipes[2]}, .stdin_open = true};
  for (int i = 0; i < 3; i++) fcntl(pipes[i], F_SETFL, O_NONBLOCK);
  if (cfg->files_fd >= 0) close(cfg->files_fd); /* init holds them now */
  if (cfg->collect_fd >= 0) close(cfg->collect_fd);

  const uint64_t t0 = mono_us(), cpu_limit_us = cfg->cpu_ms * 1000, wall_limit_us = cfg->wall_ms * 1000;
  const int ncpus = cpus_usable(cfg);
  uint64_t start_us = 0, end_us = 0;
  bool started = false, init_gone = false, have_exit = false;
  int wstatus = 0;
  char error[sizeof((struct init_msg *)0)->text] = "";

  /* The run is over when init is gone, or earlier, when the program and all
   * it started are dead (DONE) and their output has ended, and init has no
   * files to copy out or has closed its descriptors (copied them): the
   * report need not wait for init's exit, whose namespace teardown waits on
   * RCU grace periods. */
  while (!init_gone && !(have_exit && (status_fd < 0 || cfg->n_collect == 0) && p.out_r[0] < 0 && p.out_r[1] < 0)) {
    uint64_t now = mono_us(), wait_us;
    if (!started) {
      if (now - t0 >= SETUP_TIMEOUT_US) kill_run(cg, pidfd, out, LIMIT_SETUP);
      wait_us = SETUP_TIMEOUT_US - (now - t0 < SETUP_TIMEOUT_US ? now - t0 : SETUP_TIMEOUT_US);
    } else if (have_exit) {
      wait_us = 100000; /* the program is done: init only copies files out */
    } else {
      uint64_t used = cgroup_cpu_usage_us(cg) - cg->cpu_baseline_us, wall = now - start_us;
      if (used >= cpu_limit_us) kill_run(cg, pidfd, out, LIMIT_CPU);
      if (wall >= wall_limit_us) kill_run(cg, pidfd, out, LIMIT_WALL);
      uint64_t cpu_wait = used < cpu_limit_us ? (cpu_limit_us - used) / (uint64_t)ncpus : 0;
      uint64_t wall_wait = wall < wall_limit_us ? wall_limit_us - wall : 0;
      wait_us = cpu_wait < wall_wait ? cpu_wait : wall_wait;
    }
    if (out->limit != LIMIT_NONE) wait_us = 100000; /* killed: just wait for init to go */
    if (wait_us < MIN_WAIT_US) wait_us = MIN_WAIT_US;

    struct pollfd fds[6];
    int n = 0, i_status = -1, i_pid, i_out[2] = {-1, -1}, i_stdin = -1, i_inw = -1, i_oom = -1;
    if (status_fd >= 0) {
      i_status = n;
      fds[n++] = (struct pollfd){status_fd, POLLIN, 0};
    }
    i_pid = n;
    fds[n++] = (struct pollfd){pidfd, POLLIN, 0};
    for (int i = 0; i < 2; i++)
      if (p.out_r[i] >= 0) {
        i_out[i] = n;
        fds[n++] = (struct pollfd){p.out_r[i], POLLIN, 0};
      }
    if (p.stdin_open && p.in_len == 0) {
      i_stdin = n;
      fds[n++] = (struct pollfd){0, POLLIN, 0};
    }
    if (p.stdin_open && p.in_len > 0) {
      i_inw = n;
      fds[n++] = (struct pollfd){p.in_w, POLLOUT, 0};
    }
    if (cg->oom_fd >= 0 && out->limit == LIMIT_NONE) {
      i_oom = n;
      fds[n++] = (struct pollfd){cg->oom_fd, cg->version == 2 ? POLLPRI : POLLIN, 0};
    }
    struct timespec ts = {(time_t)(wait_us / 1000000), (long)(wait_us % 1000000) * 1000};
    if (ppoll(fds, (nfds_t)n, &ts, NULL) < 0) {
      if (errno == EINTR) continue;
      fail("poll: %s", strerror(errno));
    }

    if (i_status >= 0 && fds[i_status].revents) {
      struct init_msg m;
      ssize_t r = read(status_fd, &m, sizeof m);
      if (r == (ssize_t)sizeof m && m.kind == MSG_STARTED && !started) {
        started = true;
        start_us = m.at_us;
        /* From the launcher's start: init may stamp its start before t0
         * here, when we were not scheduled in between. */
        out->setup_us = start_us > cfg->launched_us ? start_us - cfg->launched_us : 0;
        cgroup_mark_start(cg);
      } else if (r == (ssize_t)sizeof m && m.kind == MSG_DONE) {
        end_us = m.at_us;
        cgroup_mark_end(cg);
        have_exit = true;
        wstatus = m.wstatus;
        out->have_rusage = true;
        out->user_us = m.user_us;
        out->sys_us = m.sys_us;
      } else if (r == (ssize_t)sizeof m && m.kind == MSG_ERROR) {
        memcpy(error, m.text, sizeof error);
        error[sizeof error - 1] = 0;
      } else if (r <= 0) {
        close(status_fd);
        status_fd = -1;
      }
      continue; /* read every message before we look at init's exit */
    }
    for (int i = 0; i < 2; i++)
      if (i_out[i] >= 0 && fds[i_out[i]].revents) pump_output(cfg, &p, i, cg, pidfd, out);
    if ((i_stdin >= 0 && fds[i_stdin].revents) || (i_inw >= 0 && fds[i_inw].revents))
      pump_stdin(&p, i_stdin >= 0 && fds[i_stdin].revents, i_inw >= 0 && fds[i_inw].revents);
    if (i_oom >= 0 && fds[i_oom].revents) {
      struct outcome probe = {0};
      cgroup_collect(cg, &probe);
      if (cg->version == 1 || probe.oom_killed) kill_run(cg, pidfd, out, LIMIT_MEMORY);
      if (cg->version == 1) {
        uint64_t v;
        (void)!read(cg->oom_fd, &v, sizeof v);
      }
    }
    if (fds[i_pid].revents) init_gone = true;
  }

  int st = 0;
  if (init_gone) {
    while (waitpid(init_pid, &st, 0) < 0 && errno == EINTR) {}
    *init_reaped = true;
  }
  if (!end_us) end_us = mono_us();
  /* Every writer is dead now: what is left in the pipes ends in EOF. */
  for (int i = 0; i < 2; i++)
    while (p.out_r[i] >= 0) pump_output(cfg, &p, i, cg, pidfd, out);
  if (status_fd >= 0) {
    struct init_msg m;
    /* Unless init is gone, we left at DONE and init has nothing more to say. */
    while (init_gone && read(status_fd, &m, sizeof m) == (ssize_t)sizeof m) {
      if (m.kind == MSG_DONE) {
        have_exit = true;
        wstatus = m.wstatus;
        end_us = m.at_us;
        out->have_rusage = true;
        out->user_us = m.user_us;
        out->sys_us = m.sys_us;
      }
      if (m.kind == MSG_ERROR) {
        memcpy(error, m.text, sizeof error);
        error[sizeof error - 1] = 0;
      }
    }
    close(status_fd);
  }
  close_stdin(&p);

  if (out->limit == LIMIT_SETUP) fail("the sandbox did not start within %u s", SETUP_TIMEOUT_US / 1000000);
  if (error[0]) fail("%s", error);
  if (!started && out->limit == LIMIT_NONE) fail("init died while building the sandbox (wait status %d)", st);
  out->wall_us = started ? end_us - start_us : 0;
  if (out->limit != LIMIT_NONE && out->limit != LIMIT_OUTPUT) {
    out->signaled = true; /* killed by us: the program's own status is moot */
    out->signal = SIGKILL;
  } else if (have_exit && WIFEXITED(wstatus)) {
    out->exited = true;
    out->exit_code = WEXITSTATUS(wstatus);
  } else if (have_exit && WIFSIGNALED(wstatus)) {
    out->signaled = true;
    out->signal = WTERMSIG(wstatus);
  } else {
    out->signaled = true;
    out->signal = SIGKILL;
  }
}
