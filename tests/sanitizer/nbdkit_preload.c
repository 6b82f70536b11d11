/* Preloaded into nbdkit right after the sanitizer runtime, in sanitizer
 * builds (see tests/integration/lib.sh and tests/README.md).  Each of its
 * functions works around something that is not ours to test:
 *
 * - It removes LD_PRELOAD from nbdkit's environment once the runtime is
 *   loaded, so that the programs nbdkit starts (the clients of --run,
 *   through /bin/sh) are not instrumented: qemu-img hangs at exit under a
 *   preloaded ASan and dash crashes under a preloaded TSan.
 * - dlclose() keeps the library loaded.  nbdkit unloads the plugin before
 *   it exits, and LeakSanitizer checks at exit: without this, the plugin's
 *   frames in a leak report are "<unknown module>", and the plugin's leaks
 *   cannot be told from nbdkit's.
 * - freelocale() does nothing.  nbdkit 1.32 -v with a preloaded ASan
 *   (gcc's or clang's) that gets SIGTERM while a client is connected hangs
 *   at exit, in p11-kit's destructor: its freelocale() waits forever for
 *   glibc's locale lock, with no other thread left.  nbdkit's own memory
 *   plugin does the same, so it is not the plugin's doing.
 */
#include <locale.h>
#include <stdlib.h>

int dlclose (void *handle);

__attribute__ ((constructor)) static void
nbdkit_preload_unset (void)
{
  unsetenv ("LD_PRELOAD");
}

int
dlclose (void *handle)
{
  (void) handle;
  return 0;
}

void
freelocale (locale_t locale)
{
  (void) locale;
}
