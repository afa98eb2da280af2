/*
 * drip_agent_format.h: the layout of the tables libdrip-agent.so keeps in
 * its own memory and drip reads from outside with process_vm_readv.
 *
 * This header is the single source of truth for that layout. The agent
 * (Sources/CDripAgent, plain C) and drip (Swift, through the
 * CDripAgentFormat module) both compile against it. Rules that keep it
 * readable from another process and importable by Swift:
 *   - fixed-width integers only; addresses are stored as uint64_t, never as
 *     pointers, so the reader never needs the target's pointer type;
 *   - explicit padding, sizes checked with static asserts;
 *   - plain C11, no GNU extensions.
 * See docs/AGENT.md for the design, the locking and the sampling math.
 *
 * How a reader finds everything (every step is one process_vm_readv):
 *   1. look up the dynamic symbol `drip_agent_state` in the target's copy
 *      of libdrip-agent.so; read struct drip_agent_state; check magic,
 *      version and state_size;
 *   2. read shard_count * shard_size bytes at shards_addr: the
 *      struct drip_agent_shard array;
 *   3. for each shard with slots_addr != 0 read capacity * 16 bytes of
 *      struct drip_agent_slot at slots_addr (many shards per call: one iovec
 *      each); slots with addr == 0 are empty;
 *   4. re-read the shard array; a shard whose seq changed, or was odd, is
 *      re-read (seqlock). EFAULT on a slot array means it was replaced by a
 *      resize: re-read that shard;
 *   5. read stack_dir_used entries of struct drip_agent_stack_chunk at
 *      stack_dir_addr, then `used` bytes of each chunk: a sequence of
 *      struct drip_agent_stack_record, each followed by nframes uint64_t
 *      return addresses (innermost first). Ids are dense: 0, 1, 2, ...
 *      in the order the records appear. Read stacks after blocks, so every
 *      stack id a block names is already published;
 *   6. read thread_recs_used records at thread_recs_addr and sum them for
 *      the call and byte counters.
 */
#ifndef DRIP_AGENT_FORMAT_H
#define DRIP_AGENT_FORMAT_H

#include <stdint.h>

/* "DRIPAGNT" little-endian: bytes 44 52 49 50 41 47 4e 54 */
#define DRIP_AGENT_MAGIC 0x544E474150495244ULL
#define DRIP_AGENT_FORMAT_VERSION 1u

/* The exported symbol that holds struct drip_agent_state. */
#define DRIP_AGENT_STATE_SYMBOL "drip_agent_state"

#define DRIP_AGENT_MODE_EXACT 0u   /* every live block is in the table */
#define DRIP_AGENT_MODE_SAMPLED 1u /* only sampled blocks are in the table */

/* Block table: DRIP_AGENT_SHARDS shards of open-addressed slot arrays. */
#define DRIP_AGENT_SHARDS 1024u
/* Stack table: append-only chunks listed in a fixed directory. */
#define DRIP_AGENT_STACK_CHUNK_BYTES (256u * 1024u)
#define DRIP_AGENT_STACK_DIR_CAPACITY 16384u
#define DRIP_AGENT_MAX_FRAMES 64u
/* Per-thread counter records. Record 0 is shared (atomic adds) by threads
 * that have no record of their own (registry full, thread exiting). */
#define DRIP_AGENT_THREAD_RECS 4096u

/* A block slot: 16 bytes. meta packs the requested size (low 40 bits) and
 * the stack id (high 24 bits). Sizes >= 2^40 are stored as 2^40 - 1. */
#define DRIP_AGENT_SIZE_BITS 40u
#define DRIP_AGENT_SIZE_MASK ((1ULL << 40) - 1ULL)
#define DRIP_AGENT_STACK_ID_MAX ((1ULL << 24) - 1ULL)
#define DRIP_AGENT_SLOT_SIZE(meta) ((uint64_t)(meta) & DRIP_AGENT_SIZE_MASK)
#define DRIP_AGENT_SLOT_STACK(meta) ((uint32_t)((uint64_t)(meta) >> 40))

/* Stack id 0 is the empty stack: the block was recorded but its stack could
 * not be (stack table full). */
#define DRIP_AGENT_STACK_NONE 0u

struct drip_agent_slot {
    uint64_t addr; /* block address; 0 = empty slot */
    uint64_t meta; /* size | stack_id << 40 */
};

/* One shard of the block table: exactly one cache line. */
struct drip_agent_shard {
    /* Seqlock and spinlock in one word: odd while a writer holds the shard.
     * A reader copies the shard and its slots, then re-reads seq: equal and
     * even means the copy is consistent. */
    uint64_t seq;
    uint64_t slots_addr; /* address of capacity slots; 0 = never used */
    uint64_t capacity;   /* slots */
    uint64_t count;      /* occupied slots = live blocks in this shard */
    uint64_t bytes;      /* sum of sizes of the blocks in this shard */
    uint64_t resizes;    /* times the slot array was replaced */
    uint64_t owner;      /* agent-private: the biased owner (docs/AGENT.md, "Locking") */
    uint64_t reserved[1];
};

/* Directory entry of the stack table. */
struct drip_agent_stack_chunk {
    uint64_t addr; /* chunk address (DRIP_AGENT_STACK_CHUNK_BYTES long) */
    uint64_t used; /* bytes of complete records; grows, never shrinks */
};

/* Header of one stack record in a chunk; nframes uint64_t follow. Records
 * are 8-byte aligned and never span chunks. */
struct drip_agent_stack_record {
    uint32_t id;      /* == index of the record in table order */
    uint32_t nframes; /* 0..DRIP_AGENT_MAX_FRAMES */
    uint64_t hash;    /* agent-private: hash of the frames */
};

/* Per-thread counters. Only the owning thread writes a record (plain 8-byte
 * stores, so a reader never sees a torn value); record 0 is updated with
 * atomic adds. A record whose thread exited is reused by a new thread that
 * keeps adding to it, so sums over all records are always totals for the
 * process. Byte counters are requested sizes in exact mode and
 * malloc_usable_size() in sampled mode (see docs/AGENT.md). */
struct drip_agent_thread_rec {
    uint64_t owner;            /* thread id while owned; 0 = free */
    uint64_t mallocs;          /* malloc, calloc, memalign family, realloc(NULL) */
    uint64_t reallocs;         /* realloc/reallocarray of a non-NULL pointer */
    uint64_t frees;            /* free(non-NULL) and realloc(p, 0) that freed */
    uint64_t unknown_frees;    /* frees of pointers the table did not hold (exact mode) */
    uint64_t alloc_bytes;      /* bytes added to the live set */
    uint64_t freed_bytes;      /* bytes removed from the live set */
    uint64_t alloc_blocks;     /* blocks added to the live set */
    uint64_t freed_blocks;     /* blocks removed from the live set */
    uint64_t untracked_blocks; /* allocations that could not be recorded */
    uint64_t untracked_bytes;
    uint64_t sampled;          /* allocations recorded in sampled mode */
    uint64_t pending;          /* int64: live-byte delta not yet added to live_bytes_flushed */
    uint64_t in_shard;         /* agent-private: 1 + the biased shard the thread is inside, 0 = none */
    uint64_t reserved[2];
};

struct drip_agent_state {
    uint64_t magic;          /* DRIP_AGENT_MAGIC once the agent is initialised */
    uint32_t version;        /* DRIP_AGENT_FORMAT_VERSION */
    uint32_t state_size;     /* sizeof(struct drip_agent_state) */
    uint64_t init_pid;       /* pid that initialised the agent */
    uint64_t pid;            /* pid owning the tables now (changes in a forked child) */
    uint64_t fork_generation;/* forks this process line went through since init */
    uint32_t mode;           /* DRIP_AGENT_MODE_* */
    uint32_t ready;          /* 1 while allocations are being tracked */
    uint64_t sample_bytes;   /* mean bytes between samples (sampled mode), else 0 */
    uint64_t limit_bytes;    /* DRIP_LIMIT_BYTES, 0 = none */
    uint64_t flush_batch_bytes; /* per-thread live-byte batch (error bound unit) */

    /* Live bytes the threads have flushed (int64). Exact live bytes =
     * live_bytes_flushed + sum(thread_recs[i].pending). */
    uint64_t live_bytes_flushed;
    /* Highest live_bytes_flushed seen; see docs/AGENT.md for its bound. */
    uint64_t high_watermark_bytes;
    uint64_t limit_hits;        /* allocations that crossed limit_bytes */

    /* Things the agent could not track (cumulative). */
    uint64_t early_allocs;      /* allocations before the agent was ready */
    uint64_t recursive_allocs;  /* allocations re-entering the agent (signal handler, agent internals) */
    uint64_t recursive_frees;
    uint64_t failed_growths;    /* mmap failures growing a table */
    uint64_t stale_replaced;    /* slots overwritten because the address was reused without a tracked free */
    uint64_t stacks_dropped;    /* stacks recorded as id 0 because the stack table was full */

    /* Agent memory: every byte it mapped (tables, caches, registries) plus
     * its static data; block_table_bytes is the slot arrays alone. */
    uint64_t agent_bytes;
    uint64_t block_table_bytes;
    uint64_t stack_table_bytes;  /* bytes of stack records written */
    uint64_t stack_count;        /* records in the stack table (ids 0..n-1) */
    uint64_t unwind_cache_misses;/* PCs resolved through .eh_frame */

    /* Where the tables are. */
    uint64_t shards_addr;      /* struct drip_agent_shard[shard_count] */
    uint32_t shard_count;
    uint32_t shard_size;       /* sizeof(struct drip_agent_shard) */
    uint32_t slot_size;        /* sizeof(struct drip_agent_slot) */
    uint32_t max_frames;
    uint64_t stack_dir_addr;   /* struct drip_agent_stack_chunk[stack_dir_capacity] */
    uint32_t stack_dir_capacity;
    uint32_t stack_dir_used;   /* chunks in use */
    uint64_t stack_chunk_bytes;
    uint64_t thread_recs_addr; /* struct drip_agent_thread_rec[thread_recs_capacity] */
    uint32_t thread_recs_capacity;
    uint32_t thread_recs_used; /* records 0..used-1 may hold counts */
    uint32_t thread_rec_size;
    uint32_t reserved0;
    uint64_t bootstrap_bytes;  /* served from the static buffer before dlsym answered */
    /* Bytes the agent currently has mmap'd (whole pages), i.e. the part of
     * the process's anonymous memory that is the agent's own tables. An
     * older agent leaves this 0: "unknown". */
    uint64_t mapped_bytes;
    /* Shards taken from their biased owner and put under the lock for good
     * because another thread needed them (docs/AGENT.md, "Locking"). */
    uint64_t shard_revocations;
    uint32_t biased;           /* 1: shards may be biased (membarrier available) */
    uint32_t reserved1;
    uint64_t reserved[4];
};

/* C11 _Static_assert; C++ spells it static_assert. */
#ifdef __cplusplus
#define DRIP_AGENT_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define DRIP_AGENT_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif
DRIP_AGENT_STATIC_ASSERT(sizeof(struct drip_agent_slot) == 16, "slot layout");
DRIP_AGENT_STATIC_ASSERT(sizeof(struct drip_agent_shard) == 64, "shard layout");
DRIP_AGENT_STATIC_ASSERT(sizeof(struct drip_agent_stack_chunk) == 16, "chunk layout");
DRIP_AGENT_STATIC_ASSERT(sizeof(struct drip_agent_stack_record) == 16, "stack record layout");
DRIP_AGENT_STATIC_ASSERT(sizeof(struct drip_agent_thread_rec) == 128, "thread record layout");
DRIP_AGENT_STATIC_ASSERT(sizeof(struct drip_agent_state) == 320, "state layout");

#endif /* DRIP_AGENT_FORMAT_H */
