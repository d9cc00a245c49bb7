// Copies between a client's shared memory region and the server's own memory that survive
// the client shrinking its object meanwhile. A page of a mapping past the end of its object
// raises SIGBUS when touched, which would kill the server; a client can truncate its object
// at any moment, also between the registry's size check and the copy. So every byte read
// from or written to a region goes through these: the copy runs with a recovery point of its
// thread, and the SIGBUS handler (installed once, on first use) jumps back to it, making the
// copy return false. A SIGBUS anywhere else goes on to the handler that was there before, or
// to the default action (the process ends, as it would have).
// Thread-safe: each thread has its own recovery point.
#pragma once

#include <cstddef>

namespace seqserve {

// memcpy(dst, src, bytes) with `src` in a region; false when the region's object shrank
// under it (dst then holds part of the bytes).
bool CopyFromSharedMemory(void* dst, const void* src, size_t bytes);

// memcpy(dst, src, bytes) with `dst` in a region; false likewise.
bool CopyToSharedMemory(void* dst, const void* src, size_t bytes);

}  // namespace seqserve
