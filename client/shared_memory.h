// The client side of Triton's system shared memory extension: a POSIX shared memory object
// owned by this process (created, mapped, unlinked when destroyed) and the request
// parameters that put a tensor in a registered region instead of in the message. Register the
// object's region with Client::RegisterSystemSharedMemory; the server then reads inputs from,
// and writes outputs to, the same bytes this process sees in data().
// Thread-safety: a SharedMemoryObject is not synchronised; its bytes are shared with the
// server, so write an input before sending the request and read an output after the reply.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "proto/grpc_service.pb.h"

namespace seqserve::client {

class SharedMemoryObject {
 public:
  // Creates the object `key` ("/name", which must not exist yet) of `byte_size` bytes, zero
  // filled, readable and writable by this user only, and maps it. The error names the key.
  static absl::StatusOr<std::unique_ptr<SharedMemoryObject>> Create(std::string_view key,
                                                                    size_t byte_size);
  ~SharedMemoryObject();  // unmaps and unlinks

  SharedMemoryObject(const SharedMemoryObject&) = delete;
  SharedMemoryObject& operator=(const SharedMemoryObject&) = delete;

  const std::string& key() const { return key_; }
  size_t size() const { return byte_size_; }
  std::byte* data() const { return data_; }

 private:
  SharedMemoryObject(std::string key, size_t byte_size, std::byte* data)
      : key_(std::move(key)), byte_size_(byte_size), data_(data) {}

  const std::string key_;
  const size_t byte_size_;
  std::byte* const data_;
};

// Makes input `input_index` of `request` come from `byte_size` bytes at `offset` of
// registered region `region` (Triton's shared_memory_* parameters), dropping its contents and
// its raw_input_contents entry (which must then be the last one, as MakeInferRequest makes).
void SetSharedMemoryInput(inference::ModelInferRequest& request, int input_index,
                          std::string_view region, uint64_t offset, uint64_t byte_size);

// Asks for output `output_name` to be written to `byte_size` bytes at `offset` of `region`:
// the reply then carries its name, datatype and shape but no data.
void SetSharedMemoryOutput(inference::ModelInferRequest& request, std::string_view output_name,
                           std::string_view region, uint64_t offset, uint64_t byte_size);

}  // namespace seqserve::client
