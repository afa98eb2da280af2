// C++ operator new reaches malloc through the PLT: the stack shows
// operator new, then the function that said `new`.
#include <string>
#include <vector>
#include "agent_test.h"

struct Widget {
    char payload[200];
    Widget() { payload[0] = 1; }
};

volatile uintptr_t sink;

__attribute__((noinline)) Widget *make_widget()
{
    Widget *w = new Widget;
    sink = (uintptr_t)w;
    return w;
}

int main()
{
    const struct drip_agent_state *s = agent_state();
    Widget *w = make_widget();
    uint64_t meta = 0;
    const uint64_t *f;
    CHECK(find_block(s, w, &meta), "new'd block tracked");
    CHECK(DRIP_AGENT_SLOT_SIZE(meta) == sizeof(Widget), "size %llu", (unsigned long long)DRIP_AGENT_SLOT_SIZE(meta));
    uint32_t n = stack_frames(s, DRIP_AGENT_SLOT_STACK(meta), &f);
    int at_new = frame_index(f, n, "_Znwm");
    int at_make = frame_index(f, n, "_Z11make_widgetv");
    int at_main = frame_index(f, n, "main");
    CHECK(at_new == 0 && at_make == 1 && at_main > at_make, "operator new, make_widget, main: %d %d %d", at_new, at_make, at_main);
    if (at_make != 1)
        print_stack(f, n);
    struct totals a, b;
    totals(s, &a);
    delete w;
    totals(s, &b);
    CHECK(b.frees - a.frees == 1 && a.table_blocks - b.table_blocks == 1, "delete removes the block");
    std::vector<std::string> v;
    for (int i = 0; i < 100; i++)
        v.push_back(std::string(100, 'x'));
    totals(s, &b);
    CHECK(b.mallocs - a.mallocs >= 100, "std::string allocations counted");
    return test_done("test_cxx");
}
