#include "server/frontend/shared_memory_copy.h"

#include <atomic>
#include <csetjmp>
#include <csignal>
#include <cstring>
#include <mutex>

namespace seqserve {
namespace {

// The copy running on this thread, if any: where the handler jumps back to.
thread_local sigjmp_buf* recovery = nullptr;
struct sigaction previous_handler {};

void OnBusError(int signal, siginfo_t* info, void* context) {
  if (sigjmp_buf* jump = recovery; jump != nullptr) {
    recovery = nullptr;
    siglongjmp(*jump, 1);
  }
  if ((previous_handler.sa_flags & SA_SIGINFO) != 0 && previous_handler.sa_sigaction != nullptr) {
    previous_handler.sa_sigaction(signal, info, context);
    return;
  }
  if (previous_handler.sa_handler != SIG_DFL && previous_handler.sa_handler != SIG_IGN) {
    previous_handler.sa_handler(signal);
    return;
  }
  // Not a copy's: the default action, when the faulting instruction runs again.
  std::signal(SIGBUS, SIG_DFL);
}

void InstallHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = OnBusError;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &previous_handler);
  });
}

bool GuardedCopy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return true;
  InstallHandler();
  sigjmp_buf jump;
  // savemask 1: the jump restores the signal mask, so a later SIGBUS is delivered again.
  if (sigsetjmp(jump, 1) != 0) return false;  // recovery was reset by the handler
  recovery = &jump;
  // Keeps the compiler from moving the copy out from between the two stores the handler reads.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  std::memcpy(dst, src, bytes);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  recovery = nullptr;
  return true;
}

}  // namespace

bool CopyFromSharedMemory(void* dst, const void* src, size_t bytes) {
  return GuardedCopy(dst, src, bytes);
}

bool CopyToSharedMemory(void* dst, const void* src, size_t bytes) {
  return GuardedCopy(dst, src, bytes);
}

}  // namespace seqserve
