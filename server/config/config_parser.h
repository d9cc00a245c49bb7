// Reads config.pbtxt: the protobuf text format of proto/model_config.proto's ModelConfig
// (Triton's field names and numbers), and the same config as JSON for a load request that
// overrides it. Errors name the position and, for a Triton field seqserve leaves out, say so
// instead of calling it unknown. Completion against the loaded model is model_config.h's job.
// Thread-safe: pure functions.
#pragma once

#include <filesystem>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/safe_file.h"
#include "proto/model_config.pb.h"

namespace seqserve {

// Parses `config_pbtxt`, read as `policy` says (a regular file of bounded size, maybe
// confined to its repository: common/safe_file.h). Errors read "config.pbtxt:LINE:COL: ..."
// (1-based); a Triton field seqserve does not implement is named: "config.pbtxt:3:1: field
// 'backend' is not supported by seqserve". The only text of the file an error quotes is the
// offending token, cut to 40 characters. NOT_FOUND when the file does not exist.
absl::StatusOr<inference::ModelConfig> ParseModelConfig(const std::filesystem::path& config_pbtxt,
                                                        const FilePolicy& policy = {});

// The same from text already in memory; `file_name` prefixes the errors.
absl::StatusOr<inference::ModelConfig> ParseModelConfigText(std::string_view text,
                                                            std::string_view file_name);

// A ModelConfig in protobuf's JSON form (Triton's field names, as tritonclient's
// load_model(config=...) sends it). Unknown fields are errors; `source` prefixes them.
absl::StatusOr<inference::ModelConfig> ParseModelConfigJson(std::string_view json,
                                                            std::string_view source);

}  // namespace seqserve
