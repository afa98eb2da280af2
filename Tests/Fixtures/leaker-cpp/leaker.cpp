// leaker-cpp: leaks C++ objects through operator new from a namespaced
// function. The tests compile it with g++ and check the demangled caller.
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

namespace shop {
struct Order {
    long id;
    double price;
    char note[32];
};  // 48 bytes

int line_order;

__attribute__((noinline)) Order *place_order(long id) {
    line_order = __LINE__; Order *o = new Order{id, 9.5, {}};
    std::snprintf(o->note, sizeof o->note, "order %ld", id);
    return o;
}
}  // namespace shop

std::vector<shop::Order *> kept;

int main() {
    kept.reserve(1000);
    for (long i = 0; i < 25; i++) kept.push_back(shop::place_order(i));
    std::printf("line_order=%d sizeof_order=%zu\n", shop::line_order, sizeof(shop::Order));
    std::printf("ready pid=%d\n", getpid());
    std::fflush(stdout);
    char line[256];
    while (std::fgets(line, sizeof line, stdin)) {
        if (!std::strncmp(line, "quit", 4)) break;
    }
    return 0;
}
