#include "core/seq_ast.h"

#include "absl/strings/str_cat.h"

namespace seqserve {

std::string SeqValue::Describe() const {
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kTuple: return "tuple";
    case Kind::kList: return "list";
    case Kind::kName: return absl::StrCat("name '", string_value, "'");
    case Kind::kCall: {
      if (call == nullptr) return "call";
      // "call to Conv2d" whether the user wrote Conv2d, nn.Conv2d or torch.nn.Conv2d.
      absl::string_view name = call->name;
      size_t dot = name.rfind('.');
      return absl::StrCat("call to ", dot == absl::string_view::npos ? name : name.substr(dot + 1));
    }
  }
  return "?";
}

}  // namespace seqserve
