/*
 * Single-thread memcpy bandwidth: the ceiling for any bulk copy in or out of shared memory.
 *
 * usage: memcpy <dramMiB> <budgetMs> <size>...
 * prints per size: "<size> <hot GB/s> <dram GB/s>" (GB = 1e9 bytes; bytes counted once per copy).
 *   hot:  the same source and destination buffers every time (cache-resident once warm, when they fit).
 *   dram: source and destination walk through two <dramMiB> MiB regions (far beyond the last-level cache when
 *         large enough), so every copy reads lines that were evicted long ago.
 * Each figure is the best of 5 timed batches, each about budgetMs / (2 * 5 * sizes) long: a ceiling, so a batch
 * slowed by another process on the same core does not lower it.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Copies `size` bytes `count` times; src/dst advance by `stride` modulo `span` (stride 0 = always the same). */
static double batch(uint8_t *dst, uint8_t *src, size_t size, size_t span, size_t stride, long count) {
  size_t off = 0;
  double t0 = now_s();
  for (long i = 0; i < count; i++) {
    memcpy(dst + off, src + off, size);
    __asm__ volatile("" ::: "memory"); /* keep every copy */
    if (stride) {
      off += stride;
      if (off + size > span) off = 0;
    }
  }
  double t = now_s() - t0;
  return (double)size * (double)count / t / 1e9;
}

static double measure(uint8_t *dst, uint8_t *src, size_t size, size_t span, size_t stride, double budget_s) {
  /* Calibrate a count so that one batch lasts about budget_s. */
  long count = 1;
  for (;;) {
    double t0 = now_s();
    batch(dst, src, size, span, stride, count);
    double t = now_s() - t0;
    if (t > budget_s / 4 || count > (1L << 40)) {
      count = (long)((double)count * budget_s / (t > 1e-9 ? t : 1e-9)) + 1;
      break;
    }
    count *= 4;
  }
  double r[5];
  for (int i = 0; i < 5; i++) r[i] = batch(dst, src, size, span, stride, count);
  qsort(r, 5, sizeof r[0], cmp);
  return r[4];
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: memcpy <dramMiB> <budgetMs> <size>...\n");
    return 1;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the bench harness */
  size_t span = (size_t)atol(argv[1]) << 20;
  double budget = atof(argv[2]) / 1000.0;
  int nsizes = argc - 3;
  double per = budget / (2.0 * 5.0 * nsizes);
  size_t max = 0;
  for (int i = 3; i < argc; i++) {
    size_t s = strtoull(argv[i], NULL, 10);
    if (s > max) max = s;
  }
  if (span < 2 * max) span = 2 * max;
  span = (span + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
  uint8_t *src = aligned_alloc(2u << 20, span);
  uint8_t *dst = aligned_alloc(2u << 20, span);
  if (!src || !dst) {
    fprintf(stderr, "memcpy: cannot allocate 2 x %zu bytes\n", span);
    return 1;
  }
  /* Huge pages where the kernel allows them: faulting the DRAM regions in is then cheap. */
  madvise(src, span, MADV_HUGEPAGE);
  madvise(dst, span, MADV_HUGEPAGE);
  memset(src, 1, span); /* fault every page in before timing */
  memset(dst, 2, span);
  for (int i = 3; i < argc; i++) {
    size_t size = strtoull(argv[i], NULL, 10);
    double hot = measure(dst, src, size, span, 0, per);
    /* Stride: the size rounded up to a page, plus one line, so consecutive copies never share a line or page. */
    size_t stride = ((size + 4095) & ~(size_t)4095) + 64;
    double dram = measure(dst, src, size, span, stride, per);
    printf("%zu %.3f %.3f\n", size, hot, dram);
    fflush(stdout);
  }
  return 0;
}
