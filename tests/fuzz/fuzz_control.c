/* libFuzzer harness for the control channel's line parsers
 * (src/control/channel.h): the server's request line and the tool's
 * reply lines.  Every check is an oracle, not just "no crash":
 *
 * - request: control_request_parse of the first bytes of the input (as
 *   many as the server's buffer holds) says "whole" exactly when a
 *   newline ends a line that is "save", "status" or "reset" (one carriage return
 *   allowed before the newline), "more" exactly when no newline came in
 *   fewer than CONTROL_REQUEST_MAX - 1 bytes, "refused" otherwise; a
 *   request it names, formatted as the tool sends it, parses back to
 *   the same request;
 * - reply: the input read as reply text, lines split by an independent
 *   model until the empty line: control_reply_get of each key finds the
 *   value of the first line with that key, cut to the buffer given, and
 *   nothing for a key no line has; those lines formatted again with
 *   control_reply_add / _end make a reply that fits CONTROL_REPLY_MAX,
 *   holds no control character but the line ends, is complete
 *   (control_reply_complete) at its end and at no shorter length, and
 *   parses back to the same values with control characters made spaces,
 *   for every line that was not cut off (whole lines only).
 *
 * Built by .ci/fuzz (clang, -fsanitize=fuzzer,address,undefined); with
 * MEMDISK_FUZZ_REPLAY, a main that runs the harness on files instead
 * (ctest replays the seed corpus tests/fuzz/corpus-control/).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/channel.h"

#define CHECK(cond, ...)                                                \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf (stderr, "fuzz_control: " __VA_ARGS__);                   \
      fputc ('\n', stderr);                                             \
      abort ();                                                         \
    }                                                                   \
  } while (0)

static void
check_request (const char *data, size_t size)
{
  size_t len = size < CONTROL_REQUEST_MAX - 1 ? size : CONTROL_REQUEST_MAX - 1;
  enum control_request request = CONTROL_REQUEST_SAVE;
  int r = control_request_parse (data, len, &request);
  const char *nl = memchr (data, '\n', len);

  if (nl == NULL) {
    CHECK (r == (len < CONTROL_REQUEST_MAX - 1 ? 0 : -1),
           "%zu bytes without a newline: %d", len, r);
    return;
  }
  size_t line = (size_t) (nl - data);
  if (line > 0 && data[line - 1] == '\r')
    line--;
  bool known = (line == 4 && memcmp (data, "save", 4) == 0)
               || (line == 6 && memcmp (data, "status", 6) == 0)
               || (line == 5 && memcmp (data, "reset", 5) == 0);
  CHECK (r == (known ? 1 : -1), "a line of %zu bytes: %d", line, r);
  if (r != 1)
    return;
  const char *name = control_request_name (request);
  CHECK (strlen (name) == line && memcmp (name, data, line) == 0,
         "parsed as %s", name);
  char again[CONTROL_REQUEST_MAX];
  enum control_request back;
  int n = snprintf (again, sizeof again, "%s\n", name);
  CHECK (control_request_parse (again, (size_t) n, &back) == 1 && back == request,
         "%s does not parse back", name);
}

struct line {
  char key[CONTROL_REPLY_MAX];
  char value[CONTROL_REPLY_MAX];
};

/* The model: lines of TEXT until an empty line or the end; a line's key
 * is what precedes its first space. */
static size_t
model_lines (const char *text, struct line *lines, size_t max)
{
  size_t n = 0;

  for (const char *p = text; *p && *p != '\n' && n < max;) {
    const char *end = strchr (p, '\n');
    size_t len = end ? (size_t) (end - p) : strlen (p);
    const char *space = memchr (p, ' ', len);
    if (space != NULL && space > p) {
      size_t klen = (size_t) (space - p);
      memcpy (lines[n].key, p, klen);
      lines[n].key[klen] = '\0';
      memcpy (lines[n].value, space + 1, len - klen - 1);
      lines[n].value[len - klen - 1] = '\0';
      n++;
    }
    if (end == NULL)
      break;
    p = end + 1;
  }
  return n;
}

/* The value of the first of LINES with KEY, or NULL. */
static const char *
model_get (const struct line *lines, size_t n, const char *key)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (lines[i].key, key) == 0)
      return lines[i].value;
  return NULL;
}

static bool
is_control (unsigned char c)
{
  return c < 0x20 || c == 0x7f;
}

static void
check_get (const char *text, const char *key, const char *want)
{
  char value[CONTROL_REPLY_MAX];
  const char *got = control_reply_get (text, key, value, sizeof value);

  CHECK ((got == NULL) == (want == NULL), "key '%s' found %d, expected %d",
         key, got != NULL, want != NULL);
  if (want == NULL)
    return;
  CHECK (strcmp (got, want) == 0, "key '%s': '%s', expected '%s'", key, got, want);
  /* A smaller buffer gets the value cut, NUL-terminated. */
  char small[8];
  got = control_reply_get (text, key, small, sizeof small);
  CHECK (got != NULL && strncmp (got, want, sizeof small - 1) == 0
         && strlen (got) == (strlen (want) < sizeof small ? strlen (want) : sizeof small - 1),
         "key '%s' cut to 8 bytes: '%s'", key, got ? got : "(null)");
}

static void
check_reply (const char *data, size_t size)
{
  static struct line lines[64];
  static struct control_reply reply;
  char *text = malloc (size + 1);

  if (text == NULL)
    return;
  memcpy (text, data, size);
  text[size] = '\0';
  size_t n = model_lines (text, lines, 64);
  /* The model holds 64 lines: past them it cannot say what the parser
   * finds (a reply has a few dozen). */
  if (n == 64) {
    free (text);
    return;
  }
  for (size_t i = 0; i < n; i++)
    check_get (text, lines[i].key, model_get (lines, n, lines[i].key));
  check_get (text, "no-such-key", model_get (lines, n, "no-such-key"));

  /* Format again the lines whose key a server could send (printable, no
   * space), and parse back. */
  size_t kept = 0;
  control_reply_init (&reply);
  for (size_t i = 0; i < n; i++) {
    bool printable = true;
    for (const char *k = lines[i].key; *k; k++)
      printable &= !is_control ((unsigned char) *k);
    if (!printable)
      continue;
    size_t before = reply.len;
    control_reply_add (&reply, lines[i].key, "%s", lines[i].value);
    if (reply.len == before) {
      CHECK (reply.truncated, "a line was dropped without marking the reply cut");
      break;
    }
    for (char *v = lines[i].value; *v; v++)
      if (is_control ((unsigned char) *v))
        *v = ' ';
    lines[kept++] = lines[i];
  }
  control_reply_end (&reply);
  CHECK (reply.len < CONTROL_REPLY_MAX && reply.text[reply.len] == '\0'
         && strlen (reply.text) == reply.len, "reply of %zu bytes", reply.len);
  for (size_t i = 0; i < reply.len; i++)
    CHECK (reply.text[i] == '\n' || !is_control ((unsigned char) reply.text[i]),
           "control character at %zu", i);
  CHECK (control_reply_complete (reply.text, reply.len), "the reply is not complete");
  CHECK (reply.len == 1 || memmem (reply.text, reply.len - 1, "\n\n", 2) == NULL,
         "the reply is complete before its end");
  for (size_t i = 0; i < kept; i++)
    check_get (reply.text, lines[i].key, model_get (lines, kept, lines[i].key));
  free (text);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  check_request ((const char *) data, size);
  check_reply ((const char *) data, size);
  return 0;
}

#ifdef MEMDISK_FUZZ_REPLAY
int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen (argv[i], "rb");
    static uint8_t buf[1 << 16];
    size_t n;
    if (f == NULL) {
      perror (argv[i]);
      return 1;
    }
    n = fread (buf, 1, sizeof buf, f);
    fclose (f);
    LLVMFuzzerTestOneInput (buf, n);
    printf ("%s: ok\n", argv[i]);
  }
  return argc > 1 ? 0 : 1;
}
#endif
