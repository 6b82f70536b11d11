/* JSON members from a control-channel reply (src/control/channel.h), for
 * the --json output of memdisk-tool save and status. */
#ifndef MEMDISK_TOOL_JSON_H
#define MEMDISK_TOOL_JSON_H

#include <stdbool.h>

/* How a value is written: a number or a boolean only when the reply's
 * text reads as one (else a string, as is any text a server sent). */
enum tool_json_kind { TOOL_JSON_STRING, TOOL_JSON_NUMBER, TOOL_JSON_BOOL };

/* When REPLY has KEY: print *SEP, a newline, INDENT and "JSON_KEY":
 * VALUE to stdout, and set *SEP to ",".  Nothing when KEY is absent. */
void tool_json_reply_member (const char *reply, const char *key, const char *json_key,
                             enum tool_json_kind kind, const char *indent, const char **sep);

#endif
