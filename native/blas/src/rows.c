/*
 * One helper thread for large forward passes (evaluation actions score 1,024 samples or more per
 * state with the critic): while it runs, the training threads of its process are idle, so its
 * products can use the second core. Training never asks for it (set_split_rows is per thread).
 *
 * Waking a sleeping thread takes tens of microseconds, about what a 256 x 256 layer costs, and an
 * action hands over some 20 kernels in a row; so the helper and the caller spin briefly before
 * they sleep.
 */
#include "rows.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define SPIN_NS 200000

static _Thread_local bool split_enabled = false;

static pthread_mutex_t helper_busy = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t work_done = PTHREAD_COND_INITIALIZER;
static pthread_once_t started = PTHREAD_ONCE_INIT;
static bool helper_running = false;

/* The helper's rows; written by the caller before `pending` is set, read by the helper after it sees it. */
static struct {
  row_range_fn fn;
  void *context;
  int64_t first, end;
} job;
static atomic_bool pending = false;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Waits up to SPIN_NS for `pending` to equal `until`, pausing between reads; returns whether it did. */
static bool spin_until(bool until) {
  const int64_t deadline = now_ns() + SPIN_NS;
  for (;;) {
    for (int i = 0; i < 64; i++) {
      if (atomic_load_explicit(&pending, memory_order_acquire) == until) return true;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    if (now_ns() > deadline) return false;
  }
}

/* Sleeps until `pending` equals `until`; whoever changes it signals `cond` under the lock. */
static void sleep_until(bool until, pthread_cond_t *cond) {
  pthread_mutex_lock(&lock);
  while (atomic_load_explicit(&pending, memory_order_acquire) != until) pthread_cond_wait(cond, &lock);
  pthread_mutex_unlock(&lock);
}

static void set_pending(bool value, pthread_cond_t *cond) {
  atomic_store_explicit(&pending, value, memory_order_release);
  pthread_mutex_lock(&lock);
  pthread_cond_signal(cond);
  pthread_mutex_unlock(&lock);
}

static void *helper_main(void *unused) {
  (void)unused;
  for (;;) {
    if (!spin_until(true)) sleep_until(true, &work_ready);
    job.fn(job.context, job.first, job.end);
    set_pending(false, &work_done);
  }
  return NULL;
}

static void start_helper(void) {
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  helper_running = pthread_create(&thread, &attr, helper_main, NULL) == 0;
  pthread_attr_destroy(&attr);
}

bool set_split_rows(bool enabled) {
  const bool previous = split_enabled;
  split_enabled = enabled;
  return previous;
}

void for_row_ranges(row_range_fn fn, void *context, int64_t rows, int64_t align, bool large) {
  /* The multiple of `align` nearest half the rows (rounding down on a tie). */
  const int64_t half = (rows / 2 + (align - 1) / 2) / align * align;
  if (!split_enabled || !large || half < 1 || half >= rows) return fn(context, 0, rows);
  pthread_once(&started, start_helper);
  /* Another thread of the process holds the helper: do it all here. */
  if (!helper_running || pthread_mutex_trylock(&helper_busy) != 0) return fn(context, 0, rows);
  job.fn = fn;
  job.context = context;
  job.first = 0;
  job.end = half;
  set_pending(true, &work_ready);
  fn(context, half, rows);
  if (!spin_until(false)) sleep_until(false, &work_done);
  pthread_mutex_unlock(&helper_busy);
}
