/* The fork server (--serve PATH): spawning the launcher from the worker's
 * large Node process costs ~2 ms of its event loop per run (fork copies its
 * page tables). Instead the worker starts this small process once; per run it
 * connects to PATH (a Unix socket in the worker's private state directory),
 * and we fork a mux for the connection, which forks the launcher proper with
 * pipes on its descriptors and carries them over the one connection as frames:
 *   frame: u8 type, u32 length (little-endian), data
 *   worker -> mux: REQUEST (the launcher's argv, NUL-separated), then FILES
 *                  data and STDIN data, each ended by an empty frame; for a
 *                  prepared sandbox (--prepare SERVE_FD_RUN) first RUN data,
 *                  the run's options, ended by an empty frame (alone: none)
 *   mux -> worker: STDOUT, STDERR, REPORT, COLLECT data, each ended by an
 *                  empty frame, then EXIT (u32 wait status of the launcher)
 * The launcher sees exactly what it would from a direct spawn: 0, 1, 2 and
 * the report, files, collect and run descriptors at SERVE_FD_*; descriptors the
 * server inherited (the seccomp file, the slots' namespaces) stay open. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

enum {
  F_REQUEST = 0,
  F_STDIN = 1,
  F_FILES = 2,
  F_RUN = 3,
  F_STDOUT = 11,
  F_STDERR = 12,
  F_REPORT = 13,
  F_COLLECT = 14,
  F_EXIT = 20
};

/* Header and data in one writev: one wake-up of the worker, not two. */
static void send_frame(int conn, int type, const void *data, uint32_t len) {
  unsigned char h[5] = {(unsigned char)type, (unsigned char)len, (unsigned char)(len >> 8), (unsigned char)(len >> 16),
                        (unsigned char)(len >> 24)};
  struct iovec iov[2] = {{h, sizeof h}, {(void *)data, len}};
  ssize_t n;
  while ((n = writev(conn, iov, len ? 2 : 1)) < 0 && errno == EINTR) {}
  if (n < 0) _exit(1);
  size_t done = (size_t)n;
  if (done < sizeof h && write_all_ret(conn, h + done, sizeof h - done)) _exit(1);
  size_t sent = done > sizeof h ? done - sizeof h : 0;
  if (sent < len && write_all_ret(conn, (const char *)data + sent, len - sent)) _exit(1);
}

static int read_header(int conn, int *type, uint32_t *len) {
  unsigned char h[5];
  if (read_full(conn, h, sizeof h)) return -1;
  *type = h[0];
  *len = (uint32_t)h[1] | (uint32_t)h[2] << 8 | (uint32_t)h[3] << 16 | (uint32_t)h[4] << 24;
  return 0;
}

/* One run: parse the request, start the launcher, carry its streams. */
static _Noreturn void mux(int conn, int (*request)(int, char **)) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int type;
  uint32_t len;
  if (read_header(conn, &type, &len) || type != F_REQUEST || len == 0 || len > MAX_REQUEST) _exit(1);
  char *req = malloc(len + 1);
  if (!req || read_full(conn, req, len)) _exit(1);
  req[len] = 0;
  char *argv[MAX_ARGS];
  int argc = split_args(req, len, argv);

  /* in[]: worker -> launcher (stdin, files, run); out[]: launcher -> worker. */
  enum { NIN = 3 };
  int in[NIN][2], out[4][2];
  const int in_fd[NIN] = {0, SERVE_FD_FILES, SERVE_FD_RUN}, out_fd[4] = {1, 2, SERVE_FD_REPORT, SERVE_FD_COLLECT};
  const int out_type[4] = {F_STDOUT, F_STDERR, F_REPORT, F_COLLECT};
  for (int i = 0; i < NIN; i++)
    if (pipe2(in[i], O_CLOEXEC)) _exit(1);
  for (int i = 0; i < 4; i++)
    if (pipe2(out[i], O_CLOEXEC)) _exit(1);
  pid_t child = fork();
  if (child < 0) _exit(1);
  if (child == 0) {
    for (int i = 0; i < NIN; i++) dup2(in[i][0], in_fd[i]); /* dup2 clears O_CLOEXEC */
    for (int i = 0; i < 4; i++) dup2(out[i][1], out_fd[i]);
    for (int i = 0; i < NIN; i++) close(in[i][0]), close(in[i][1]);
    for (int i = 0; i < 4; i++) close(out[i][0]), close(out[i][1]);
    close(conn);
    if (argc < 0) {
      fail_set_report_fd(SERVE_FD_REPORT);
      fail("the launch has more than %d arguments", MAX_ARGS - 1);
    }
    exit(request(argc, argv));
  }
  for (int i = 0; i < NIN; i++) close(in[i][0]);
  for (int i = 0; i < 4; i++) close(out[i][1]);
  signal(SIGPIPE, SIG_IGN);

  /* Frames from the worker go to the pipe they name; a frame is read only
   * when the previous one has been written, so a program that does not read
   * its stdin cannot make us stop carrying its output. */
  char *pending = NULL, buf[65536];
  size_t pend_len = 0, pend_off = 0;
  int pend_to = -1, open_out = 4;
  bool conn_open = true;
  while (open_out > 0) {
    struct pollfd fds[6];
    int n = 0, idx[6];
    if (pend_to >= 0) {
      idx[n] = 100;
      fds[n++] = (struct pollfd){in[pend_to][1], POLLOUT, 0};
    } else if (conn_open) {
      idx[n] = 101;
      fds[n++] = (struct pollfd){conn, POLLIN, 0};
    }
    for (int i = 0; i < 4; i++)
      if (out[i][0] >= 0) {
        idx[n] = i;
        fds[n++] = (struct pollfd){out[i][0], POLLIN, 0};
      }
    if (poll(fds, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    for (int k = 0; k < n; k++) {
      if (!fds[k].revents) continue;
      if (idx[k] < 4) {
        int i = idx[k];
        ssize_t r = read(out[i][0], buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
          close(out[i][0]);
          out[i][0] = -1;
          open_out--;
          send_frame(conn, out_type[i], NULL, 0);
        } else {
          send_frame(conn, out_type[i], buf, (uint32_t)r);
        }
      } else if (idx[k] == 101) {
        if (read_header(conn, &type, &len) || (type != F_STDIN && type != F_FILES && type != F_RUN) ||
            len > sizeof buf) {
          /* The worker went away: the launcher dies with us (PDEATHSIG). */
          _exit(1);
        }
        int which = type == F_STDIN ? 0 : type == F_FILES ? 1 : 2;
        if (len == 0) {
          if (in[which][1] >= 0) close(in[which][1]);
          in[which][1] = -1;
          if (in[0][1] < 0 && in[1][1] < 0 && in[2][1] < 0) conn_open = false;
          continue;
        }
        pending = pending ? pending : malloc(sizeof buf);
        if (!pending || read_full(conn, pending, len)) _exit(1);
        pend_len = len;
        pend_off = 0;
        pend_to = in[which][1] >= 0 ? which : -1; /* data after its end: dropped */
      } else if (idx[k] == 100) {
        ssize_t w = write(in[pend_to][1], pending + pend_off, pend_len - pend_off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) { /* the reader is gone (a program that closed stdin) */
          close(in[pend_to][1]);
          in[pend_to][1] = -1;
          pend_to = -1;
          continue;
        }
        pend_off += (size_t)w;
        if (pend_off == pend_len) pend_to = -1;
      }
    }
  }
  int st = 0;
  while (waitpid(child, &st, 0) < 0 && errno == EINTR) {}
  uint32_t s = (uint32_t)st;
  send_frame(conn, F_EXIT, &s, sizeof s);
  /* Wait for the worker to close its side (it still may be sending stdin,
   * e.g. an interactor's output): exiting first would make its writes fail
   * and lose the frames it has not read yet. */
  shutdown(conn, SHUT_WR);
  for (;;) {
    struct pollfd p = {conn, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0 || read(conn, buf, sizeof buf) <= 0) break;
  }
  _exit(0);
}

_Noreturn void serve_main(const char *path, int (*request)(int, char **)) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGCHLD, SIG_IGN); /* muxes are reaped by the kernel */
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) fail("--serve: socket path too long");
  strcpy(addr.sun_path, path);
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  unlink(path);
  if (ls < 0 || bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 64))
    fail("--serve %s: %s", path, strerror(errno));
  if (write_all_ret(1, "ready\n", 6)) _exit(1);
  for (;;) {
    struct pollfd fds[2] = {{ls, POLLIN, 0}, {0, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents) { /* the worker closed our stdin, or died */
      char c;
      if (read(0, &c, 1) <= 0) {
        unlink(path);
        _exit(0);
      }
    }
    if (!fds[0].revents) continue;
    int conn = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) continue;
    pid_t m = fork();
    if (m == 0) {
      close(ls);
      signal(SIGCHLD, SIG_DFL);
      mux(conn, request);
    }
    close(conn);
  }
}
