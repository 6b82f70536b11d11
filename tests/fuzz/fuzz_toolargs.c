/* libFuzzer harness for what memdisk-tool parses and prints from outside
 * input: sizes, levels and thread counts on its command line
 * (tool_parse_size, _level, _threads), and strings from a snapshot's
 * metadata printed as JSON or text (tool_print_json_string,
 * tool_print_text).  Every check is an oracle, not just "no crash":
 *
 * - a size is accepted exactly when nbdkit_parse_size would accept it
 *   (digits, then nothing or one of b, s, K, M, G, T, P, E; not negative;
 *   at most 2^63-1), and the result is that value; tool_format_size of an
 *   exact multiple of a unit ("16 KiB") parses back as "16K";
 * - a level or thread count is accepted exactly when strtol reads all of
 *   it within the documented range, and the result is what it read;
 * - the JSON is one valid JSON string, which decodes to the input when
 *   the input is valid UTF-8 (and to U+FFFD for each bad byte otherwise);
 *   the text for a terminal is the input with every control character
 *   (C0, DEL and C1: U+009B is CSI) and every byte that is not UTF-8
 *   replaced by '?'.
 *
 * Input: up to three NUL-separated strings (size, level/threads, text).
 * The plugin's own parameters need no harness: nbdkit's parsers
 * (nbdkit_parse_size, _unsigned, _bool) read them.  See tests/README.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sanitizer/common_interface_defs.h>
#include <zstd.h>

#include "common/threads.h"
#include "tool.h"

/* A failed check: the message goes where sanitizer reports go (libFuzzer
 * runs with stderr closed, -close_fd_mask=2, to silence tool_error). */
#define CHECK(cond, ...)                                                \
  do {                                                                  \
    if (!(cond)) {                                                      \
      char msg_[512];                                                   \
      snprintf (msg_, sizeof msg_, "fuzz_toolargs: " __VA_ARGS__);      \
      __sanitizer_report_error_summary (msg_);                          \
      abort ();                                                         \
    }                                                                   \
  } while (0)

/* The size grammar, independently: nbdkit's (nbdkit_parse_size).  Blanks
 * (as isspace in the C locale), an optional sign, at least one digit,
 * then nothing or one letter of "bskmgtpe" in either case; negative
 * values are refused (but "-0" is 0), and so is anything past 2^63-1. */
static bool
reference_size (const char *s, uint64_t *value)
{
  static const char units[] = "kmgtpe";
  uint64_t v = 0, scale = 1;
  bool negative = false, overflow = false;
  const char *p = s;

  while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
    p++;
  if (*p == '+' || *p == '-')
    negative = *p++ == '-';
  if (*p < '0' || *p > '9')
    return false;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > ((uint64_t) INT64_MAX - (uint64_t) (*p - '0')) / 10)
      overflow = true;
    else
      v = v * 10 + (uint64_t) (*p - '0');
  }
  if (overflow || (negative && v != 0))
    return false;
  if (*p != '\0') {
    const char c = (char) (*p | 0x20);
    const char *u = strchr (units, c);
    if (c == 'b')
      scale = 1;
    else if (c == 's')
      scale = 512;
    else if (u != NULL && *u != '\0')
      scale = (uint64_t) 1 << (10 * (u - units + 1));
    else
      return false;
    if (p[1] != '\0')
      return false;
  }
  if (v > (uint64_t) INT64_MAX / scale)
    return false;
  *value = v * scale;
  return true;
}

static void
check_size (const char *s)
{
  uint64_t got = 0, want = 0;
  const bool ok = tool_parse_size (s, "size", &got) == 0;
  const bool want_ok = reference_size (s, &want);

  CHECK (ok == want_ok, "size '%s': parser says %s, grammar says %s", s,
         ok ? "valid" : "invalid", want_ok ? "valid" : "invalid");
  if (!ok)
    return;
  CHECK (got == want, "size '%s': parsed %" PRIu64 ", expected %" PRIu64, s, got, want);

  /* The size in words: bounded, and whole numbers of a unit parse back. */
  char words[32], exact[64], compact[40];
  const char *w = tool_format_size (got, words);
  CHECK (w == words && strlen (words) < sizeof words, "tool_format_size overflow");
  tool_format_size_exact (got, exact);
  CHECK (strlen (exact) < sizeof exact, "tool_format_size_exact overflow");
  if (got >= 1024 && strchr (words, '.') == NULL) {
    size_t j = 0;                       /* "16 KiB" -> "16K" */
    for (size_t i = 0; words[i] && words[i] != 'i' && j < sizeof compact - 1; i++)
      if (words[i] != ' ')
        compact[j++] = words[i];
    compact[j] = '\0';
    uint64_t back;
    CHECK (tool_parse_size (compact, "size", &back) == 0 && back == got,
           "%" PRIu64 " formats as '%s', which does not parse back", got, words);
  }
}

static bool
reference_long (const char *s, long min, long max, long *value)
{
  char *end;

  errno = 0;
  *value = strtol (s, &end, 10);
  return errno == 0 && end != s && *end == '\0' && *value >= min && *value <= max;
}

static void
check_numbers (const char *s)
{
  int level;
  unsigned threads;
  long want;

  bool ok = tool_parse_level (s, &level) == 0;
  bool want_ok = reference_long (s, ZSTD_minCLevel (), ZSTD_maxCLevel (), &want);
  CHECK (ok == want_ok, "level '%s': accepted %d, expected %d", s, ok, want_ok);
  CHECK (!ok || level == want, "level '%s': %d, expected %ld", s, level, want);

  ok = tool_parse_threads (s, &threads) == 0;
  want_ok = reference_long (s, 0, SNAP_MAX_THREADS, &want);
  CHECK (ok == want_ok, "threads '%s': accepted %d, expected %d", s, ok, want_ok);
  CHECK (!ok || threads == (unsigned long) want, "threads '%s': %u, expected %ld", s, threads, want);
}

/* Decode one UTF-8 sequence the strict way (RFC 3629); its length, or 0. */
static size_t
utf8_decode (const unsigned char *s, uint32_t *cp)
{
  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }
  size_t len = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
               : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
  if (len == 0)
    return 0;
  uint32_t c = s[0] & (0xff >> (len + 1));
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff))
      || (c >= 0xd800 && c <= 0xdfff))
    return 0;
  *cp = c;
  return len;
}

static void
put_utf8 (uint32_t c, char *out, size_t *n)
{
  if (c < 0x80)
    out[(*n)++] = (char) c;
  else if (c < 0x800) {
    out[(*n)++] = (char) (0xc0 | c >> 6);
    out[(*n)++] = (char) (0x80 | (c & 0x3f));
  }
  else if (c < 0x10000) {
    out[(*n)++] = (char) (0xe0 | c >> 12);
    out[(*n)++] = (char) (0x80 | ((c >> 6) & 0x3f));
    out[(*n)++] = (char) (0x80 | (c & 0x3f));
  }
  else {
    out[(*n)++] = (char) (0xf0 | c >> 18);
    out[(*n)++] = (char) (0x80 | ((c >> 12) & 0x3f));
    out[(*n)++] = (char) (0x80 | ((c >> 6) & 0x3f));
    out[(*n)++] = (char) (0x80 | (c & 0x3f));
  }
}

/* What a JSON reader should get back from tool_print_json_string (S). */
static char *
expected_json_value (const char *s, size_t *n)
{
  const unsigned char *p = (const unsigned char *) s;
  char *out = malloc (strlen (s) * 3 + 1);
  uint32_t c;

  *n = 0;
  while (*p) {
    size_t len = utf8_decode (p, &c);
    if (len == 0) {
      put_utf8 (0xfffd, out, n);
      p++;
    }
    else {
      put_utf8 (c, out, n);
      p += len;
    }
  }
  return out;
}

/* Parse the JSON string literal at TEXT (all of it), strictly. */
static char *
parse_json_string (const char *text, size_t size, size_t *n)
{
  const unsigned char *p = (const unsigned char *) text, *end = p + size;
  char *out = malloc (size * 2 + 1);

  *n = 0;
  CHECK (size >= 2 && p[0] == '"' && end[-1] == '"', "JSON output is not one string: %.*s",
         (int) size, text);
  for (p++; p < end - 1;) {
    uint32_t c;
    CHECK (*p >= 0x20, "JSON output has a raw control character 0x%02x", *p);
    if (*p == '"')
      CHECK (false, "JSON output has an unescaped quote");
    if (*p != '\\') {
      size_t len = utf8_decode (p, &c);
      CHECK (len > 0 && p + len <= end - 1, "JSON output is not valid UTF-8");
      /* Valid JSON, but a terminal showing it would obey a C1 control. */
      CHECK (c < 0x80 || c >= 0xa0, "JSON output has a raw C1 control U+%04X", c);
      memcpy (out + *n, p, len);
      *n += len;
      p += len;
      continue;
    }
    p++;
    CHECK (p < end - 1, "JSON output ends in a backslash");
    switch (*p++) {
    case '"': out[(*n)++] = '"'; break;
    case '\\': out[(*n)++] = '\\'; break;
    case '/': out[(*n)++] = '/'; break;
    case 'b': out[(*n)++] = '\b'; break;
    case 'f': out[(*n)++] = '\f'; break;
    case 'n': out[(*n)++] = '\n'; break;
    case 'r': out[(*n)++] = '\r'; break;
    case 't': out[(*n)++] = '\t'; break;
    case 'u': {
      char hex[5] = { 0 };
      char *hex_end;
      CHECK (p + 4 <= end - 1, "JSON \\u escape cut short");
      memcpy (hex, p, 4);
      c = (uint32_t) strtoul (hex, &hex_end, 16);
      CHECK (hex_end == hex + 4, "JSON \\u escape with bad digits '%s'", hex);
      CHECK (c < 0xd800 || c > 0xdfff, "JSON \\u escape of a lone surrogate");
      put_utf8 (c, out, n);
      p += 4;
      break;
    }
    default:
      CHECK (false, "JSON output has a bad escape");
    }
  }
  return out;
}

static void
check_strings (const char *s)
{
  char *buf = NULL;
  size_t size = 0, got_n, want_n;
  FILE *f = open_memstream (&buf, &size);

  tool_print_json_string (f, s);
  fclose (f);
  char *got = parse_json_string (buf, size, &got_n);
  char *want = expected_json_value (s, &want_n);
  CHECK (got_n == want_n && memcmp (got, want, got_n) == 0,
         "JSON of a %zu-byte string does not decode to it", strlen (s));
  free (got);
  free (want);
  free (buf);

  /* Text: valid UTF-8 without C0, DEL or C1 controls; everything else is
   * kept as it was. */
  f = open_memstream (&buf, &size);
  tool_print_text (f, s);
  fclose (f);
  char *text = malloc (strlen (s) + 1);
  size_t text_n = 0;
  for (const unsigned char *p = (const unsigned char *) s; *p;) {
    uint32_t c;
    size_t len = utf8_decode (p, &c);
    if (len == 0 || c < 0x20 || (c >= 0x7f && c < 0xa0)) {
      text[text_n++] = '?';
      p += len ? len : 1;
    }
    else {
      memcpy (text + text_n, p, len);
      text_n += len;
      p += len;
    }
  }
  CHECK (size == text_n && memcmp (buf, text, size) == 0,
         "tool_print_text of a %zu-byte string is not that string with its "
         "controls and bad bytes as '?'", strlen (s));
  /* tool_safe_text is the same, as a string, for what fits. */
  if (size + 4 <= TOOL_SAFE_TEXT_MAX)
    CHECK (strlen (tool_safe_text (s)) == size && memcmp (tool_safe_text (s), buf, size) == 0,
           "tool_safe_text differs from tool_print_text");
  free (text);
  free (buf);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *copy = malloc (size + 1);
  const char *parts[3] = { "", "", "" };
  size_t nparts = 0;

  memcpy (copy, data, size);
  copy[size] = '\0';
  for (char *p = copy; nparts < 3 && p <= copy + size; p += strlen (p) + 1)
    parts[nparts++] = p;
  check_size (parts[0]);
  check_numbers (parts[1]);
  check_strings (parts[2]);
  free (copy);
  return 0;
}
