// The limit: libbpf's own C consumer draining the same pinned ring.
// usage: c_consumer <pinned ring path> <records expected>
// Prints "records seconds" once it has consumed that many.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static unsigned long long seen, bytes;

static int on_record(void *ctx, void *data, size_t size)
{
	seen++;
	bytes += ((unsigned char *)data)[0] + size; /* touch the record, like a dispatcher would */
	return 0;
}

int main(int argc, char **argv)
{
	struct ring_buffer *rb;
	struct timespec t0, t1;
	unsigned long long want;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: %s PINNED_RING RECORDS\n", argv[0]);
		return 2;
	}
	want = strtoull(argv[2], NULL, 10);
	fd = bpf_obj_get(argv[1]);
	if (fd < 0) {
		perror("bpf_obj_get");
		return 1;
	}
	rb = ring_buffer__new(fd, on_record, NULL, NULL);
	if (!rb) {
		perror("ring_buffer__new");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (seen < want) {
		if (ring_buffer__consume(rb) < 0) {
			perror("consume");
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%llu %.6f\n", seen, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	ring_buffer__free(rb);
	return 0;
}
