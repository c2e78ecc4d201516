/* The PID namespace lie: the run sees only its own processes, and its pid 1
 * is init, a copy of this launcher that never runs untrusted code. Init
 * builds the root, starts the program as pid 2, reaps orphans, and when the
 * program ends kills everything left (daemons, forgotten children) before it
 * collects files. When init dies, for any reason, the kernel kills every
 * process of the namespace and refuses new forks in it: that is how a whole
 * run is killed at once, fork bombs included, on cgroup v1 and v2 alike.
 *
 * Init keeps the worker's host uid and is not dumpable, so the program
 * (another host uid, no capabilities) can neither signal it, ptrace it, nor
 * open /proc/1/exe or /proc/1/environ; with hidepid it cannot even see it. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

int pid_clone_flag(void) { return CLONE_NEWPID; }

static void send_msg(int fd, int kind, int wstatus, uint64_t at_us) {
  struct init_msg m = {.kind = kind, .wstatus = wstatus, .at_us = at_us};
  if (kind == MSG_DONE) {
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    m.user_us = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec;
    m.sys_us = (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
  }
  (void)write_all_ret(fd, &m, sizeof m);
}

/* pid 2: becomes the user's program. Order matters: the seccomp filter goes
 * last, so that nothing the launcher itself does needs to be allowed by it. */
static _Noreturn void start_program(const struct config *cfg, const unsigned char *bpf, size_t bpf_len, int status_fd,
                                    int stdio_fds[3]) {
  for (int i = 0; i < 3; i++)
    if (dup2(stdio_fds[i], i) != i) child_fail(status_fd, "dup2: %s", strerror(errno));
  /* A new session has no controlling terminal to push input into (TIOCSTI). */
  if (setsid() < 0) child_fail(status_fd, "setsid: %s", strerror(errno));
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  rlimits_apply(cfg, status_fd);
  user_become_runner(cfg, status_fd);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(status_fd, "no_new_privs: %s", strerror(errno));
  /* Every descriptor but 0, 1, 2 closes at exec; the status pipe stays open
   * until then so that a failed exec can still be reported. */
  if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    child_fail(status_fd, "close_range: %s", strerror(errno));
  environ = (char **)cfg->env;
  seccomp_load(bpf, bpf_len, status_fd);
  execvp(cfg->argv[0], cfg->argv);
  child_fail(status_fd, "cannot execute '%s': %s", cfg->argv[0], strerror(errno));
}

/* A prepared sandbox's run: its options, as the supervisor checked them
 * (supervisor_await_run, main.c). */
static void init_await_run(struct config *cfg, int go_fd) {
  uint32_t len;
  static char blob[MAX_REQUEST + 1];
  if (read_full(go_fd, &len, sizeof len) || len == 0 || len > MAX_REQUEST || read_full(go_fd, blob, len))
    _exit(1); /* no run is coming: the supervisor removes the sandbox */
  blob[len] = 0;
  parse_run_args(cfg, blob, len);
}

/* The supervisor's death ends the run: init's, and with it the whole pid
 * namespace's. A change of credentials clears the parent-death signal (ours:
 * the fs ids become runner's to build the root), so it is set again after
 * each; if the supervisor died meanwhile, its end of the status pipe is gone. */
static void die_with_supervisor(int status_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  struct pollfd p = {status_fd, 0, 0};
  if (poll(&p, 1, 0) == 1 && (p.revents & POLLERR)) _exit(1);
}

_Noreturn void init_main(const struct config *shape, const unsigned char *bpf, size_t bpf_len, int go_fd, int status_fd,
                         int stdio_fds[3]) {
  die_with_supervisor(status_fd);
  prctl(PR_SET_DUMPABLE, 0);
  /* Init writes nothing on stdio (errors go on the status pipe); holding the
   * supervisor's 1 and 2 would keep the worker's streams open until its exit. */
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int i = 0; i < 3; i++)
    if (null < 0 || dup2(null, i) != i) child_fail(status_fd, "/dev/null on stdio: %s", strerror(errno));
  close(null);
  close(shape->report_fd);
  close(shape->seccomp_fd);
  if (shape->prepare_fd >= 0) close(shape->prepare_fd);
  char go;
  if (read(go_fd, &go, 1) != 1) _exit(1); /* the supervisor failed before mapping us */

  /* Now that we are in the run's cgroup, a cgroup namespace rooted there:
   * /proc/self/cgroup shows "/" and nothing of the host's layout. */
  if (unshare(CLONE_NEWCGROUP) != 0) child_fail(status_fd, "unshare cgroup namespace: %s", strerror(errno));

  mount_build_image(shape, status_fd);
  die_with_supervisor(status_fd);
  uts_setup(shape, status_fd);
  struct config run = *shape;
  const struct config *cfg = &run;
  if (shape->prepare_fd >= 0) init_await_run(&run, go_fd);
  close(go_fd);
  mount_build_scratch(cfg, status_fd);
  net_setup(cfg, status_fd);
  int box = open(SANDBOX_HOME, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (box < 0) child_fail(status_fd, "open %s: %s", SANDBOX_HOME, strerror(errno));

  /* exec_pipe closes (CLOEXEC) the moment the program's exec succeeds. */
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) child_fail(status_fd, "pipe: %s", strerror(errno));
  pid_t program = fork();
  if (program < 0) child_fail(status_fd, "fork: %s", strerror(errno));
  if (program == 0) {
    close(exec_pipe[0]);
    start_program(cfg, bpf, bpf_len, status_fd, stdio_fds);
  }
  close(exec_pipe[1]);
  for (int i = 0; i < 3; i++) close(stdio_fds[i]);
  char b;
  while (read(exec_pipe[0], &b, 1) < 0 && errno == EINTR) {}
  close(exec_pipe[0]);
  /* Times are stamped here, where they happen, not when the supervisor
   * gets round to reading them. */
  send_msg(status_fd, MSG_STARTED, 0, mono_us());

  int wstatus = 0, st;
  uint64_t end_us = 0;
  for (;;) {
    pid_t p = waitpid(-1, &st, 0);
    if (p == program) {
      end_us = mono_us();
      wstatus = st;
      break;
    }
    if (p < 0 && errno != EINTR) break;
  }
  /* The program is done: nothing it started may outlive it. */
  kill(-1, SIGKILL);
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {}
  /* The program's time ends here: copying files out is not its. */
  send_msg(status_fd, MSG_DONE, wstatus, end_us ? end_us : mono_us());
  if (cfg->collect_fd >= 0) {
    files_collect(cfg, box);
    close(cfg->collect_fd); /* the stream's end, before init's own */
  }
  _exit(0);
}
