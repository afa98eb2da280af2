/*
 * stacks.c: the stack table. Stacks are deduplicated: identical frame
 * sequences get one id. Records are appended to mmap'd chunks and never
 * move or change once published, so the reader (and ids stored in block
 * slots) can rely on them forever.
 *
 * Lookup is lock-free: an open-addressed index {hash, record address}
 * published with release stores. Inserts (new stacks only, rare) take one
 * spinlock. When the index grows, the old index is kept mapped (lock-free
 * readers may still be probing it; a miss there falls through to the
 * locked path, which re-checks the current index). The old indexes sum to
 * less than the current one, so this costs at most 2x the index size.
 */
#include <string.h>
#include "agent.h"

struct index_slot {
    uint64_t hash; /* 0 = empty; never 0 for a real stack */
    uint64_t rec;  /* address of the drip_agent_stack_record */
};

struct stack_index {
    uint64_t cap; /* power of two */
    uint64_t count;
    struct index_slot slots[];
};

static struct drip_agent_stack_chunk dir[DRIP_AGENT_STACK_DIR_CAPACITY];
static struct stack_index *index_cur; /* read lock-free */
static uint32_t lock;
static uint32_t next_id;

static uint64_t hash_frames(const uint64_t *f, uint32_t n)
{
    uint64_t h = 0x84222325CBF29CE4ULL ^ n;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ f[i]) * 0x9E3779B97F4A7C15ULL, h ^= h >> 29;
    h = mix64(h);
    return h ? h : 1;
}

static struct stack_index *index_new(uint64_t cap)
{
    struct stack_index *ix = agent_map(sizeof(struct stack_index) + cap * sizeof(struct index_slot));
    if (ix)
        ix->cap = cap;
    return ix;
}

static void index_put(struct stack_index *ix, uint64_t hash, uint64_t rec)
{
    uint64_t mask = ix->cap - 1;
    for (uint64_t i = hash & mask;; i = (i + 1) & mask) {
        if (ix->slots[i].hash == 0) {
            ix->slots[i].rec = rec;
            __atomic_store_n(&ix->slots[i].hash, hash, __ATOMIC_RELEASE);
            ix->count++;
            return;
        }
    }
}

static int32_t index_find(const struct stack_index *ix, uint64_t hash,
                          const uint64_t *frames, uint32_t n)
{
    if (!ix)
        return -1;
    uint64_t mask = ix->cap - 1;
    for (uint64_t i = hash & mask;; i = (i + 1) & mask) {
        uint64_t h = __atomic_load_n(&ix->slots[i].hash, __ATOMIC_ACQUIRE);
        if (h == 0)
            return -1;
        if (h == hash) {
            const struct drip_agent_stack_record *r =
                (const struct drip_agent_stack_record *)(uintptr_t)ix->slots[i].rec;
            if (r->nframes == n) {
                /* Inline compare: libc memcmp through the PLT costs more
                 * than the few words of a typical stack. */
                const uint64_t *f = (const uint64_t *)(r + 1);
                uint32_t k = 0;
                while (k < n && f[k] == frames[k])
                    k++;
                if (k == n)
                    return (int32_t)r->id;
            }
        }
    }
}

/* Append a record; caller holds the lock. Returns its address or 0. */
static uint64_t append(uint64_t hash, const uint64_t *frames, uint32_t n)
{
    uint64_t need = sizeof(struct drip_agent_stack_record) + (uint64_t)n * sizeof(uint64_t);
    uint32_t c = drip_agent_state.stack_dir_used;
    if (c == 0 || dir[c - 1].used + need > DRIP_AGENT_STACK_CHUNK_BYTES) {
        if (c == DRIP_AGENT_STACK_DIR_CAPACITY)
            return 0;
        void *chunk = agent_map(DRIP_AGENT_STACK_CHUNK_BYTES);
        if (!chunk) {
            __atomic_fetch_add(&drip_agent_state.failed_growths, 1, __ATOMIC_RELAXED);
            return 0;
        }
        dir[c].addr = (uint64_t)(uintptr_t)chunk;
        dir[c].used = 0;
        __atomic_store_n(&drip_agent_state.stack_dir_used, c + 1, __ATOMIC_RELEASE);
        c++;
    }
    struct drip_agent_stack_chunk *ch = &dir[c - 1];
    struct drip_agent_stack_record *r =
        (struct drip_agent_stack_record *)(uintptr_t)(ch->addr + ch->used);
    r->id = next_id++;
    r->nframes = n;
    r->hash = hash;
    memcpy(r + 1, frames, n * sizeof(uint64_t));
    /* Publish: the reader reads `used` and then the bytes below it. */
    __atomic_store_n(&ch->used, ch->used + need, __ATOMIC_RELEASE);
    __atomic_store_n(&drip_agent_state.stack_count, next_id, __ATOMIC_RELAXED);
    __atomic_fetch_add(&drip_agent_state.stack_table_bytes, need, __ATOMIC_RELAXED);
    return (uint64_t)(uintptr_t)r;
}

void stacks_init(void)
{
    drip_agent_state.stack_dir_addr = (uint64_t)(uintptr_t)dir;
    drip_agent_state.stack_dir_capacity = DRIP_AGENT_STACK_DIR_CAPACITY;
    drip_agent_state.stack_chunk_bytes = DRIP_AGENT_STACK_CHUNK_BYTES;
    drip_agent_state.max_frames = DRIP_AGENT_MAX_FRAMES;
    spin_lock(&lock);
    if (next_id == 0) {
        /* id 0: the empty stack, for blocks whose stack could not be stored. */
        append(hash_frames(NULL, 0), NULL, 0);
        struct stack_index *ix = index_new(4096);
        __atomic_store_n(&index_cur, ix, __ATOMIC_RELEASE);
    }
    spin_unlock(&lock);
}

uint32_t stacks_intern(const uint64_t *frames, uint32_t n)
{
    uint64_t hash = hash_frames(frames, n);
    int32_t id = index_find(__atomic_load_n(&index_cur, __ATOMIC_ACQUIRE), hash, frames, n);
    if (LIKELY(id >= 0))
        return (uint32_t)id;

    spin_lock(&lock);
    struct stack_index *ix = index_cur;
    id = index_find(ix, hash, frames, n);
    if (id < 0) {
        if (ix && (ix->count + 1) * 2 > ix->cap) {
            struct stack_index *nx = index_new(ix->cap * 2);
            if (nx) {
                for (uint64_t i = 0; i < ix->cap; i++)
                    if (ix->slots[i].hash)
                        index_put(nx, ix->slots[i].hash, ix->slots[i].rec);
                __atomic_store_n(&index_cur, nx, __ATOMIC_RELEASE);
                ix = nx; /* the old index stays mapped for lock-free readers */
            }
        }
        uint64_t rec = 0;
        if (next_id <= DRIP_AGENT_STACK_ID_MAX)
            rec = append(hash, frames, n);
        if (rec && ix && (ix->count + 1) * 8 <= ix->cap * 7) {
            index_put(ix, hash, rec);
            id = (int32_t)((struct drip_agent_stack_record *)(uintptr_t)rec)->id;
        } else if (rec) {
            /* Stored but not indexable (index could not grow): the id is
             * valid, later lookups will just append duplicates until the
             * table fills. */
            id = (int32_t)((struct drip_agent_stack_record *)(uintptr_t)rec)->id;
        } else {
            __atomic_fetch_add(&drip_agent_state.stacks_dropped, 1, __ATOMIC_RELAXED);
            id = DRIP_AGENT_STACK_NONE;
        }
    }
    spin_unlock(&lock);
    return (uint32_t)id;
}

void stacks_lock(void) { spin_lock(&lock); }
void stacks_unlock(void) { spin_unlock(&lock); }
