/* seccomp: the syscall filter is policy, so it is written and compiled in
 * TypeScript (worker/sandbox/seccomp.ts, with libseccomp) and arrives here as
 * a classic BPF program on a file descriptor. We only check its shape and
 * load it, last, just before exec, after no_new_privs. */
#include "launcher.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Read with pread from offset 0: the worker hands every run the same open
 * file, so no run may move a shared offset. */
unsigned char *seccomp_read_program(int fd, size_t *len) {
  const size_t max = BPF_MAXINSNS * sizeof(struct sock_filter);
  unsigned char *buf = malloc(max + 1);
  size_t n = 0;
  if (!buf) fail("out of memory");
  for (;;) {
    ssize_t r = pread(fd, buf + n, max + 1 - n, (off_t)n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail("read seccomp program: %s", strerror(errno));
    if (r == 0) break;
    n += (size_t)r;
    if (n > max) fail("seccomp program is larger than %zu bytes", max);
  }
  close(fd);
  if (n == 0 || n % sizeof(struct sock_filter) != 0)
    fail("seccomp program is %zu bytes: not a whole number of BPF instructions", n);
  *len = n;
  return buf;
}

void seccomp_load(const unsigned char *bpf, size_t len, int status_fd) {
  struct sock_fprog prog = {.len = (unsigned short)(len / sizeof(struct sock_filter)),
                            .filter = (struct sock_filter *)bpf};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
    child_fail(status_fd, "load seccomp program: %s", strerror(errno));
}
