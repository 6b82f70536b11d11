/* Progress of a long command on stderr (convert --progress): one line,
 * updated in place a few times a second. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/monoclock.h"
#include "tool.h"

struct tool_progress {
  bool shown;                   /* asked for, and stderr is a terminal */
  char *name;                   /* safe for the terminal */
  uint64_t total;
  pthread_mutex_t lock;
  uint64_t done;
  double started;               /* seconds, monotonic */
  double last_shown;
  int last_width;               /* characters of the last line shown */
};

struct tool_progress *
tool_progress_new (bool enabled, const char *name, uint64_t total)
{
  struct tool_progress *p = calloc (1, sizeof *p);

  if (p == NULL)
    return NULL;
  p->shown = enabled && isatty (STDERR_FILENO);
  p->name = strdup (tool_safe_text (name));
  if (p->name == NULL) {
    free (p);
    return NULL;
  }
  p->total = total;
  p->started = md_monotonic_seconds ();
  p->last_shown = -1;
  pthread_mutex_init (&p->lock, NULL);
  return p;
}

/* "1:02:03" or "2:03". */
static void
format_duration (double seconds, char buf[32])
{
  unsigned long s = seconds < 0 ? 0 : (unsigned long) (seconds + 0.5);

  if (s >= 3600)
    snprintf (buf, 32, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
  else
    snprintf (buf, 32, "%lu:%02lu", s / 60, s % 60);
}

static void
progress_show (struct tool_progress *p, double now, bool final)
{
  char done[32], total[32], rate[32], eta[32];
  /* The last page may reach past the end of the disk. */
  const uint64_t bytes = p->done < p->total ? p->done : p->total;
  const double elapsed = now - p->started;
  const double per_second = elapsed > 0 ? (double) bytes / elapsed : 0;
  const int percent = p->total ? (int) ((double) bytes * 100.0 / (double) p->total) : 100;
  int width;

  if (final)
    format_duration (elapsed, eta);
  else if (per_second > 0 && bytes < p->total)
    format_duration ((double) (p->total - bytes) / per_second, eta);
  else
    snprintf (eta, sizeof eta, "?");
  width = fprintf (stderr, "\r%s: %3d%% %s of %s, %s/s, %s %s", p->name, percent,
                   tool_format_size (bytes, done), tool_format_size (p->total, total),
                   tool_format_size ((uint64_t) per_second, rate), eta,
                   final ? "in all" : "left");
  /* Blank out the rest of a longer previous line. */
  if (width < p->last_width)
    fprintf (stderr, "%*s", p->last_width - width, "");
  p->last_width = width;
  p->last_shown = now;
  fflush (stderr);
}

void
tool_progress_add (struct tool_progress *p, uint64_t done)
{
  if (p == NULL || !p->shown)
    return;
  pthread_mutex_lock (&p->lock);
  p->done += done;
  double now = md_monotonic_seconds ();
  if (p->last_shown < 0 || now - p->last_shown >= 0.2)
    progress_show (p, now, false);
  pthread_mutex_unlock (&p->lock);
}

void
tool_progress_finish (struct tool_progress *p, bool complete)
{
  if (p == NULL)
    return;
  if (p->shown) {
    if (complete)
      p->done = p->total;
    progress_show (p, md_monotonic_seconds (), true);
    fputc ('\n', stderr);
  }
  pthread_mutex_destroy (&p->lock);
  free (p->name);
  free (p);
}
