/*
 * memory.c -- the one pair of allocation functions every byte goes through, and the tape's
 * arena: chunks that are bump-allocated during a step and rewound in O(1) by a reset.
 */
#include "autograd_private.h"

#include <stdlib.h>
#include <string.h>

/* ---- the allocator hook ---------------------------------------------------------------------
 * Set once at start-up (ag_set_allocator); read-only afterwards. */

static void *default_alloc(size_t size, void *ctx) { (void)ctx; return malloc(size); }
static void default_release(void *p, size_t size, void *ctx) { (void)size; (void)ctx; free(p); }

static void *(*hook_alloc)(size_t, void *) = default_alloc;
static void (*hook_release)(void *, size_t, void *) = default_release;
static void *hook_ctx;

void ag_set_allocator(void *(*alloc)(size_t, void *), void (*release)(void *, size_t, void *),
                      void *ctx) {
    if (alloc && release) {
        hook_alloc = alloc;
        hook_release = release;
        hook_ctx = ctx;
    } else {
        hook_alloc = default_alloc;
        hook_release = default_release;
        hook_ctx = NULL;
    }
}

/* Every block is over-allocated by 64 + a header so that the pointer we hand out is 64-byte
 * aligned (a full AVX-512 vector / cache line) whatever the user's allocator guarantees, and by
 * 64 bytes of slack after it:
 *
 *   raw ... [header: raw pointer, requested size] [aligned block of `size` bytes] [slack: 64]
 *
 * The slack is for the vector kernels, which finish a ragged end with a masked move: its lanes
 * past the end are masked off but still lie in the 64 bytes after the data. On AMD Zen such a
 * move runs a slow microcode path (hundreds of cycles, on every execution) when those lanes fall
 * in a page that has never been touched, because a masked-off lane never faults the page in: the
 * symmetry step ran twice as slow whenever one gradient happened to end a page. So the slack's
 * last byte is written here, and the arena does the same after each block it hands out
 * (ag_arena_alloc): memory this library hands out is always mapped up to a vector past its
 * end. */
typedef struct {
    void *raw;
    size_t total;
} block_header;

#define AG_ALIGN 64

void *ag_alloc(size_t size) {
    size_t extra = AG_ALIGN + sizeof(block_header) + AG_ALIGN;
    if (size > SIZE_MAX - extra) return NULL;
    void *raw = hook_alloc(size + extra, hook_ctx);
    if (!raw) return NULL;
    uintptr_t p = ((uintptr_t)raw + sizeof(block_header) + AG_ALIGN - 1) & ~(uintptr_t)(AG_ALIGN - 1);
    block_header *h = (block_header *)p - 1;
    h->raw = raw;
    h->total = size + extra;
    ((volatile char *)p)[size + AG_ALIGN - 1] = 0; /* the slack's last byte: its page is mapped */
    return (void *)p;
}

void ag_free(void *p) {
    if (!p) return;
    block_header *h = (block_header *)p - 1;
    hook_release(h->raw, h->total, hook_ctx);
}

/* ---- the arena ------------------------------------------------------------------------------
 * A singly linked list of chunks. Allocation bumps a pointer in the current chunk; when it does not
 * fit, the next chunk (kept from an earlier step) is tried, and only when none is left is a new
 * one allocated and appended. A reset points `cur` back at the first chunk: O(1), nothing freed.
 * A step that records the same graph asks for the same sizes in the same order, so from the
 * second step on it finds every chunk it needs already there and calls the allocator zero times.
 * Chunks are never realloc'd, so no pointer into the arena moves while the step is alive. */

struct ag_chunk {
    ag_chunk *next;
    size_t size; /* usable bytes after the header */
};

#define CHUNK_HEADER ((sizeof(ag_chunk) + AG_ALIGN - 1) & ~(size_t)(AG_ALIGN - 1))
#define CHUNK_MIN ((size_t)64 << 10)

/* Make c the chunk being filled, from its start. */
static void chunk_enter(ag_tape *t, ag_chunk *c) {
    t->cur = c;
    t->bump = (char *)c + CHUNK_HEADER;
    t->end = t->bump + c->size;
}

/* The fast path (ag_arena_alloc in autograd_private.h) bumps t->bump within the current chunk;
 * this is the rest: the chunks kept from earlier steps (each starts empty), then a new chunk. */
void *ag_arena_alloc_slow(ag_tape *t, size_t size, size_t align, const char *op) {
    if (size == 0) return ag_arena_alloc(t, 1, align, op);
    while (t->cur && t->cur->next) {
        chunk_enter(t, t->cur->next);
        char *p = (char *)(((uintptr_t)t->bump + align - 1) & ~(uintptr_t)(align - 1));
        if (p <= t->end && (size_t)(t->end - p) >= size) return ag_arena_alloc(t, size, align, op);
    }
    /* A new chunk, at least as large as everything held so far (so there are few chunks). */
    size_t want = t->reserved > CHUNK_MIN ? t->reserved : CHUNK_MIN;
    if (size > SIZE_MAX - CHUNK_HEADER - AG_ALIGN) want = 0;
    else if (want < size + AG_ALIGN) want = size + AG_ALIGN;
    if (t->limit && want) { /* within the limit: a smaller chunk if that is enough, else fail */
        size_t room = t->limit > t->reserved ? t->limit - t->reserved : 0;
        if (want > room && room >= size + AG_ALIGN) want = room;
        if (want > room) {
            ag_fail(t, AG_ERR_TAPE_LIMIT,
                    "%s: the tape would hold %zu bytes, over the tape's limit of %zu bytes "
                    "(ag_tape_set_limit; is ag_tape_reset called every step?)",
                    op, t->reserved + want, t->limit);
            return NULL;
        }
    }
    ag_chunk *c = want ? ag_alloc(CHUNK_HEADER + want) : NULL;
    if (!c) {
        ag_fail(t, AG_ERR_NO_MEMORY, "%s: out of memory (asked the allocator for %zu bytes)", op,
                CHUNK_HEADER + want);
        return NULL;
    }
    c->next = NULL;
    c->size = want;
    if (t->cur) t->cur->next = c;
    else t->first = c;
    t->reserved += want;
    chunk_enter(t, c);
    return ag_arena_alloc(t, size, align, op); /* fits: the chunk is empty and large enough */
}

void ag_arena_rewind(ag_tape *t) {
    if (t->first) chunk_enter(t, t->first);
}

void ag_arena_free(ag_tape *t) {
    ag_chunk *c = t->first;
    while (c) {
        ag_chunk *next = c->next;
        ag_free(c);
        c = next;
    }
    t->first = t->cur = NULL;
    t->bump = t->end = NULL;
    t->reserved = 0;
    ag_free(t->scratch);
    t->scratch = NULL;
    t->scratch_bytes = 0;
}

float *ag_tape_scratch(ag_tape *t, size_t bytes, const char *op) {
    if (bytes <= t->scratch_bytes) return t->scratch;
    /* Grow geometrically, so a program whose products grow one by one regrows rarely. */
    size_t want = bytes < SIZE_MAX / 2 && bytes < 2 * t->scratch_bytes ? 2 * t->scratch_bytes : bytes;
    float *p = ag_alloc(want);
    if (!p) {
        ag_fail(t, AG_ERR_NO_MEMORY,
                "%s: out of memory (asked the allocator for %zu bytes of scratch)", op, want);
        return NULL;
    }
    ag_free(t->scratch);
    t->scratch = p;
    t->scratch_bytes = want;
    return p;
}

size_t ag_tape_bytes(const ag_tape *t) { return t ? t->reserved : 0; }

int ag_tape_set_limit(ag_tape *t, size_t max_bytes) {
    if (!t) {
        ag_no_tape("ag_tape_set_limit");
        return -1;
    }
    t->limit = max_bytes;
    return 0;
}
