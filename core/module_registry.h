// The table of nn.* module types model.seq may use, each with its factory. An explicit
// table (not self-registering statics, which the linker drops from static libraries).
// Immutable; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

// Builds a module from its call in model.seq (binding and validating the arguments);
// `file` is the name used in error messages.
using ModuleFactory = absl::StatusOr<std::unique_ptr<Module>> (*)(const SeqCall& call,
                                                                  std::string_view file);

// The factory for a type name without prefix ("Conv2d"), or nullptr.
ModuleFactory FindModuleFactory(std::string_view type);

// Every supported type except Sequential, in table order.
std::vector<std::string> ModuleTypes();

}  // namespace seqserve
