// C++ fixture for DripSymbolsTests: a namespaced member function, to check
// llvm-symbolizer's demangling gives `ns::Widget::make(int)`.
#include <cstdio>

namespace ns {
struct Widget {
    int value;
    static Widget *make(int value);
};

__attribute__((noinline)) Widget *Widget::make(int value) { // LINE:ns::Widget::make
    return new Widget{value};
}
} // namespace ns

int main() {
    std::printf("func %p\n", reinterpret_cast<void *>(&ns::Widget::make));
    std::fflush(stdout);
    while (std::getchar() != EOF) {}
    delete ns::Widget::make(1);
    return 0;
}
