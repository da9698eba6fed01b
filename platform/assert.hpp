// Assertions for programmer mistakes. They stay on in release builds: a ledger that has
// computed an unbalanced entry must stop rather than write it.
#pragma once

namespace loyalty {

[[noreturn]] void assertion_failed(const char* condition, const char* message, const char* file, int line);

}  // namespace loyalty

#define LOYALTY_ASSERT(condition, message)                                                  \
  do {                                                                                      \
    if (!(condition)) ::loyalty::assertion_failed(#condition, message, __FILE__, __LINE__); \
  } while (false)
