/* Print the plugin's copy of nbdkit's options (plugin/nbdkit-options.c),
 * one a line, "-D required" or "--foreground none", for nbdkit-options.sh
 * to compare with what the installed nbdkit accepts. */
#include <stdio.h>
#include <string.h>

#include "nbdkit-options.h"

static const char *
takes (int has_arg)
{
  return has_arg == required_argument ? "required"
         : has_arg == optional_argument ? "optional" : "none";
}

int
main (void)
{
  /* Skip getopt's leading ':' (it changes how errors are returned). */
  const char *s = nbdkit_short_options + (nbdkit_short_options[0] == ':');

  for (; *s; s++) {
    int has_arg = s[1] != ':' ? no_argument
                  : s[2] == ':' ? optional_argument : required_argument;
    printf ("-%c %s\n", *s, takes (has_arg));
    while (s[1] == ':')
      s++;
  }
  for (const struct option *o = nbdkit_long_options; o->name != NULL; o++)
    printf ("--%s %s\n", o->name, takes (o->has_arg));
  return 0;
}
