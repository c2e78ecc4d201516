/* The UTS namespace lie: the run has its own host and domain name, fixed, so
 * that nothing of the real machine's name shows. */
#include "launcher.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

int uts_clone_flag(void) { return CLONE_NEWUTS; }

void uts_setup(const struct config *cfg, int status_fd) {
  if (sethostname(cfg->hostname, strlen(cfg->hostname)) != 0 ||
      setdomainname(cfg->hostname, strlen(cfg->hostname)) != 0)
    child_fail(status_fd, "set host name: %s", strerror(errno));
}
