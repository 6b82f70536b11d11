/* Text from outside (file names, a snapshot's creator string) printed
 * safely: for a terminal, with control characters replaced, and as a
 * JSON string, escaped. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

/* The length of the UTF-8 sequence at S (1 to 4), or 0 if it is not a
 * well-formed one (overlong forms, surrogates and values past U+10FFFF
 * included). */
static size_t
utf8_sequence_length (const unsigned char *s)
{
  size_t len;
  uint32_t c;

  if (s[0] < 0x80)
    return 1;
  else if ((s[0] & 0xe0) == 0xc0)
    len = 2, c = s[0] & 0x1f;
  else if ((s[0] & 0xf0) == 0xe0)
    len = 3, c = s[0] & 0x0f;
  else if ((s[0] & 0xf8) == 0xf0)
    len = 4, c = s[0] & 0x07;
  else
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  static const uint32_t min_for_length[] = { 0, 0, 0x80, 0x800, 0x10000 };
  if (c < min_for_length[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
    return 0;
  return len;
}

void
tool_print_json_string (FILE *out, const char *str)
{
  const unsigned char *s = (const unsigned char *) str;

  fputc ('"', out);
  while (*s) {
    size_t len = utf8_sequence_length (s);
    if (len == 0) {
      fputs ("\\ufffd", out);
      s++;
    }
    else if (*s == '"' || *s == '\\')
      fprintf (out, "\\%c", *s++);
    else if (*s < 0x20 || *s == 0x7f)
      fprintf (out, "\\u%04x", *s++);
    else if (len == 2 && s[0] == 0xc2 && s[1] < 0xa0) {
      /* C1 controls: valid in JSON, but a terminal showing the JSON
       * would obey them. */
      fprintf (out, "\\u%04x", s[1]);
      s += 2;
    }
    else {
      fwrite (s, 1, len, out);
      s += len;
    }
  }
  fputc ('"', out);
}

/* The length of the character at S, and whether it is safe on a
 * terminal.  C1 controls (U+0080..U+009F, C2 80..C2 9F in UTF-8) are
 * terminal controls too, e.g. U+009B is CSI; a byte that is not UTF-8 may
 * be one on an 8-bit terminal. */
static size_t
text_char (const unsigned char *s, bool *safe)
{
  size_t len = utf8_sequence_length (s);

  *safe = !(len == 0 || *s < 0x20 || *s == 0x7f || (*s == 0xc2 && s[1] < 0xa0));
  return len ? len : 1;
}

void
tool_print_text (FILE *out, const char *str)
{
  const unsigned char *s = (const unsigned char *) str;

  while (*s) {
    bool safe;
    size_t len = text_char (s, &safe);
    if (safe)
      fwrite (s, 1, len, out);
    else
      fputc ('?', out);
    s += len;
  }
}

const char *
tool_safe_text (const char *str)
{
  static _Thread_local char buffers[4][TOOL_SAFE_TEXT_MAX];
  static _Thread_local unsigned next;
  char *buf = buffers[next++ % 4];
  const unsigned char *s = (const unsigned char *) str;
  size_t used = 0;

  while (*s) {
    bool safe;
    size_t len = text_char (s, &safe);
    size_t add = safe ? len : 1;
    if (used + add + 4 > TOOL_SAFE_TEXT_MAX) {
      memcpy (buf + used, "...", 3);
      used += 3;
      break;
    }
    if (safe)
      memcpy (buf + used, s, len);
    else
      buf[used] = '?';
    used += add;
    s += len;
  }
  buf[used] = '\0';
  return buf;
}
