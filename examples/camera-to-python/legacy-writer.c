/*
 * legacy-writer: a program that knows nothing of shmbus, as seed 000's img_writer does: it creates a plain POSIX
 * shared memory object, writes three native int32 (width, height, channels) and then the BGR pixels, and waits
 * for the readers. shmbus readers attach to it with Segment.openRaw / Segment.open_raw and read it with every
 * size checked against the object (the seed's readers trusted the three ints).
 *
 *   legacy-writer <posix-name> <width> <height> [--lie]
 *
 * Prints "ready <posix-name> <bytes>" once the image is in place, then waits until stdin closes (or a line is
 * read), removes the object and exits. --lie writes a header that claims a 4000x3000x3 image into an object only
 * big enough for the real one: the shape of a writer bug (or a stale object) that the readers must refuse.
 * Pixel (x, y) of the picture is B = x & 255, G = y & 255, R = (x + y) & 255 (the readers check it).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: legacy-writer <posix-name> <width> <height> [--lie]\n");
    return 2;
  }
  const char* name = argv[1];
  const int width = atoi(argv[2]);
  const int height = atoi(argv[3]);
  const int channels = 3;
  const int lie = argc > 4 && strcmp(argv[4], "--lie") == 0;
  if (width <= 0 || height <= 0 || width > 16384 || height > 16384) {
    fprintf(stderr, "legacy-writer: bad size %dx%d\n", width, height);
    return 2;
  }
  const size_t data_size = (size_t)width * (size_t)height * channels;
  const size_t buffer_size = data_size + 3 * sizeof(int32_t);

  int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) {
    perror("legacy-writer: shm_open");
    return 1;
  }
  if (ftruncate(fd, (off_t)buffer_size) != 0) {
    perror("legacy-writer: ftruncate");
    shm_unlink(name);
    return 1;
  }
  uint8_t* base = (uint8_t*)mmap(NULL, buffer_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) {
    perror("legacy-writer: mmap");
    shm_unlink(name);
    return 1;
  }

  /* The seed's layout: width, height, channels as native ints, then the pixels, rows packed. */
  const int32_t header[3] = {lie ? 4000 : width, lie ? 3000 : height, channels};
  memcpy(base, header, sizeof header);
  uint8_t* px = base + sizeof header;
  for (int y = 0; y < height; y++) {
    for (int x = 0; x < width; x++) {
      uint8_t* p = px + ((size_t)y * (size_t)width + (size_t)x) * channels;
      p[0] = (uint8_t)x;
      p[1] = (uint8_t)y;
      p[2] = (uint8_t)(x + y);
    }
  }
  printf("ready %s %zu\n", name, buffer_size);
  fflush(stdout);

  /* Wait for the orchestrator (stdin closed or one line), then clean up: nothing is left in /dev/shm. */
  char line[64];
  (void)fgets(line, sizeof line, stdin);
  munmap(base, buffer_size);
  shm_unlink(name);
  return 0;
}
