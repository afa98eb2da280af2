# libdrip-agent.so: built with the C compiler directly. Linking it through
# swiftc would add swiftrt.o and -lswiftCore, dragging the Swift runtime into
# every process it is preloaded into. `agent-test` checks the NEEDED list.

AGENT_DIR    := Sources/CDripAgent
AGENT_FMT    := Sources/CDripAgentFormat/include
AGENT_OUT    := .build/agent
AGENT_SO     := $(AGENT_OUT)/libdrip-agent.so
AGENT_SRCS   := $(wildcard $(AGENT_DIR)/*.c)
AGENT_HDRS   := $(wildcard $(AGENT_DIR)/*.h) $(AGENT_FMT)/drip_agent_format.h
AGENT_OBJS   := $(patsubst $(AGENT_DIR)/%.c,$(AGENT_OUT)/obj/%.o,$(AGENT_SRCS))

# -fno-builtin-*: the agent defines malloc & co; the compiler must not treat
# them (or a malloc+memset) as the builtins it knows.
# -fno-omit-frame-pointer: the entry points read their own frame to find
# the caller's registers (the unwinder's starting point).
AGENT_CFLAGS := -O2 -g -fPIC -std=gnu11 -Wall -Wextra -Wno-unused-parameter \
	-fvisibility=hidden -ftls-model=initial-exec -fno-omit-frame-pointer \
	-fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc \
	-fno-stack-protector -I$(AGENT_FMT)
AGENT_LDFLAGS := -shared -Wl,-z,now -Wl,-z,relro -Wl,--no-undefined

.PHONY: agent agent-test agent-clean
agent: $(AGENT_SO)

$(AGENT_OUT)/obj/%.o: $(AGENT_DIR)/%.c $(AGENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) -c $< -o $@

$(AGENT_SO): $(AGENT_OBJS)
	$(CC) $(AGENT_CFLAGS) $(AGENT_LDFLAGS) -o $@ $(AGENT_OBJS)

# ---- tests: real programs run with the agent preloaded ----------------
AGENT_TDIR   := Tests/AgentTests
AGENT_TOUT   := $(AGENT_OUT)/tests
AGENT_TCFLAGS := -g -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -I$(AGENT_FMT) -I$(AGENT_TDIR) -pthread -rdynamic

AGENT_TESTS := \
	$(AGENT_TOUT)/test_counts \
	$(AGENT_TOUT)/test_stack_fp \
	$(AGENT_TOUT)/test_stack_cfi \
	$(AGENT_TOUT)/test_cxx \
	$(AGENT_TOUT)/test_early \
	$(AGENT_TOUT)/libearly.so \
	$(AGENT_TOUT)/test_stress \
	$(AGENT_TOUT)/test_sampled \
	$(AGENT_TOUT)/test_limit \
	$(AGENT_TOUT)/test_mapped \
	$(AGENT_TOUT)/test_table

$(AGENT_TOUT)/test_counts: $(AGENT_TDIR)/test_counts.c $(AGENT_TDIR)/agent_test.h $(AGENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_TCFLAGS) -O1 $< -o $@ -ldl

# The same leak fixture twice: with frame pointers, and without them at -O2
# (only the CFI unwinder can walk the latter).
$(AGENT_TOUT)/test_stack_fp: $(AGENT_TDIR)/test_stack.c $(AGENT_TDIR)/agent_test.h $(AGENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_TCFLAGS) -O0 -fno-omit-frame-pointer $< -o $@ -ldl

$(AGENT_TOUT)/test_stack_cfi: $(AGENT_TDIR)/test_stack.c $(AGENT_TDIR)/agent_test.h $(AGENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_TCFLAGS) -O2 -fomit-frame-pointer -DOMIT_FP=1 $< -o $@ -ldl

$(AGENT_TOUT)/test_cxx: $(AGENT_TDIR)/test_cxx.cpp $(AGENT_TDIR)/agent_test.h $(AGENT_HDRS)
	@mkdir -p $(dir $@)
	$(CXX) $(AGENT_TCFLAGS) -O2 -fomit-frame-pointer $< -o $@ -ldl

$(AGENT_TOUT)/libearly.so: $(AGENT_TDIR)/libearly.c
	@mkdir -p $(dir $@)
	$(CC) -g -O1 -fPIC -shared $< -o $@

$(AGENT_TOUT)/test_early: $(AGENT_TDIR)/test_early.c $(AGENT_TOUT)/libearly.so $(AGENT_TDIR)/agent_test.h $(AGENT_HDRS)
	$(CC) $(AGENT_TCFLAGS) -O1 $< -o $@ -L$(AGENT_TOUT) -learly -Wl,-rpath,'$$ORIGIN' -ldl

$(AGENT_TOUT)/test_stress: $(AGENT_TDIR)/test_stress.c $(AGENT_TDIR)/agent_test.h $(AGENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_TCFLAGS) -O2 $< -o $@ -ldl

$(AGENT_TOUT)/test_sampled: $(AGENT_TDIR)/test_sampled.c $(AGENT_TDIR)/agent_test.h $(AGENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_TCFLAGS) -O2 $< -o $@ -ldl -lm

$(AGENT_TOUT)/test_limit: $(AGENT_TDIR)/test_limit.c
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_TCFLAGS) -O1 $< -o $@

$(AGENT_TOUT)/test_mapped: $(AGENT_TDIR)/test_mapped.c $(AGENT_TDIR)/agent_test.h $(AGENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_TCFLAGS) -O1 $< -o $@ -ldl

# The block table on its own: the test compiles blocks.c in (white box).
$(AGENT_TOUT)/test_table: $(AGENT_TDIR)/test_table.c $(AGENT_DIR)/blocks.c $(AGENT_DIR)/util.c $(AGENT_TDIR)/agent_test.h $(AGENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_TCFLAGS) -O2 -fno-omit-frame-pointer $< -o $@ -ldl

# Optional: only when libjemalloc is installed (apt-get install libjemalloc-dev).
AGENT_JEMALLOC := $(wildcard /usr/lib/x86_64-linux-gnu/libjemalloc.so.2)
$(AGENT_TOUT)/test_jemalloc: $(AGENT_TDIR)/test_jemalloc.c $(AGENT_TDIR)/agent_test.h $(AGENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_TCFLAGS) -O1 $< -o $@ -ldl $(AGENT_JEMALLOC)

agent-test: $(AGENT_SO) $(AGENT_TESTS) $(if $(AGENT_JEMALLOC),$(AGENT_TOUT)/test_jemalloc)
	@sh $(AGENT_TDIR)/run-tests.sh $(AGENT_SO) $(AGENT_TOUT)

agent-clean:
	rm -rf $(AGENT_OUT)
