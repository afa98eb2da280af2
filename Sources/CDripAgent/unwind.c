/*
 * unwind.c: stack capture without frame pointers, from .eh_frame (CFI).
 *
 * Each return address maps to a rule "CFA = rsp+off | rbp+off | *(rbp+off),
 * RA at CFA-8, rbp saved at CFA+off | unchanged | lost". Rules come from the
 * FDE found through PT_GNU_EH_FRAME's binary-search table and are kept in a
 * direct-mapped cache, so a warm frame costs a hash, two loads and a compare.
 * glibc backtrace()/_Unwind_Backtrace cost ~110 ns/frame: they re-find and
 * re-interpret the FDE every time.
 *
 * Safety: the walker only dereferences addresses in [sp at entry, stack
 * top) of the current thread, whose pages are all mapped, and requires the
 * CFA to grow strictly, so it cannot fault or loop. The CFI parser only
 * reads inside the PT_LOAD segments of the module being parsed, and runs
 * inside dl_iterate_phdr's callback, where the module cannot be unloaded.
 * dl_iterate_phdr takes the loader's dl_load_write_lock (not dl_load_lock,
 * which dlopen holds while it mallocs), and we call it holding no agent
 * lock, so a dlopen in another thread cannot deadlock with us.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <stddef.h>
#include <string.h>
#include "agent.h"

enum { K_EMPTY = 0, K_RSP = 1, K_RBP = 2, K_DEREF_RBP = 3, K_FP = 4, K_STOP = 5 };
enum { B_SAME = 0, B_AT = 1, B_LOST = 2 };

struct rule {
    int kind;
    int64_t cfa_off;
    int bp_kind;
    int64_t bp_off;
};

/* 16 K entries x 16 bytes. An entry is {pc, packed rule | check}; the check
 * (24 bits of the PC's hash) lets a reader detect an entry torn by a
 * concurrent writer without any lock. */
#define UCACHE_BITS 14
struct ucache_ent {
    uint64_t pc;
    uint64_t v;
};
static struct ucache_ent ucache[1u << UCACHE_BITS];
static unsigned long long seen_subs;
uint32_t agent_unwind_gen;

/* v layout: kind 3 | bp_kind 2 | bp_off/8 int8 | cfa_off int27 | check 24 */
static inline uint64_t pack(const struct rule *r, uint64_t h)
{
    return (uint64_t)r->kind | ((uint64_t)r->bp_kind << 3) |
           ((uint64_t)(uint8_t)(int8_t)(r->bp_off / 8) << 5) |
           (((uint64_t)r->cfa_off & ((1ULL << 27) - 1)) << 13) | ((h & 0xFFFFFF) << 40);
}

static inline int encodable(const struct rule *r)
{
    return r->cfa_off >= -(1LL << 26) && r->cfa_off < (1LL << 26) && (r->bp_off & 7) == 0 &&
           r->bp_off >= -1024 && r->bp_off <= 1016;
}

static inline void unpack(uint64_t v, struct rule *r)
{
    r->kind = (int)(v & 7);
    r->bp_kind = (int)((v >> 3) & 3);
    r->bp_off = (int64_t)(int8_t)(uint8_t)(v >> 5) * 8;
    r->cfa_off = ((int64_t)(v << 24)) >> 37; /* sign-extend bits 13..39 */
}

/* ---------------------------------------------------------------- CFI */

struct module {
    const ElfW(Phdr) *ph;
    int phnum;
    ElfW(Addr) base;
};

/* [a, a+len) inside one readable PT_LOAD segment of the module. */
static int in_module(const struct module *m, uint64_t a, uint64_t len)
{
    for (int i = 0; i < m->phnum; i++) {
        const ElfW(Phdr) *p = &m->ph[i];
        if (p->p_type != PT_LOAD || !(p->p_flags & PF_R))
            continue;
        uint64_t s = m->base + p->p_vaddr, e = s + p->p_memsz;
        if (a >= s && a <= e && len <= e - a)
            return 1;
    }
    return 0;
}

struct cursor {
    const uint8_t *p, *end;
    int bad;
};

static uint64_t rd_uleb(struct cursor *c)
{
    uint64_t v = 0;
    unsigned shift = 0;
    for (;;) {
        if (c->p >= c->end) {
            c->bad = 1;
            return 0;
        }
        uint8_t b = *c->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            return v;
    }
}

static int64_t rd_sleb(struct cursor *c)
{
    int64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
        if (c->p >= c->end) {
            c->bad = 1;
            return 0;
        }
        b = *c->p++;
        if (shift < 64)
            v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
        shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40))
        v |= -((int64_t)1 << shift);
    return v;
}

static uint64_t rd_fixed(struct cursor *c, unsigned n)
{
    if ((size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, c->p, n); /* little-endian */
    c->p += n;
    return v;
}

/* DW_EH_PE pointer encodings: absptr/udata/sdata, pcrel and datarel. */
static uint64_t rd_encoded(struct cursor *c, uint8_t enc, uint64_t datarel)
{
    if (enc == 0xff)
        return 0;
    uint64_t field = (uint64_t)(uintptr_t)c->p, v;
    switch (enc & 0x0f) {
    case 0x00: v = rd_fixed(c, 8); break;
    case 0x01: v = rd_uleb(c); break;
    case 0x02: v = rd_fixed(c, 2); break;
    case 0x03: v = rd_fixed(c, 4); break;
    case 0x04: v = rd_fixed(c, 8); break;
    case 0x09: v = (uint64_t)rd_sleb(c); break;
    case 0x0a: v = (uint64_t)(int64_t)(int16_t)rd_fixed(c, 2); break;
    case 0x0b: v = (uint64_t)(int64_t)(int32_t)rd_fixed(c, 4); break;
    case 0x0c: v = rd_fixed(c, 8); break;
    default: c->bad = 1; return 0;
    }
    switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += field; break;
    case 0x30: v += datarel; break;
    default: c->bad = 1; return 0;
    }
    /* 0x80 (indirect) only appears on personality pointers, which we skip. */
    return v;
}

/* Register rules we care about: rbp (6) and the return address (16). */
enum { R_SAME = 0, R_OFF, R_UNDEF, R_UNSUP };
struct regrule {
    uint8_t kind;
    int64_t off;
};
struct cfa_state {
    int cfa_reg;    /* DWARF register number, -1 = expression/unknown */
    int64_t cfa_off;
    int cfa_deref;  /* CFA = *(rbp + cfa_off) (stack realignment) */
    struct regrule rbp, ra;
};

struct cie_info {
    uint64_t code_align;
    int64_t data_align;
    uint8_t fde_enc;
    int has_z, signal;
    const uint8_t *insns, *insns_end;
};

static void set_rule(struct cfa_state *s, uint64_t reg, uint8_t kind, int64_t off)
{
    if (reg == 6) {
        s->rbp.kind = kind;
        s->rbp.off = off;
    } else if (reg == 16) {
        s->ra.kind = kind;
        s->ra.off = off;
    }
}

/* Run CFA instructions until the location passes target. Returns 0 on an
 * opcode we cannot interpret. */
static int run_cfa(const struct cie_info *ci, struct cursor *c, struct cfa_state *s,
                   const struct cfa_state *init, uint64_t loc, uint64_t target)
{
    struct cfa_state stack[8];
    int depth = 0;
    while (c->p < c->end && !c->bad) {
        uint8_t op = *c->p++;
        uint8_t hi = op >> 6, lo = op & 0x3f;
        uint64_t reg, adv = 0;
        if (hi == 1) {
            adv = lo * ci->code_align;
        } else if (hi == 2) {
            set_rule(s, lo, R_OFF, (int64_t)rd_uleb(c) * ci->data_align);
            continue;
        } else if (hi == 3) {
            if (lo == 6) s->rbp = init->rbp;
            if (lo == 16) s->ra = init->ra;
            continue;
        } else {
            switch (op) {
            case 0x00: continue; /* nop */
            case 0x01: {
                uint64_t nl = rd_encoded(c, ci->fde_enc, 0);
                if (nl > target)
                    return 1;
                loc = nl;
                continue;
            }
            case 0x02: adv = rd_fixed(c, 1) * ci->code_align; break;
            case 0x03: adv = rd_fixed(c, 2) * ci->code_align; break;
            case 0x04: adv = rd_fixed(c, 4) * ci->code_align; break;
            case 0x05: reg = rd_uleb(c); set_rule(s, reg, R_OFF, (int64_t)rd_uleb(c) * ci->data_align); continue;
            case 0x06: reg = rd_uleb(c);
                if (reg == 6) s->rbp = init->rbp;
                if (reg == 16) s->ra = init->ra;
                continue;
            case 0x07: set_rule(s, rd_uleb(c), R_UNDEF, 0); continue;
            case 0x08: set_rule(s, rd_uleb(c), R_SAME, 0); continue;
            case 0x09: reg = rd_uleb(c); rd_uleb(c); set_rule(s, reg, R_UNSUP, 0); continue;
            case 0x0a:
                if (depth == 8) return 0;
                stack[depth++] = *s;
                continue;
            case 0x0b:
                if (depth == 0) return 0;
                {
                    /* restore_state keeps the CFA rule in some producers'
                     * reading; DWARF says all rules, which gcc relies on. */
                    *s = stack[--depth];
                }
                continue;
            case 0x0c: s->cfa_reg = (int)rd_uleb(c); s->cfa_off = (int64_t)rd_uleb(c); s->cfa_deref = 0; continue;
            case 0x0d: s->cfa_reg = (int)rd_uleb(c); s->cfa_deref = 0; continue;
            case 0x0e: s->cfa_off = (int64_t)rd_uleb(c); continue;
            case 0x0f: {
                uint64_t len = rd_uleb(c);
                if (c->bad || len > (uint64_t)(c->end - c->p)) return 0;
                /* Only the stack-realignment form: DW_OP_breg6 off; DW_OP_deref. */
                struct cursor e = { c->p, c->p + len, 0 };
                int ok = 0;
                if (len >= 3 && *e.p == 0x76) {
                    e.p++;
                    int64_t off = rd_sleb(&e);
                    if (!e.bad && e.p + 1 == e.end && *e.p == 0x06) {
                        s->cfa_reg = 6;
                        s->cfa_off = off;
                        s->cfa_deref = 1;
                        ok = 1;
                    }
                }
                if (!ok) {
                    s->cfa_reg = -1;
                    s->cfa_deref = 0;
                }
                c->p += len;
                continue;
            }
            case 0x10: case 0x16: {
                reg = rd_uleb(c);
                uint64_t len = rd_uleb(c);
                if (c->bad || len > (uint64_t)(c->end - c->p)) return 0;
                c->p += len;
                set_rule(s, reg, R_UNSUP, 0);
                continue;
            }
            case 0x11: reg = rd_uleb(c); set_rule(s, reg, R_OFF, rd_sleb(c) * ci->data_align); continue;
            case 0x12: s->cfa_reg = (int)rd_uleb(c); s->cfa_off = rd_sleb(c) * ci->data_align; s->cfa_deref = 0; continue;
            case 0x13: s->cfa_off = rd_sleb(c) * ci->data_align; continue;
            case 0x14: reg = rd_uleb(c); rd_uleb(c); set_rule(s, reg, R_UNSUP, 0); continue;
            case 0x15: reg = rd_uleb(c); rd_sleb(c); set_rule(s, reg, R_UNSUP, 0); continue;
            case 0x2e: rd_uleb(c); continue; /* GNU_args_size */
            case 0x2f: reg = rd_uleb(c); set_rule(s, reg, R_OFF, -(int64_t)rd_uleb(c) * ci->data_align); continue;
            default: return 0;
            }
        }
        if (loc + adv > target)
            return 1;
        loc += adv;
    }
    return !c->bad;
}

static int parse_cie(const struct module *m, const uint8_t *cie, struct cie_info *ci)
{
    if (!in_module(m, (uint64_t)(uintptr_t)cie, 8))
        return 0;
    uint32_t len;
    memcpy(&len, cie, 4);
    if (len == 0 || len == 0xffffffffu || !in_module(m, (uint64_t)(uintptr_t)cie, 4 + (uint64_t)len))
        return 0;
    struct cursor c = { cie + 4, cie + 4 + len, 0 };
    if (rd_fixed(&c, 4) != 0)
        return 0; /* not a CIE */
    uint8_t version = (uint8_t)rd_fixed(&c, 1);
    if (version != 1 && version != 3 && version != 4)
        return 0;
    const uint8_t *aug = c.p;
    while (c.p < c.end && *c.p)
        c.p++;
    if (c.p >= c.end)
        return 0;
    c.p++;
    if (version == 4)
        rd_fixed(&c, 2);
    ci->code_align = rd_uleb(&c);
    ci->data_align = rd_sleb(&c);
    if (version == 1)
        rd_fixed(&c, 1);
    else
        rd_uleb(&c);
    ci->fde_enc = 0;
    ci->has_z = 0;
    ci->signal = 0;
    if (aug[0] == 'z') {
        ci->has_z = 1;
        uint64_t alen = rd_uleb(&c);
        if (c.bad || alen > (uint64_t)(c.end - c.p))
            return 0;
        const uint8_t *aend = c.p + alen;
        for (const uint8_t *a = aug + 1; *a; a++) {
            if (*a == 'R')
                ci->fde_enc = (uint8_t)rd_fixed(&c, 1);
            else if (*a == 'L')
                rd_fixed(&c, 1);
            else if (*a == 'P') {
                uint8_t penc = (uint8_t)rd_fixed(&c, 1);
                rd_encoded(&c, penc & 0x7f, 0);
            } else if (*a == 'S')
                ci->signal = 1;
            else if (*a != 'B' && *a != 'G')
                break; /* unknown: the length lets us skip the rest */
        }
        c.p = aend;
    } else if (aug[0] != 0) {
        return 0; /* pre-'z' augmentations ("eh"): not worth supporting */
    }
    if (c.bad)
        return 0;
    ci->insns = c.p;
    ci->insns_end = c.end;
    return 1;
}

/* Rule for `target` (a return address minus one) from its FDE; 0 = no FDE. */
static int rule_from_fde(const struct module *m, const uint8_t *fde, uint64_t target, struct rule *out)
{
    if (!in_module(m, (uint64_t)(uintptr_t)fde, 8))
        return 0;
    uint32_t len, cie_off;
    memcpy(&len, fde, 4);
    memcpy(&cie_off, fde + 4, 4);
    if (len == 0 || len == 0xffffffffu || cie_off == 0 ||
        !in_module(m, (uint64_t)(uintptr_t)fde, 4 + (uint64_t)len))
        return 0;
    struct cie_info ci;
    if (!parse_cie(m, fde + 4 - cie_off, &ci))
        return 0;
    struct cursor c = { fde + 8, fde + 4 + len, 0 };
    uint64_t begin = rd_encoded(&c, ci.fde_enc, 0);
    uint64_t range = rd_encoded(&c, ci.fde_enc & 0x0f, 0);
    if (c.bad || target < begin || target - begin >= range)
        return 0;
    if (ci.has_z) {
        uint64_t alen = rd_uleb(&c);
        if (c.bad || alen > (uint64_t)(c.end - c.p))
            return 0;
        c.p += alen;
    }
    out->kind = K_STOP;
    out->cfa_off = 0;
    out->bp_kind = B_LOST;
    out->bp_off = 0;
    if (ci.signal)
        return 1; /* signal trampoline: registers live in a ucontext; stop */

    struct cfa_state init = { .cfa_reg = -1 }, s;
    struct cursor cc = { ci.insns, ci.insns_end, 0 };
    init.ra.kind = R_UNDEF;
    if (!run_cfa(&ci, &cc, &init, &init, 0, UINT64_MAX))
        return 1;
    s = init;
    if (!run_cfa(&ci, &c, &s, &init, begin, target))
        return 1;

    if (s.ra.kind != R_OFF || s.ra.off != -8)
        return 1; /* outermost frame (RA undefined) or exotic: stop */
    if (s.cfa_deref && s.cfa_reg == 6)
        out->kind = K_DEREF_RBP;
    else if (!s.cfa_deref && s.cfa_reg == 7)
        out->kind = K_RSP;
    else if (!s.cfa_deref && s.cfa_reg == 6)
        out->kind = K_RBP;
    else
        return 1;
    out->cfa_off = s.cfa_off;
    if (s.rbp.kind == R_SAME)
        out->bp_kind = B_SAME;
    else if (s.rbp.kind == R_OFF) {
        out->bp_kind = B_AT;
        out->bp_off = s.rbp.off;
    } else
        out->bp_kind = B_LOST;
    return 1;
}

struct find_ctx {
    uint64_t pc;
    struct rule r;
    int found;
    int first;
    unsigned long long subs;
};

static int find_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct find_ctx *ctx = data;
    if (ctx->first) {
        ctx->first = 0;
        if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
            ctx->subs = info->dlpi_subs;
    }
    struct module m = { info->dlpi_phdr, info->dlpi_phnum, info->dlpi_addr };
    const ElfW(Phdr) *eh = NULL;
    int inside = 0;
    for (int i = 0; i < m.phnum; i++) {
        const ElfW(Phdr) *p = &m.ph[i];
        if (p->p_type == PT_LOAD && ctx->pc >= m.base + p->p_vaddr &&
            ctx->pc < m.base + p->p_vaddr + p->p_memsz)
            inside = 1;
        else if (p->p_type == PT_GNU_EH_FRAME)
            eh = p;
    }
    if (!inside)
        return 0;
    ctx->found = 1;
    ctx->r.kind = K_FP; /* no usable CFI: frame-pointer walk for this PC */
    if (!eh)
        return 1;
    const uint8_t *hdr = (const uint8_t *)(m.base + eh->p_vaddr);
    if (eh->p_memsz < 12 || !in_module(&m, (uint64_t)(uintptr_t)hdr, eh->p_memsz) || hdr[0] != 1)
        return 1;
    struct cursor c = { hdr + 4, hdr + eh->p_memsz, 0 };
    rd_encoded(&c, hdr[1], (uint64_t)(uintptr_t)hdr);
    uint64_t count = rd_encoded(&c, hdr[2], (uint64_t)(uintptr_t)hdr);
    if (c.bad || hdr[3] != 0x3b || count == 0 || count > (uint64_t)(c.end - c.p) / 8)
        return 1; /* the search table is datarel|sdata4 in every linker we know */
    const int32_t *tab = (const int32_t *)c.p;
    uint64_t target = ctx->pc - 1, base = (uint64_t)(uintptr_t)hdr;
    uint64_t lo = 0, hi = count;
    while (hi - lo > 1) {
        uint64_t mid = (lo + hi) / 2;
        if (base + (int64_t)tab[2 * mid] <= target)
            lo = mid;
        else
            hi = mid;
    }
    if (base + (int64_t)tab[2 * lo] > target)
        return 1;
    struct rule r;
    if (rule_from_fde(&m, (const uint8_t *)(base + (int64_t)tab[2 * lo + 1]), target, &r))
        ctx->r = r;
    return 1;
}

static void rule_resolve(uint64_t pc, struct rule *r)
{
    struct find_ctx ctx = { .pc = pc, .first = 1 };
    ctx.r.kind = K_FP;
    int e = errno;
    dl_iterate_phdr(find_cb, &ctx);
    errno = e;
    __atomic_fetch_add(&drip_agent_state.unwind_cache_misses, 1, __ATOMIC_RELAXED);
    /* A dlclose since the last miss may have left rules for PCs that now
     * belong to other code: drop them all. */
    if (ctx.subs != __atomic_load_n(&seen_subs, __ATOMIC_RELAXED)) {
        __atomic_store_n(&seen_subs, ctx.subs, __ATOMIC_RELAXED);
        memset(ucache, 0, sizeof ucache);
        /* Memoized walks used the dropped rules: invalidate them too. */
        __atomic_fetch_add(&agent_unwind_gen, 1, __ATOMIC_RELEASE);
    }
    if (!ctx.found)
        ctx.r.kind = K_FP; /* JIT or anonymous code */
    *r = ctx.r;
    if (r->kind != K_RSP && r->kind != K_RBP && r->kind != K_DEREF_RBP) {
        r->cfa_off = 0;
        r->bp_kind = B_LOST;
        r->bp_off = 0;
    }
}

static inline void rule_get(uint64_t pc, struct rule *r)
{
    uint64_t h = mix64(pc);
    struct ucache_ent *e = &ucache[h >> (64 - UCACHE_BITS)];
    uint64_t epc = __atomic_load_n(&e->pc, __ATOMIC_RELAXED);
    uint64_t v = __atomic_load_n(&e->v, __ATOMIC_RELAXED);
    if (LIKELY(epc == pc && (v >> 40) == (h & 0xFFFFFF) && (v & 7) != K_EMPTY)) {
        unpack(v, r);
        return;
    }
    rule_resolve(pc, r);
    if (encodable(r)) {
        __atomic_store_n(&e->v, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&e->pc, pc, __ATOMIC_RELAXED);
        __atomic_store_n(&e->v, pack(r, h), __ATOMIC_RELAXED);
    }
}

void unwind_init(void)
{
    __atomic_fetch_add(&drip_agent_state.agent_bytes, sizeof ucache, __ATOMIC_RELAXED);
}

static inline int readable(uint64_t a, uint64_t lo, uint64_t hi)
{
    return a >= lo && a <= hi - 8;
}

/* Every stack word the walk dereferences goes through here, so the log
 * holds all memory the result depends on. */
static inline uint64_t rd_stack(uint64_t a, uint64_t lo, struct unwind_log *log)
{
    uint64_t v = *(const uint64_t *)a;
    if (log) {
        if (LIKELY(log->n < UNWIND_LOG_MAX)) {
            log->off[log->n] = (uint32_t)(a - lo);
            log->val[log->n] = v;
            log->n++;
        } else {
            log->overflow = 1;
        }
    }
    return v;
}

uint32_t unwind_capture(const struct unwind_start *st, const struct stack_bounds *b,
                        uint64_t *frames, uint32_t max, struct unwind_log *log)
{
    uint64_t pc = st->pc, sp = st->sp, bp = st->bp;
    uint32_t n = 0;
    if (log)
        log->n = log->overflow = log->used_bp = 0;
    int bp_is_start = 1; /* bp still holds the starting rbp (B_SAME so far) */
    if (pc < 4096 || max == 0)
        return 0;
    frames[n++] = pc;
    /* Not on the stack we know (sigaltstack, coroutine, unknown bounds):
     * keep the one frame we are sure of. */
    if (sp < b->lo || sp >= b->hi || b->hi - b->lo < 16)
        return n;
    const uint64_t lo = sp, hi = b->hi;
    /* Offsets from lo are logged as 32 bits: stacks are < 4 GiB (the main
     * thread's bound is capped at 1 GiB). Larger: no log, no memo. */
    if (log && hi - lo >= (1ull << 32))
        log->overflow = 1, log = NULL;
    while (n < max) {
        struct rule r;
        rule_get(pc, &r);
        uint64_t cfa, nbp = bp;
        if (log && bp_is_start && r.kind != K_RSP)
            log->used_bp = 1;
        switch (r.kind) {
        case K_RSP:
            cfa = sp + (uint64_t)r.cfa_off;
            break;
        case K_RBP:
            cfa = bp + (uint64_t)r.cfa_off;
            break;
        case K_DEREF_RBP: {
            uint64_t a = bp + (uint64_t)r.cfa_off;
            if (!readable(a, lo, hi))
                return n;
            cfa = rd_stack(a, lo, log);
            break;
        }
        case K_FP:
            /* Assume a classic frame: [rbp] = caller's rbp, [rbp+8] = RA. */
            if (bp < sp || !readable(bp, lo, hi))
                return n;
            cfa = bp + 16;
            nbp = rd_stack(bp, lo, log);
            break;
        default:
            return n;
        }
        if (cfa <= sp || cfa > hi || !readable(cfa - 8, lo, hi))
            return n;
        uint64_t ra = rd_stack(cfa - 8, lo, log);
        if (r.bp_kind == B_AT) {
            uint64_t a = cfa + (uint64_t)r.bp_off;
            nbp = readable(a, lo, hi) ? rd_stack(a, lo, log) : 0;
        } else if (r.bp_kind == B_LOST && r.kind != K_FP) {
            nbp = 0;
        }
        if (ra < 4096)
            return n;
        if (r.kind == K_FP || r.bp_kind != B_SAME)
            bp_is_start = 0;
        pc = ra;
        sp = cfa;
        bp = nbp;
        frames[n++] = pc;
    }
    return n;
}
