/*
 * checksum (C): the CRC-32 of a file of any size through windows of shmbus_segment_map_file, with a progress bar
 * and the peak RSS. Seed 001's tip: a 400 MB file could not be mapped at once on a 32-bit Windows, so map it page
 * by page. Here a window of --window bytes is mapped at a time (any offset), checksummed and unmapped before the
 * next: the memory this process touches is bounded by the window, not by the file.
 *
 *   checksum <file> <window-bytes> [bar|lines]
 *
 * bar: a progress bar on stderr (the default when stderr is a terminal); lines: "progress <done> <total>" on
 * stdout after each window (what the orchestrator reads). Prints "result {json}" last: crc (the zlib CRC-32, as
 * Node's zlib.crc32 and Python's zlib.crc32 compute it), bytes, windows, seconds, startRssKiB and peakRssKiB
 * (the peak RSS, VmHWM, before the first window and at the end).
 */
#include "shmbus.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint32_t crc_table[8][256];

/* The reflected CRC-32 of zlib (polynomial 0xEDB88320), eight bytes a step ("slicing by 8"). */
static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++) {
    for (int t = 1; t < 8; t++) crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
  }
}

static uint32_t crc_update(uint32_t crc, const uint8_t* p, size_t n) {
  crc = ~crc;
  while (n >= 8) {
    uint32_t lo, hi;
    memcpy(&lo, p, 4); /* little-endian host assumed (x64, arm64: the platforms shmbus supports) */
    memcpy(&hi, p + 4, 4);
    lo ^= crc;
    crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
          crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^ crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

/* This process's peak RSS (VmHWM of /proc/self/status), in KiB; -1 if unreadable. Not getrusage's ru_maxrss:
   that one survives exec, so a program started by a big parent would report the parent's peak. */
static long peak_rss_kib(void) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f != NULL && fgets(line, sizeof line, f) != NULL) {
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  }
  if (f != NULL) fclose(f);
  return kib;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: checksum <file> <window-bytes> [bar|lines]\n");
    return 2;
  }
  const char* path = argv[1];
  const uint64_t window = strtoull(argv[2], NULL, 10);
  const int lines = argc > 3 ? strcmp(argv[3], "lines") == 0 : !isatty(2);
  struct stat st;
  if (window == 0 || stat(path, &st) != 0) {
    fprintf(stderr, "checksum: bad window or no file %s\n", path);
    return 2;
  }
  const uint64_t total = (uint64_t)st.st_size;
  crc_init();
  const long start_rss = peak_rss_kib();
  const double t0 = now_s();
  uint32_t crc = 0;
  uint64_t windows = 0;
  for (uint64_t off = 0; off < total; off += window) {
    const uint64_t len = total - off < window ? total - off : window;
    shmbus_segment* seg;
    int rc = shmbus_segment_map_file(path, off, len, 0, &seg);
    if (rc != SHMBUS_OK) {
      fprintf(stderr, "checksum: %s: %s\n", shmbus_error_code(rc), shmbus_last_error_message());
      return 1;
    }
    /* The window's real size is what the library mapped: never trust more than that. */
    const size_t have = shmbus_segment_size(seg);
    crc = crc_update(crc, (const uint8_t*)shmbus_segment_data(seg), have < len ? have : (size_t)len);
    shmbus_segment_close(seg); /* unmapped: its pages leave this process's RSS */
    windows++;
    const uint64_t done = off + len;
    if (lines) {
      printf("progress %llu %llu\n", (unsigned long long)done, (unsigned long long)total);
      fflush(stdout);
    } else {
      const int width = 30, fill = (int)(width * done / total);
      fprintf(stderr, "\r[%.*s%*s] %3d%% %llu/%llu MiB", fill, "##############################", width - fill, "",
              (int)(100 * done / total), (unsigned long long)(done >> 20), (unsigned long long)(total >> 20));
    }
  }
  if (!lines) fprintf(stderr, "\n");
  printf("result {\"crc\":%u,\"bytes\":%llu,\"windows\":%llu,\"seconds\":%.3f,\"startRssKiB\":%ld,\"peakRssKiB\":%ld}\n", crc,
         (unsigned long long)total, (unsigned long long)windows, now_s() - t0, start_rss, peak_rss_kib());
  return 0;
}
