/* Files in and out of the run, as one stream format on a descriptor, so the
 * host never touches a path inside the sandbox by name.
 *   in  (worker -> init, before the program starts), records of:
 *         u32 path_len, u32 mode, u64 size, path, content; path_len 0 ends.
 *   out (init -> worker, after the program and all its processes are dead):
 *         u32 path_len, i32 error (0 or an errno), u64 size, path, content.
 * Copy-out opens each path with openat2 beneath /box, following no symlink
 * (RESOLVE_NO_SYMLINKS also refuses a symlinked parent directory), and takes
 * regular files only (a FIFO or device is refused; O_NONBLOCK keeps a FIFO
 * from blocking the open), within a total size cap. "." or "dir/" collects
 * every regular file beneath, walking with the same rules. */
#include "launcher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_PATH_LEN 1024

/* Relative, no "..", ".", empty components or trailing slash. */
static bool path_ok(const char *p) {
  if (!*p || *p == '/') return false;
  for (const char *c = p; *c;) {
    const char *e = strchr(c, '/');
    size_t n = e ? (size_t)(e - c) : strlen(c);
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) return false;
    if (!e) break;
    c = e + 1;
    if (!*c) return false;
  }
  return true;
}

void files_copy_in(int in, int box, int status_fd) {
  char path[MAX_PATH_LEN + 1], buf[65536];
  for (;;) {
    struct {
      uint32_t path_len, mode;
      uint64_t size;
    } h;
    if (read_full(in, &h, sizeof h)) child_fail(status_fd, "files stream ended early");
    if (h.path_len == 0) return;
    if (h.path_len > MAX_PATH_LEN) child_fail(status_fd, "file path longer than %d bytes", MAX_PATH_LEN);
    if (read_full(in, path, h.path_len)) child_fail(status_fd, "files stream ended early");
    path[h.path_len] = 0;
    if (strlen(path) != h.path_len || !path_ok(path)) child_fail(status_fd, "bad file path '%s'", path);
    /* Parents: each made (or found) as a real directory, never via a link.
     * Owned by runner: init's file system ids are runner's (pid.c). */
    int dir = dup(box);
    for (char *c = path, *slash; (slash = strchr(c, '/')); c = slash + 1) {
      *slash = 0;
      if (mkdirat(dir, c, 0755) != 0 && errno != EEXIST) child_fail(status_fd, "mkdir %s: %s", c, strerror(errno));
      int next = openat(dir, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0) child_fail(status_fd, "'%s' is not a directory", c);
      close(dir);
      dir = next;
      *slash = '/';
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    mode_t mode = (h.mode & 0100) ? 0755 : 0644; /* no setuid, no odd bits */
    int fd = openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) child_fail(status_fd, "create %s: %s", path, strerror(errno));
    close(dir);
    for (uint64_t left = h.size; left > 0;) {
      size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
      if (read_full(in, buf, n)) child_fail(status_fd, "files stream ended early");
      if (write_all_ret(fd, buf, n))
        child_fail(status_fd, "write %s: %s (files larger than the scratch space?)", path, strerror(errno));
      left -= n;
    }
    if (fchmod(fd, mode) != 0) child_fail(status_fd, "chmod %s: %s", path, strerror(errno)); /* umask */
    close(fd);
  }
}

static void emit(int out, const char *path, int32_t err, uint64_t size) {
  struct {
    uint32_t path_len;
    int32_t err;
    uint64_t size;
  } h = {(uint32_t)strlen(path), err, size};
  if (write_all_ret(out, &h, sizeof h) || write_all_ret(out, path, h.path_len)) _exit(1);
}

static void emit_error(int out, const char *path, int err) { emit(out, path, err, 0); }

/* One regular file, opened beneath dirfd without following any link. */
static void collect_file(const struct config *cfg, int dirfd, const char *name, const char *path, uint64_t *budget) {
  char buf[65536];
  struct open_how how = {.flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
  int fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof how);
  struct stat st;
  int err = 0;
  if (fd < 0) err = errno;
  else if (fstat(fd, &st) != 0) err = errno;
  else if (!S_ISREG(st.st_mode)) err = EINVAL;
  else if ((uint64_t)st.st_size > *budget) err = EFBIG;
  if (err) {
    emit_error(cfg->collect_fd, path, err);
    if (fd >= 0) close(fd);
    return;
  }
  /* The size is fixed now: nothing in the run is alive to change it. */
  uint64_t size = (uint64_t)st.st_size;
  *budget -= size;
  emit(cfg->collect_fd, path, 0, size);
  for (uint64_t left = size; left > 0;) {
    ssize_t n = read(fd, buf, left < sizeof buf ? (size_t)left : sizeof buf);
    if (n <= 0) {
      memset(buf, 0, sizeof buf);
      n = (ssize_t)(left < sizeof buf ? left : sizeof buf);
    }
    if (write_all_ret(cfg->collect_fd, buf, (size_t)n)) _exit(1);
    left -= (uint64_t)n;
  }
  close(fd);
}

#define MAX_TREE_DEPTH 16
#define MAX_TREE_ENTRIES 4096

/* Every regular file under a directory; links and special files are
 * reported as refused, never followed. */
static void collect_tree(const struct config *cfg, int fd, const char *prefix, int depth, uint64_t *budget,
                         int *entries) {
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return;
  }
  struct dirent *e;
  char path[MAX_PATH_LEN + 1];
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    int n = snprintf(path, sizeof path, "%s%s", prefix, e->d_name);
    if (n < 0 || (size_t)n >= sizeof path || ++*entries > MAX_TREE_ENTRIES) {
      emit_error(cfg->collect_fd, prefix[0] ? prefix : ".", E2BIG);
      break;
    }
    if (e->d_type == DT_DIR && depth < MAX_TREE_DEPTH) {
      struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
                             .resolve =
                                 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
      int sub = (int)syscall(SYS_openat2, dirfd(d), e->d_name, &how, sizeof how);
      if (sub < 0) {
        emit_error(cfg->collect_fd, path, errno);
        continue;
      }
      strncat(path, "/", sizeof path - strlen(path) - 1);
      collect_tree(cfg, sub, path, depth + 1, budget, entries);
    } else if (e->d_type == DT_REG) {
      collect_file(cfg, dirfd(d), e->d_name, path, budget);
    } else {
      emit_error(cfg->collect_fd, path, e->d_type == DT_LNK ? ELOOP : EINVAL);
    }
  }
  closedir(d);
}

/* A path names one file; "." or a path ending in "/" names every regular
 * file beneath that directory. */
void files_collect(const struct config *cfg, int box) {
  uint64_t budget = cfg->collect_max_bytes;
  int entries = 0;
  char dir[MAX_PATH_LEN + 2];
  for (int i = 0; i < cfg->n_collect; i++) {
    const char *path = cfg->collect[i];
    size_t len = strlen(path);
    bool tree = strcmp(path, ".") == 0 || (len > 1 && path[len - 1] == '/');
    if (len > MAX_PATH_LEN) {
      emit_error(cfg->collect_fd, path, EINVAL);
      continue;
    }
    if (!tree) {
      if (path_ok(path)) collect_file(cfg, box, path, path, &budget);
      else emit_error(cfg->collect_fd, path, EINVAL);
      continue;
    }
    snprintf(dir, sizeof dir, "%s", path);
    if (strcmp(dir, ".") != 0) dir[len - 1] = 0;
    if (strcmp(dir, ".") != 0 && !path_ok(dir)) {
      emit_error(cfg->collect_fd, path, EINVAL);
      continue;
    }
    struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
    int fd = (int)syscall(SYS_openat2, box, dir, &how, sizeof how);
    if (fd < 0) {
      emit_error(cfg->collect_fd, path, errno);
      continue;
    }
    collect_tree(cfg, fd, strcmp(dir, ".") == 0 ? "" : path, 0, &budget, &entries);
  }
  struct {
    uint32_t path_len;
    int32_t err;
    uint64_t size;
  } end = {0, 0, 0};
  (void)write_all_ret(cfg->collect_fd, &end, sizeof end);
  close(cfg->collect_fd);
}
