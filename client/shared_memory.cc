#include "client/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace seqserve::client {
namespace {

void SetParameters(google::protobuf::Map<std::string, inference::InferParameter>& parameters,
                   std::string_view region, uint64_t offset, uint64_t byte_size) {
  parameters["shared_memory_region"].set_string_param(std::string(region));
  parameters["shared_memory_offset"].set_int64_param(static_cast<int64_t>(offset));
  parameters["shared_memory_byte_size"].set_int64_param(static_cast<int64_t>(byte_size));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SharedMemoryObject>> SharedMemoryObject::Create(
    std::string_view key_view, size_t byte_size) {
  std::string key(key_view);
  if (byte_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared memory object '", key, "': size must be at least 1 byte"));
  }
  const int fd = shm_open(key.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot create shared memory object '",
                                                      key, "': ", std::strerror(errno)));
  }
  if (ftruncate(fd, static_cast<off_t>(byte_size)) != 0) {
    const int error = errno;
    close(fd);
    shm_unlink(key.c_str());
    return absl::ResourceExhaustedError(absl::StrCat("cannot size shared memory object '", key,
                                                     "' to ", byte_size,
                                                     " bytes: ", std::strerror(error)));
  }
  void* mapping = mmap(nullptr, byte_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int error = errno;
  close(fd);  // the mapping keeps the object
  if (mapping == MAP_FAILED) {
    shm_unlink(key.c_str());
    return absl::ResourceExhaustedError(absl::StrCat("cannot map shared memory object '", key,
                                                     "': ", std::strerror(error)));
  }
  return std::unique_ptr<SharedMemoryObject>(
      new SharedMemoryObject(std::move(key), byte_size, static_cast<std::byte*>(mapping)));
}

SharedMemoryObject::~SharedMemoryObject() {
  munmap(data_, byte_size_);
  shm_unlink(key_.c_str());
}

void SetSharedMemoryInput(inference::ModelInferRequest& request, int input_index,
                          std::string_view region, uint64_t offset, uint64_t byte_size) {
  inference::ModelInferRequest::InferInputTensor* input = request.mutable_inputs(input_index);
  input->clear_contents();
  if (request.raw_input_contents_size() > input_index) {
    request.mutable_raw_input_contents()->DeleteSubrange(input_index, 1);
  }
  SetParameters(*input->mutable_parameters(), region, offset, byte_size);
}

void SetSharedMemoryOutput(inference::ModelInferRequest& request, std::string_view output_name,
                           std::string_view region, uint64_t offset, uint64_t byte_size) {
  inference::ModelInferRequest::InferRequestedOutputTensor* output = nullptr;
  for (auto& requested : *request.mutable_outputs()) {
    if (requested.name() == output_name) output = &requested;
  }
  if (output == nullptr) {
    output = request.add_outputs();
    output->set_name(std::string(output_name));
  }
  SetParameters(*output->mutable_parameters(), region, offset, byte_size);
}

}  // namespace seqserve::client
