/* Errors: the launcher never writes its own messages into the program's
 * stderr. The supervisor puts them in the JSON report; init sends them to the
 * supervisor over the status pipe. */
#include "launcher.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void (*cleanup_fn)(void);
static int report_fd = -1;

void fail_set_cleanup(void (*fn)(void)) { cleanup_fn = fn; }
void fail_set_report_fd(int fd) { report_fd = fd; }
bool fail_on_stderr(void) { return report_fd == -1; }

int write_all_ret(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int read_full(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

void write_all(int fd, const void *buf, size_t len) {
  if (write_all_ret(fd, buf, len) != 0) fail("write to fd %d: %s", fd, strerror(errno));
}

uint64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* JSON string escaping for the few strings we report. */
static void json_escape(char *dst, size_t cap, const char *src) {
  size_t j = 0;
  for (size_t i = 0; src[i] && j + 7 < cap; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c == '"' || c == '\\') {
      dst[j++] = '\\';
      dst[j++] = (char)c;
    } else if (c < 0x20) {
      j += (size_t)snprintf(dst + j, cap - j, "\\u%04x", c);
    } else {
      dst[j++] = (char)c;
    }
  }
  dst[j] = 0;
}

_Noreturn void fail(const char *fmt, ...) {
  char msg[512], esc[1200], json[1300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  void (*fn)(void) = cleanup_fn;
  cleanup_fn = NULL; /* a failure during cleanup must not loop */
  if (fn) fn();
  if (report_fd == -1) { /* no report channel (--hold-userns, bad args): stderr */
    fprintf(stderr, "ruse-launch: %s\n", msg);
  } else if (report_fd >= 0) {
    json_escape(esc, sizeof esc, msg);
    int n = snprintf(json, sizeof json, "{\"ok\":false,\"error\":\"%s\"}\n", esc);
    (void)write_all_ret(report_fd, json, (size_t)n);
  }
  _exit(2);
}

_Noreturn void child_fail(int status_fd, const char *fmt, ...) {
  struct init_msg m = {.kind = MSG_ERROR};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m.text, sizeof m.text, fmt, ap);
  va_end(ap);
  (void)write_all_ret(status_fd, &m, sizeof m);
  _exit(1);
}
