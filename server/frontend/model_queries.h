// The answers both front ends give to the KServe v2 / Triton queries and repository
// requests, as the protocol's protobuf messages: gRPC sends them as they are, REST as JSON
// (server/http/proto_json.h). One implementation, so the two protocols cannot drift apart.
// Errors follow SPEC §7: NOT_FOUND for an unknown model or version, UNAVAILABLE with the
// load error for a version that cannot serve, INVALID_ARGUMENT for a malformed version or
// parameter, FAILED_PRECONDITION for repository changes in control mode none.
// Thread-safe: the functions only read the repository (ModelRepository is thread-safe);
// ChangeTraceSettings changes the Tracer's settings, which is thread-safe too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/grpc_service.pb.h"
#include "server/repository/model_repository.h"
#include "server/tracing/tracer.h"

namespace seqserve {

// name "seqserve", the build's version and the Triton extensions common to both protocols
// (system_shared_memory when `shared_memory`, the server runs with --allow-shared-memory;
// trace when `trace`, it runs with --trace-file).
inference::ServerMetadataResponse GetServerMetadata(bool shared_memory, bool trace);

// Whether the version serves (`version` as in the request: "" = the latest): NOT_FOUND for
// an unknown model or version; false while it loads, failed or the server shuts down.
absl::StatusOr<bool> GetModelReady(const ModelRepository& repository, std::string_view name,
                                   std::string_view version, bool shutting_down);

absl::StatusOr<inference::ModelMetadataResponse> GetModelMetadata(const ModelRepository& repository,
                                                                  std::string_view name,
                                                                  std::string_view version);

// The completed (effective) serving config.
absl::StatusOr<inference::ModelConfig> GetModelConfig(const ModelRepository& repository,
                                                      std::string_view name,
                                                      std::string_view version);

// Triton's ModelStatistics: one version, every ready version of `name`, or (name empty)
// of every model. Counters live with a loaded version, so a reload starts them from zero.
absl::StatusOr<inference::ModelStatisticsResponse> GetModelStatistics(
    const ModelRepository& repository, std::string_view name, std::string_view version);

// Triton's RepositoryIndex; `repository_name` must be empty (seqserve serves its
// repositories as one).
absl::StatusOr<inference::RepositoryIndexResponse> GetRepositoryIndex(
    const ModelRepository& repository, std::string_view repository_name, bool ready_only);

// A load or unload request's parameters, as its front end decoded them.
struct RepositoryChangeParameters {
  // Every parameter the request named.
  std::vector<std::string> names;
  // Triton's "config" of a load, when it is a string: the model's configuration as JSON, in
  // place of its config.pbtxt (ModelRepository::Load).
  std::optional<std::string> config;
};

// Whether a load (`load`) or unload of `model_name` with these parameters may go ahead: the
// repository name is empty, the model name is not, the control mode allows it, and the
// parameters are ones seqserve honours: "config" (a string) for a load, unload_dependents for
// an unload. Triton's "file:" parameters, which carry model files in the request, are
// refused: seqserve loads model files from its repository only.
// Triton's trace extension (tracing/tracer.h): applies `update` (nothing: only reads) to the
// global trace settings (`model_name` empty) or to those of a model the repository knows
// (NOT_FOUND otherwise, as for every query naming a model), and returns the settings then in
// force there. `tracer` null: TracingOffError.
absl::StatusOr<TraceSettingList> ChangeTraceSettings(const ModelRepository& repository,
                                                     Tracer* tracer, std::string_view model_name,
                                                     const TraceSettingUpdate& update);

absl::Status CheckRepositoryChange(const ModelRepository& repository,
                                   std::string_view repository_name, std::string_view model_name,
                                   bool load, const RepositoryChangeParameters& parameters);

}  // namespace seqserve
