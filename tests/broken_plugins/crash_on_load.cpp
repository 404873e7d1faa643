// A library that crashes while it is being loaded (a static initialiser dereferencing null):
// the host must refuse it, having tried it in a throw-away worker process, and keep going.
#include <csignal>

namespace {
int crash_now() {
    std::raise(SIGSEGV);
    return 0;
}
[[maybe_unused]] const int crashed = crash_now();
}  // namespace
