/* ruse-launch: run one command in a fresh rootless sandbox and report what
 * happened, as JSON on --report-fd.
 *
 * The story, in order:
 *   1. read the request (args.c) and the seccomp program (seccomp.c);
 *   2. make the run's cgroup (cgroup.c): the one thing that is not a lie;
 *   3. enter the slot's user namespace, where runner is this slot's host uid
 *      (user.c), and its network namespace unless the run wants loopback
 *      (net.c); clone into new pid, mount, uts and ipc namespaces (and net,
 *      for loopback): the child becomes init, pid 1 of the run (pid.c);
 *   4. put init in the cgroup while it still runs as our uid (cgroup v1
 *      refuses to move a task of another uid);
 *   5. let it go: init builds the root file system (mount.c), names the host
 *      (uts.c), brings up loopback if asked (net.c) and starts the program.
 *      A prepared sandbox (--prepare) waits between the image's root and the
 *      run's scratch for the run's own options, so that a run finds most of
 *      its sandbox built;
 *   6. supervise: pump stdin and output, enforce CPU, wall, memory and output
 *      limits, kill the whole run at once (supervise.c);
 *   7. read the cgroup's accounting, write the report (report.c), then wait
 *      for init's exit and remove the cgroup.
 * That is a launch, one of three modes that main() picks from, at the end:
 * the others are the slot's holder (--hold-userns, hold.c), which makes the
 * namespaces of step 3 once per slot, and the fork server (--serve, serve.c),
 * which forks a launch per connection.
 */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static struct cgroup run_cgroup;
static pid_t init_pid = -1;

/* On any failure after step 2: kill what was started and remove the cgroup,
 * so that a failed run leaves nothing behind. */
static void cleanup_on_fail(void) {
  if (init_pid > 0) {
    kill(init_pid, SIGKILL);
    waitpid(init_pid, NULL, 0);
  }
  cgroup_remove(&run_cgroup);
}

/* Prepared (--prepare): init builds the image's root meanwhile, and we wait
 * for the run's options. None (the worker gave the sandbox up): remove it
 * all. Else they are checked here, the run's limits go on the cgroup, and
 * init gets the options too (init_await_run, pid.c); set-up time counts
 * from now. */
static void supervisor_await_run(struct config *cfg, int go_fd, int status_fd) {
  static char blob[MAX_REQUEST + 1];
  size_t len = 0;
  ssize_t n;
  for (;;) {
    /* Init failing to build the root is reported at once, not at the run's
     * hand-over: the worker then sees this sandbox gone and starts afresh. */
    struct pollfd fds[2] = {{cfg->prepare_fd, POLLIN, 0}, {status_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fail("poll: %s", strerror(errno));
    }
    if (fds[1].revents) {
      struct init_msg m;
      if (read(status_fd, &m, sizeof m) == (ssize_t)sizeof m && m.kind == MSG_ERROR) {
        m.text[sizeof m.text - 1] = 0;
        fail("%s", m.text);
      }
      fail("init died while building the sandbox");
    }
    if (len == MAX_REQUEST) break;
    n = read(cfg->prepare_fd, blob + len, MAX_REQUEST - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("read the run's options: %s", strerror(errno));
    if (n == 0) break;
    len += (size_t)n;
  }
  if (len == 0) {
    cleanup_on_fail();
    _exit(0);
  }
  if (len == MAX_REQUEST) fail("the run's options are longer than %d bytes", MAX_REQUEST);
  close(cfg->prepare_fd);
  cfg->launched_us = mono_us();
  blob[len] = 0;
  parse_run_args(cfg, blob, len);
  cgroup_limit(&run_cgroup, cfg);
  uint32_t l = (uint32_t)len;
  /* Init gone (it failed to build the root): supervise reports its error. */
  if (write_all_ret(go_fd, &l, sizeof l) == 0) (void)write_all_ret(go_fd, blob, len);
}

/* Steps 1 to 7, the request already parsed (request, below). */
static int launch(struct config *cfg) {
  cfg->launched_us = mono_us();

  /* Die with the worker; and while we set up, nobody may ptrace or read our
   * memory (we hold the seccomp program and the run's descriptors). */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || prctl(PR_SET_DUMPABLE, 0) != 0) fail("prctl: %s", strerror(errno));
  signal(SIGPIPE, SIG_IGN); /* a dead init or worker is an error to report, not our end */
  if (getppid() == 1) fail("the worker is gone");

  size_t bpf_len;
  unsigned char *bpf = seccomp_read_program(cfg->seccomp_fd, &bpf_len);

  cgroup_create(cfg, &run_cgroup);
  fail_set_cleanup(cleanup_on_fail);
  if (cfg->prepare_fd < 0) cgroup_limit(&run_cgroup, cfg);

  /* status: init -> us; go: us -> init; stdio: the program's 0, 1, 2. */
  int status_pipe[2], go_pipe[2], in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC) || pipe2(go_pipe, O_CLOEXEC) || pipe2(in_pipe, O_CLOEXEC) ||
      pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC))
    fail("pipe: %s", strerror(errno));
  /* Our pipes are ours (0600), and our uid is not mapped in the run's user
   * namespace: reopening them through /dev/stdin (/proc/self/fd/0), as
   * programs do, would be denied. Their only paths are /proc/<pid>/fd links,
   * which only the run's own processes can follow: 0666 opens them to it alone. */
  if (fchmod(in_pipe[0], 0666) || fchmod(out_pipe[1], 0666) || fchmod(err_pipe[1], 0666))
    fail("chmod the stdio pipes: %s", strerror(errno));

  user_enter_namespace(cfg);
  net_enter_namespace(cfg);
  int flags = pid_clone_flag() | mount_clone_flag(cfg) | net_clone_flag(cfg) | uts_clone_flag() | ipc_clone_flag();
  int pidfd = -1;
  /* Raw clone behaves like fork (no new stack) and hands back a pidfd, so
   * that we can signal and wait for init without pid-reuse races. */
  long r = syscall(SYS_clone, (unsigned long)flags | CLONE_PIDFD | SIGCHLD, NULL, &pidfd, NULL, 0);
  if (r < 0) fail("clone into new namespaces: %s", strerror(errno));
  if (r == 0) {
    fail_set_cleanup(NULL); /* the cgroup belongs to the supervisor */
    fail_set_report_fd(-2); /* init reports through the status pipe */
    close(status_pipe[0]);
    close(go_pipe[1]);
    close(in_pipe[1]);
    close(out_pipe[0]);
    close(err_pipe[0]);
    int stdio_fds[3] = {in_pipe[0], out_pipe[1], err_pipe[1]};
    init_main(cfg, bpf, bpf_len, go_pipe[0], status_pipe[1], stdio_fds);
  }
  init_pid = (pid_t)r;
  if (cfg->image_ns_fd >= 0) close(cfg->image_ns_fd); /* init's to enter */
  close(status_pipe[1]);
  close(go_pipe[0]);
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);

  cgroup_attach(&run_cgroup, init_pid);
  if (write(go_pipe[1], "g", 1) != 1) fail("init died before it could start");
  if (cfg->prepare_fd >= 0) supervisor_await_run(cfg, go_pipe[1], status_pipe[0]);
  close(go_pipe[1]);

  struct outcome out;
  bool reaped;
  int pipes[3] = {in_pipe[1], out_pipe[0], err_pipe[0]};
  supervise(cfg, &run_cgroup, init_pid, pidfd, status_pipe[0], pipes, &out, &reaped);

  /* Report first, then tear down: the worker has its answer (and the slot
   * back: no process of the slot's uid is left) while init's namespaces go
   * and the cgroup is removed. Closing our output ends every stream. */
  cgroup_collect(&run_cgroup, &out);
  out.net_left = net_left_behind(cfg);
  report_write(cfg->report_fd, &out);
  fail_set_report_fd(-2); /* said all there is to say */
  close(cfg->report_fd);
  close(1);
  close(2);
  if (!reaped)
    while (waitpid(init_pid, NULL, 0) < 0 && errno == EINTR) {}
  init_pid = -1;
  cgroup_remove(&run_cgroup);
  return 0;
}

/* A request, from our own argv or, under the fork server, a connection's. */
static int request(int argc, char **argv) {
  struct config cfg;
  parse_args(&cfg, argc, argv);
  fail_set_report_fd(cfg.report_fd);
  if (cfg.hold_userns) hold_main(&cfg); /* --hold-userns: the slot, made once (hold.c) */
  return launch(&cfg);                  /* a launch: the story above */
}

/* The three modes: --serve PATH, the fork server (serve.c), which forks a
 * request per connection; else one request: a slot's holder or a launch. */
int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--serve") == 0) serve_main(argv[2], request);
  return request(argc, argv);
}
