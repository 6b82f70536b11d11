#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "snapstale.h"

/* The name pattern of snaptmpfile.c: "." NAME ".tmp." and six characters
 * from mkostemp. */
static bool
is_temporary_of (const char *entry, const char *name)
{
  size_t name_len = strlen (name);

  return entry[0] == '.' &&
         strncmp (entry + 1, name, name_len) == 0 &&
         strncmp (entry + 1 + name_len, ".tmp.", 5) == 0 &&
         strlen (entry + 1 + name_len + 5) == 6;
}

int
snap_stale_remove (const char *target, unsigned *removed)
{
  char *dir_copy = strdup (target), *name_copy = strdup (target);
  const char *folder, *name;
  DIR *dir = NULL;
  struct dirent *entry;
  int r = -1;

  *removed = 0;
  if (dir_copy == NULL || name_copy == NULL) {
    md_error_set ("%s: out of memory", target);
    goto out;
  }
  folder = dirname (dir_copy);
  name = basename (name_copy);
  dir = opendir (folder);
  if (dir == NULL) {
    md_error_set ("cannot read the folder %s: %s", folder, strerror (errno));
    goto out;
  }
  r = 0;
  while ((entry = readdir (dir)) != NULL) {
    if (!is_temporary_of (entry->d_name, name))
      continue;
    if (unlinkat (dirfd (dir), entry->d_name, 0) == -1) {
      md_error_set ("cannot remove the stale temporary %s/%s: %s",
                    folder, entry->d_name, strerror (errno));
      r = -1;
      continue;
    }
    ++*removed;
  }

 out:
  if (dir)
    closedir (dir);
  free (dir_copy);
  free (name_copy);
  return r;
}
