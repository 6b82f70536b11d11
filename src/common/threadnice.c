/* Nice 19 for the calling thread (threadnice.h). */
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/threadnice.h"

int
md_thread_nice_19 (void)
{
  return setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), 19);
}
