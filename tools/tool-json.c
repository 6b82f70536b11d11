/* JSON members from a control-channel reply (tool-json.h). */
#include <stdio.h>
#include <string.h>

#include "control/channel.h"
#include "tool-json.h"
#include "tool.h"

static bool
reads_as (enum tool_json_kind kind, const char *v)
{
  switch (kind) {
  case TOOL_JSON_NUMBER:
    return v[0] != '\0' && strspn (v, "0123456789.") == strlen (v);
  case TOOL_JSON_BOOL:
    return strcmp (v, "true") == 0 || strcmp (v, "false") == 0;
  case TOOL_JSON_STRING:
    break;
  }
  return false;
}

void
tool_json_reply_member (const char *reply, const char *key, const char *json_key,
                        enum tool_json_kind kind, const char *indent, const char **sep)
{
  char v[CONTROL_REPLY_MAX];

  if (control_reply_get (reply, key, v, sizeof v) == NULL)
    return;
  printf ("%s\n%s\"%s\": ", *sep, indent, json_key);
  *sep = ",";
  if (reads_as (kind, v))
    fputs (v, stdout);
  else
    tool_print_json_string (stdout, v);
}
