// new_handler.cpp: the one place libmalloc catches a C++ exception. The
// nothrow forms of operator new call the new-handler as the throwing forms
// do, and libstdc++'s return nullptr when it throws (std::bad_alloc, as the
// standard asks of a handler that gives up); called from a noexcept
// function without a catch, that exception ended the program in
// std::terminate. Built with -fexceptions, alone: the rest of libmalloc
// has none. The C++ runtime's catch support is referenced weakly, like
// api.cpp's std::get_new_handler, so libmalloc still loads into C programs
// (which have no new-handler, so this is never called there).
#include <new>

#include "base/base.h"

extern "C" {
void* __cxa_begin_catch(void*) noexcept __attribute__((weak));
void __cxa_end_catch() __attribute__((weak));
}
// The compiler refers to the personality routine itself, from the unwind
// tables: only the assembler can make that reference weak.
__asm__(".weak __gxx_personality_v0");

namespace lm::api {

// Calls the handler; false when it threw.
LM_SLOW_PATH bool call_new_handler_nothrow(std::new_handler handler) noexcept {
  try {
    handler();
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace lm::api
