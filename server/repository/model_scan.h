// What the repository reads from disk, and nothing else: the model directories of its roots,
// and for one model its config.pbtxt (parsed, with its version policy), its version
// directories, and a signature of every file a version's load depends on — so that a poll can
// tell a changed version from an unchanged one without loading it.
// Thread-safe: functions that only read the filesystem; the structs are plain values.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/safe_file.h"
#include "proto/model_config.pb.h"
#include "server/config/version_policy.h"

namespace seqserve {

// The files of a model directory.
inline constexpr char kConfigFile[] = "config.pbtxt";
inline constexpr char kSeqFile[] = "model.seq";
inline constexpr char kWeightsFile[] = "model.safetensors";

// Model directories by name, each with every root that holds one of that name.
using ModelDirs = std::map<std::string, std::vector<std::filesystem::path>>;

// The subdirectories of every root. Hidden ones (".git", editors' temporaries) are not
// models. NOT_FOUND naming a root that is not a directory.
absl::StatusOr<ModelDirs> ScanRoots(const std::vector<std::filesystem::path>& roots);

// As Triton, a model name must be unique across the roots (which one to serve would
// otherwise depend on the order of the flags): INVALID_ARGUMENT naming both paths.
absl::Status CheckUnique(const ModelDirs& dirs);
absl::Status DuplicateError(const std::string& name,
                            const std::vector<std::filesystem::path>& paths);

// What a file looked like when a load read it, to tell whether it changed since: size,
// modification time and inode (a file replaced by rename is a new inode even when size and
// mtime agree), plus a content hash for the small text files (model.seq, config.pbtxt).
struct FileSignature {
  bool exists = false;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  uint64_t content_hash = 0;
  bool operator==(const FileSignature&) const = default;
};

// The files one version's load depends on.
struct VersionSignature {
  FileSignature config;  // the model's config.pbtxt
  FileSignature seq;
  FileSignature weights;
  bool operator==(const VersionSignature&) const = default;
};

// The signature of `file` as it is now (`exists` false for a missing file). The content is
// hashed only when `hash_content` and the file is a small (1 MiB at most) regular file.
FileSignature ReadSignature(const std::filesystem::path& file, bool hash_content);

// One model directory as it is on disk.
struct DiskModel {
  std::string name;
  std::filesystem::path dir;
  FileSignature config_signature;
  // The parsed config.pbtxt (an empty config when there is none), or why it cannot be read.
  absl::StatusOr<inference::ModelConfig> config;
  // Its version policy, or the error of the config or of the policy.
  absl::StatusOr<VersionPolicy> policy;
  // The version directories, ascending, each with the signature of its files.
  std::vector<int64_t> versions;
  std::map<int64_t, VersionSignature> signatures;
};

// Reads the model directory `dir`: config.pbtxt as `config_policy` says (size, where symlinks
// may lead), the version directories and their signatures. Never throws: whatever goes wrong
// is the model's config error.
DiskModel ReadDiskModel(const std::string& name, const std::filesystem::path& dir,
                        const FilePolicy& config_policy);

}  // namespace seqserve
