/* The IPC namespace lie: System V shared memory, semaphores, message queues
 * and POSIX message queues are private to the run, so two runs can neither
 * talk nor leave each other anything. (POSIX shared memory lives in /dev/shm,
 * which mount.c makes a fresh tmpfs directory per run.) Nothing to set up:
 * the new namespace starts empty. */
#include "launcher.h"

#include <sched.h>

int ipc_clone_flag(void) { return CLONE_NEWIPC; }
