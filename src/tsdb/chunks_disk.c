/*
 * chunks_disk.c - segments of completed head chunks (see chunks_disk.h).
 *
 * Structure:
 *   cdisk
 *     lock            guards everything below
 *     seg[n]          open segments, oldest first; seg[n-1] is written
 *       fd, map       the file and its read-only mapping (whole size)
 *       used          bytes written (next chunk goes here)
 *       live          bytes of chunks not yet released
 *       num           the file's number
 *
 * Invariant: a segment other than the last takes no more chunks; once
 * its live bytes reach 0 it is unmapped and its file deleted.
 */
#define _GNU_SOURCE /* asprintf */
#include "tsdb/chunks_disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* One segment file. */
struct cseg {
	int fd;        /* open file */
	uint8_t *map;  /* read-only mapping of CDISK_SEG_BYTES */
	size_t used;   /* bytes written */
	size_t live;   /* bytes not released */
	uint32_t num;  /* file number */
};

struct cdisk {
	char *dir;             /* the directory, owned */
	pthread_mutex_t lock;  /* guards the fields below */
	struct cseg *seg;      /* segments, oldest first */
	size_t n, cap;         /* used and allocated */
	uint32_t next_num;     /* number of the next file */
	bool broken;           /* a file could not be made: stop trying */
};

static void seg_path(const struct cdisk *d, uint32_t num, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%06u", d->dir, num);
}

/* Delete every file of dir (no subdirectories are expected). */
static void clear_dir(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *e;

	if (!dh)
		return;
	while ((e = readdir(dh))) {
		char *p;

		if (e->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s", dir, e->d_name) >= 0) {
			unlink(p);
			free(p);
		}
	}
	closedir(dh);
}

struct cdisk *cdisk_open(const char *dir, struct ts_error *err)
{
	struct cdisk *d = calloc(1, sizeof(*d));

	if (!d || !(d->dir = strdup(dir))) {
		free(d);
		ts_error_set(err, TS_ERR_NOMEM, "cannot open head chunk files: out of memory");
		return NULL;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		ts_error_set(err, TS_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
		free(d->dir);
		free(d);
		return NULL;
	}
	clear_dir(dir);
	pthread_mutex_init(&d->lock, NULL);
	d->next_num = 1;
	return d;
}

static void seg_drop(struct cdisk *d, size_t i)
{
	char path[4096];

	munmap(d->seg[i].map, CDISK_SEG_BYTES);
	close(d->seg[i].fd);
	seg_path(d, d->seg[i].num, path, sizeof(path));
	unlink(path);
	memmove(&d->seg[i], &d->seg[i + 1], (d->n - i - 1) * sizeof(*d->seg));
	d->n--;
}

void cdisk_free(struct cdisk *d)
{
	if (!d)
		return;
	while (d->n)
		seg_drop(d, d->n - 1);
	free(d->seg);
	pthread_mutex_destroy(&d->lock);
	free(d->dir);
	free(d);
}

/* Start a new segment; lock held. */
static struct cseg *seg_new(struct cdisk *d)
{
	char path[4096];
	struct cseg s = { -1, NULL, 0, 0, d->next_num };
	void *m;

	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 8;
		struct cseg *ns = realloc(d->seg, ncap * sizeof(*ns));

		if (!ns)
			return NULL;
		d->seg = ns;
		d->cap = ncap;
	}
	seg_path(d, s.num, path, sizeof(path));
	s.fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (s.fd < 0)
		return NULL;
	if (ftruncate(s.fd, (off_t)CDISK_SEG_BYTES) < 0) {
		close(s.fd);
		unlink(path);
		return NULL;
	}
	m = mmap(NULL, CDISK_SEG_BYTES, PROT_READ, MAP_SHARED, s.fd, 0);
	if (m == MAP_FAILED) {
		close(s.fd);
		unlink(path);
		return NULL;
	}
	s.map = m;
	d->next_num++;
	d->seg[d->n++] = s;
	return &d->seg[d->n - 1];
}

const uint8_t *cdisk_put(struct cdisk *d, const uint8_t *data, size_t len)
{
	struct cseg *s;
	const uint8_t *p = NULL;
	size_t done = 0;

	if (len == 0 || len > CDISK_SEG_BYTES)
		return NULL;
	pthread_mutex_lock(&d->lock);
	if (d->broken)
		goto out;
	s = d->n ? &d->seg[d->n - 1] : NULL;
	if (!s || s->used + len > CDISK_SEG_BYTES) {
		if (s && s->live == 0)
			seg_drop(d, d->n - 1);
		s = seg_new(d);
		if (!s) {
			d->broken = true;
			goto out;
		}
	}
	while (done < len) {
		ssize_t r = pwrite(s->fd, data + done, len - done, (off_t)(s->used + done));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto out; /* the space stays unused */
		}
		done += (size_t)r;
	}
	p = s->map + s->used;
	s->used += len;
	s->live += len;
out:
	pthread_mutex_unlock(&d->lock);
	return p;
}

/* Index of the segment holding p, or d->n; lock held. */
static size_t seg_of(struct cdisk *d, const uint8_t *p)
{
	for (size_t i = 0; i < d->n; i++)
		if (p >= d->seg[i].map && p < d->seg[i].map + CDISK_SEG_BYTES)
			return i;
	return d->n;
}

bool cdisk_owns(struct cdisk *d, const uint8_t *p)
{
	bool r;

	pthread_mutex_lock(&d->lock);
	r = seg_of(d, p) < d->n;
	pthread_mutex_unlock(&d->lock);
	return r;
}

void cdisk_release(struct cdisk *d, const uint8_t *p, size_t len)
{
	size_t i;

	pthread_mutex_lock(&d->lock);
	i = seg_of(d, p);
	if (i < d->n) {
		d->seg[i].live -= len <= d->seg[i].live ? len : d->seg[i].live;
		if (d->seg[i].live == 0 && i + 1 < d->n)
			seg_drop(d, i);
	}
	pthread_mutex_unlock(&d->lock);
}

void cdisk_stats(struct cdisk *d, size_t *segments, size_t *live_bytes)
{
	size_t live = 0;

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n; i++)
		live += d->seg[i].live;
	*segments = d->n;
	pthread_mutex_unlock(&d->lock);
	*live_bytes = live;
}

void cdisk_drop_resident(struct cdisk *d)
{
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n; i++)
		madvise(d->seg[i].map, CDISK_SEG_BYTES, MADV_DONTNEED);
	pthread_mutex_unlock(&d->lock);
}
