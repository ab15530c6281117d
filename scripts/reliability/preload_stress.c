/* Random V4L2 calls from several threads of one C process, through the preload library
 * (`loopcam run -- preload_stress DEVICE SECONDS SEED`), while a producer streams.
 *
 * The threads share a table of slots; a slot holds an fd (opened, dup()ed from another slot,
 * or dup2()ed over) and the buffers mapped through it. Each operation locks its slot, so the
 * program itself has no use-after-close or unmap-while-reading bug; dup()ed slots share one
 * open file description, so the preload sees concurrent calls on one device file from several
 * threads. Calls that could block are made on O_NONBLOCK fds or with poll timeouts, so every
 * call must return promptly: a watchdog thread exits with status 3 if one takes > 2 s.
 * Prints "DONE calls N errors N" and exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 6
#define THREADS 6
#define MAXMAPS 8
#define LIMIT_MS 2000

struct map { void *addr; size_t len; };
struct slot {
    pthread_mutex_t lock;
    int fd; /* -1: empty */
    struct map maps[MAXMAPS];
    int nmaps;
};

static struct slot slots[SLOTS];
static const char *dev;
static double deadline;
static _Atomic long long busy_since[THREADS]; /* ms + 1, 0: idle */
static _Atomic int busy_op[THREADS];
static _Atomic long calls, errors;
static const char *names[] = {"open", "close", "dup", "dup2", "fmt", "reqbufs", "mmap",
                              "munmap", "qbuf", "dqbuf", "stream", "read", "poll", "select",
                              "fcntl", "touch", "misc"};
#define NOPS (int)(sizeof names / sizeof names[0])

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void *watchdog(void *a) {
    (void)a;
    for (;;) {
        long long ms = (long long)(now() * 1000);
        for (int i = 0; i < THREADS; i++) {
            long long b = busy_since[i];
            if (b && ms - (b - 1) > LIMIT_MS) {
                printf("STALL thread %d in %s for %lld ms\n", i, names[busy_op[i]], ms - (b - 1));
                fflush(stdout);
                _exit(3);
            }
        }
        usleep(50000);
    }
    return 0;
}

static void unmap_all(struct slot *s) {
    for (int i = 0; i < s->nmaps; i++) munmap(s->maps[i].addr, s->maps[i].len);
    s->nmaps = 0;
}

static int op(uint64_t *r, int k, struct slot *s) {
    unsigned type = rnd(r) % 100 < 90 ? V4L2_BUF_TYPE_VIDEO_CAPTURE : V4L2_BUF_TYPE_VIDEO_OUTPUT;
    int fd = s->fd;
    if (fd < 0 && k != 0) k = 0;
    switch (k) {
    case 0: { /* open */
        if (fd >= 0) return 0;
        int fl = (rnd(r) % 3 ? O_RDWR : O_RDONLY) | O_NONBLOCK | (rnd(r) % 2 ? O_CLOEXEC : 0);
        s->fd = open(dev, fl);
        return s->fd >= 0 ? 0 : -1;
    }
    case 1: /* close (mappings outlive the fd, like V4L2; drop them sometimes first) */
        if (rnd(r) % 4) unmap_all(s);
        s->nmaps = 0; /* forget the rest: they stay mapped until exit (allowed) */
        close(fd);
        s->fd = -1;
        return 0;
    case 2: { /* dup into an empty slot (shares the open file description) */
        struct slot *t = &slots[rnd(r) % SLOTS];
        if (t == s || pthread_mutex_trylock(&t->lock)) return 0;
        int rc = 0;
        if (t->fd < 0) {
            t->fd = rnd(r) % 2 ? dup(fd) : fcntl(fd, F_DUPFD_CLOEXEC, 100);
            rc = t->fd >= 0 ? 0 : -1;
        }
        pthread_mutex_unlock(&t->lock);
        return rc;
    }
    case 3: { /* dup2 over another slot's fd (closes it implicitly) */
        struct slot *t = &slots[rnd(r) % SLOTS];
        if (t == s || pthread_mutex_trylock(&t->lock)) return 0;
        int rc = 0;
        if (t->fd >= 0) {
            rc = dup2(fd, t->fd) >= 0 ? 0 : -1;
            t->nmaps = 0;
        }
        pthread_mutex_unlock(&t->lock);
        return rc;
    }
    case 4: {
        struct v4l2_format f;
        memset(&f, 0, sizeof f);
        f.type = type;
        f.fmt.pix.width = rnd(r) % 2 ? 640 : 320;
        f.fmt.pix.height = f.fmt.pix.width * 3 / 4;
        f.fmt.pix.pixelformat = V4L2_PIX_FMT_YUYV;
        unsigned long req[] = {VIDIOC_G_FMT, VIDIOC_TRY_FMT, VIDIOC_S_FMT};
        return ioctl(fd, req[rnd(r) % 3], &f);
    }
    case 5: {
        struct v4l2_requestbuffers q;
        memset(&q, 0, sizeof q);
        q.count = rnd(r) % 6;
        q.type = type;
        q.memory = V4L2_MEMORY_MMAP;
        return ioctl(fd, VIDIOC_REQBUFS, &q);
    }
    case 6: {
        if (s->nmaps >= MAXMAPS) return 0;
        struct v4l2_buffer b;
        memset(&b, 0, sizeof b);
        b.index = rnd(r) % 6;
        b.type = type;
        b.memory = V4L2_MEMORY_MMAP;
        if (ioctl(fd, VIDIOC_QUERYBUF, &b)) return -1;
        int prot = PROT_READ | (rnd(r) % 3 ? 0 : PROT_WRITE);
        void *p = mmap(0, b.length, prot, MAP_SHARED, fd, b.m.offset);
        if (p == MAP_FAILED) return -1;
        s->maps[s->nmaps].addr = p;
        s->maps[s->nmaps].len = b.length;
        s->nmaps++;
        return 0;
    }
    case 7:
        if (!s->nmaps) return 0;
        s->nmaps--;
        return munmap(s->maps[s->nmaps].addr, s->maps[s->nmaps].len);
    case 8: {
        struct v4l2_buffer b;
        memset(&b, 0, sizeof b);
        b.index = rnd(r) % 6;
        b.type = type;
        b.memory = V4L2_MEMORY_MMAP;
        return ioctl(fd, VIDIOC_QBUF, &b);
    }
    case 9: {
        struct v4l2_buffer b;
        memset(&b, 0, sizeof b);
        b.type = type;
        b.memory = V4L2_MEMORY_MMAP;
        return ioctl(fd, VIDIOC_DQBUF, &b); /* O_NONBLOCK: EAGAIN, never waits */
    }
    case 10: {
        int t = type;
        return ioctl(fd, rnd(r) % 3 ? VIDIOC_STREAMON : VIDIOC_STREAMOFF, &t);
    }
    case 11: {
        static __thread char buf[640 * 480 * 2];
        return read(fd, buf, 1 + rnd(r) % sizeof buf) >= 0 ? 0 : -1;
    }
    case 12: {
        struct pollfd p = {fd, POLLIN | POLLOUT | POLLPRI, 0};
        return poll(&p, 1, rnd(r) % 50);
    }
    case 13: {
        if (fd >= FD_SETSIZE) return 0;
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(fd, &rs);
        struct timeval tv = {0, (long)(rnd(r) % 50000)};
        return select(fd + 1, &rs, 0, 0, &tv) >= 0 ? 0 : -1;
    }
    case 14: { /* toggling O_NONBLOCK would let DQBUF block: only read it back */
        int fl = fcntl(fd, F_GETFL);
        return fl >= 0 && (fl & O_NONBLOCK) ? 0 : -1;
    }
    case 15: { /* touch a mapping (read; write if writable is not known: read only) */
        if (!s->nmaps) return 0;
        struct map *m = &s->maps[rnd(r) % s->nmaps];
        volatile unsigned char *p = m->addr;
        unsigned sum = 0;
        for (size_t i = 0; i < m->len; i += 4096) sum += p[i];
        return (int)(sum & 0);
    }
    default: {
        struct v4l2_capability c;
        struct v4l2_streamparm sp;
        memset(&sp, 0, sizeof sp);
        sp.type = type;
        ioctl(fd, VIDIOC_QUERYCAP, &c);
        return ioctl(fd, VIDIOC_G_PARM, &sp);
    }
    }
}

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    uint64_t r = 0x9E3779B97F4A7C15ULL * (uint64_t)(id + 1) ^ (uint64_t)(uintptr_t)arg;
    r ^= (uint64_t)(now() * 1e6);
    if (!r) r = 1;
    while (now() < deadline) {
        struct slot *s = &slots[rnd(&r) % SLOTS];
        int k = rnd(&r) % NOPS;
        pthread_mutex_lock(&s->lock);
        busy_op[id] = k;
        busy_since[id] = (long long)(now() * 1000) + 1;
        int rc = op(&r, k, s);
        busy_since[id] = 0;
        pthread_mutex_unlock(&s->lock);
        calls++;
        if (rc < 0) errors++;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DEVICE SECONDS\n", argv[0]);
        return 2;
    }
    dev = argv[1];
    deadline = now() + atof(argv[2]);
    for (int i = 0; i < SLOTS; i++) {
        pthread_mutex_init(&slots[i].lock, 0);
        slots[i].fd = -1;
    }
    pthread_t w, t[THREADS];
    pthread_create(&w, 0, watchdog, 0);
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], 0, worker, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], 0);
    for (int i = 0; i < SLOTS; i++) {
        unmap_all(&slots[i]);
        if (slots[i].fd >= 0) close(slots[i].fd);
    }
    printf("DONE calls %ld errors %ld\n", (long)calls, (long)errors);
    return 0;
}
