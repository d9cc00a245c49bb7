#include "core/modules/reshape.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/module_args.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using Kind = SeqValue::Kind;

// PyTorch prints an int list as "[2, -1]".
std::string ListToString(const std::vector<int64_t>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ", "), "]");
}

std::string WithInput(absl::string_view message, const Shape& in) {
  return absl::StrCat(message, " for input of shape ", ShapeToString(in));
}

// A pure view: the output is the input's elements in the same order under a new shape.
absl::StatusOr<PlanValue> CompileView(PlanBuilder& builder, const PlanValue& in, Shape out) {
  // Keep the incoming layout when nothing changes (Flatten(2, 2), Unflatten(1, (C,))).
  if (out == in.shape) return in;
  return builder.Reshape(in, std::move(out), in.md.data_type());
}

class Flatten : public Module {
 public:
  Flatten(int64_t start_dim, int64_t end_dim) : start_dim_(start_dim), end_dim_(end_dim) {}

  std::string_view type() const override { return "Flatten"; }
  bool PassesInt8Through(const Shape& /*in*/) const override { return true; }

  std::optional<MagnitudeBound> OutputBound(const Shape& /*in*/,
                                            const Fusion& /*fusion*/) const override {
    return MagnitudeBound{1, 0};  // the same elements
  }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    const int rank = static_cast<int>(in.size());
    absl::StatusOr<int> start = WrapDimOrError(start_dim_, rank, /*wrap_scalar=*/true);
    if (!start.ok()) return absl::InvalidArgumentError(WithInput(start.status().message(), in));
    absl::StatusOr<int> end = WrapDimOrError(end_dim_, rank, /*wrap_scalar=*/true);
    if (!end.ok()) return absl::InvalidArgumentError(WithInput(end.status().message(), in));
    if (*start > *end) {
      return absl::InvalidArgumentError(WithInput(
          absl::StrCat(
              "flatten() has invalid args: start_dim cannot come after end_dim (start_dim=",
              start_dim_, ", end_dim=", end_dim_, ")"),
          in));
    }
    if (rank == 0) return Shape{1};
    Shape out(in.begin(), in.begin() + *start);
    int64_t merged = 1;
    for (int d = *start; d <= *end; ++d) merged *= in[d];
    out.push_back(merged);
    out.insert(out.end(), in.begin() + *end + 1, in.end());
    return out;
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(Shape out, OutputShape(in.shape));
    return CompileView(builder, in, std::move(out));
  }

 private:
  int64_t start_dim_;
  int64_t end_dim_;
};

class Unflatten : public Module {
 public:
  // `sizes` is non-empty, holds at most one -1 and no other negative value (checked at load,
  // since PyTorch rejects those for every input).
  Unflatten(int64_t dim, std::vector<int64_t> sizes) : dim_(dim), sizes_(std::move(sizes)) {}

  std::string_view type() const override { return "Unflatten"; }
  bool PassesInt8Through(const Shape& /*in*/) const override { return true; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    const int rank = static_cast<int>(in.size());
    absl::StatusOr<int> dim = WrapDimOrError(dim_, rank, /*wrap_scalar=*/false);
    if (!dim.ok()) return absl::InvalidArgumentError(WithInput(dim.status().message(), in));
    const int64_t size = in[*dim];
    // at::infer_size: the product of the known sizes must equal the dim's size, or divide it
    // when one size is -1.
    int64_t known = 1;
    int inferred = -1;
    for (size_t i = 0; i < sizes_.size(); ++i) {
      if (sizes_[i] == -1) {
        inferred = static_cast<int>(i);
      } else {
        known *= sizes_[i];
      }
    }
    if (size != known && !(inferred >= 0 && known > 0 && size % known == 0)) {
      return absl::InvalidArgumentError(
          WithInput(absl::StrCat("unflatten: Provided sizes ", ListToString(sizes_),
                                 " don't multiply up to the size of dim ", *dim, " (", size,
                                 ") in the input tensor"),
                    in));
    }
    std::vector<int64_t> resolved = sizes_;
    if (inferred >= 0) {
      if (known == 0) {  // then size is 0 too, and any value of -1 would fit
        return absl::InvalidArgumentError(WithInput(
            absl::StrCat("cannot reshape tensor of 0 elements into shape ", ListToString(sizes_),
                         " because the unspecified dimension size -1 can be any value and is "
                         "ambiguous"),
            in));
      }
      resolved[inferred] = size / known;
    }
    Shape out(in.begin(), in.begin() + *dim);
    out.insert(out.end(), resolved.begin(), resolved.end());
    out.insert(out.end(), in.begin() + *dim + 1, in.end());
    return out;
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(Shape out, OutputShape(in.shape));
    return CompileView(builder, in, std::move(out));
  }

 private:
  int64_t dim_;
  std::vector<int64_t> sizes_;
};

// `unflattened_size` as Unflatten._require_tuple_int reads it: a tuple or list of ints
// (bools count, being ints in Python), or torch.Size([...]).
absl::StatusOr<std::vector<int64_t>> UnflattenedSize(const ModuleArgs& args) {
  const SeqValue* value = &args.Get("unflattened_size");
  if (value->kind == Kind::kCall && value->call != nullptr && value->call->receiver == nullptr &&
      (value->call->name == "torch.Size" || value->call->name == "Size") &&
      value->call->args.size() == 1 && value->call->kwargs.empty()) {
    value = &value->call->args[0];
  }
  if (value->kind != Kind::kTuple && value->kind != Kind::kList) {
    return args.Error("unflattened_size",
                      absl::StrCat("unflattened_size must be a tuple of ints, but found type ",
                                   value->Describe()));
  }
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < value->items.size(); ++i) {
    const SeqValue& item = value->items[i];
    if (item.kind == Kind::kInt) {
      sizes.push_back(item.int_value);
    } else if (item.kind == Kind::kBool) {
      sizes.push_back(item.bool_value ? 1 : 0);
    } else {
      return args.Error("unflattened_size",
                        absl::StrCat("unflattened_size must be tuple of ints, but found element "
                                     "of type ",
                                     item.Describe(), " at pos ", i));
    }
  }
  return sizes;
}

}  // namespace

absl::StatusOr<int> WrapDimOrError(int64_t dim, int rank, bool wrap_scalar) {
  if (rank == 0 && !wrap_scalar && (dim == 0 || dim == -1)) {
    return absl::InvalidArgumentError("Dimension specified as 0 but tensor has no dimensions");
  }
  const int effective_rank = rank == 0 ? 1 : rank;
  const int wrapped = WrapDim(dim, effective_rank);
  if (wrapped < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Dimension out of range (expected to be in "
                     "range of [",
                     -effective_rank, ", ", effective_rank - 1, "], but got ", dim, ")"));
  }
  return wrapped;
}

absl::StatusOr<std::unique_ptr<Module>> MakeFlatten(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "Flatten", {Default("start_dim", 1), Default("end_dim", -1)}, file));
  SEQ_ASSIGN_OR_RETURN(int64_t start_dim, args.Int("start_dim"));
  SEQ_ASSIGN_OR_RETURN(int64_t end_dim, args.Int("end_dim"));
  return std::make_unique<Flatten>(start_dim, end_dim);
}

absl::StatusOr<std::unique_ptr<Module>> MakeUnflatten(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "Unflatten", {Required("dim"), Required("unflattened_size")}, file));
  if (args.IsString("dim")) {
    // PyTorch would unflatten a named dimension; request tensors carry no names, so its
    // forward fails with "Name '...' not found" on every input.
    return args.Error("dim",
                      "named dimensions are not supported: inputs carry no dimension "
                      "names, so PyTorch itself fails with \"Name '" +
                          args.Get("dim").string_value + "' not found\"");
  }
  if (args.Get("dim").kind != Kind::kInt) {
    return args.Error("dim", absl::StrCat("invalid argument type for dim parameter (expected int, "
                                          "got ",
                                          args.Get("dim").Describe(), ")"));
  }
  SEQ_ASSIGN_OR_RETURN(int64_t dim, args.Int("dim"));
  SEQ_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, UnflattenedSize(args));
  // Checks PyTorch's forward makes before looking at the input, so they fail for every input.
  if (sizes.empty()) return args.Error("unflattened_size", "unflatten: sizes must be non-empty");
  bool seen_inferred = false;
  for (int64_t size : sizes) {
    if (size == -1) {
      if (seen_inferred) {
        return args.Error(
            "unflattened_size",
            absl::StrCat("only one dimension can be inferred (got ", ListToString(sizes), ")"));
      }
      seen_inferred = true;
    } else if (size < 0) {
      return args.Error("unflattened_size", absl::StrCat("invalid shape dimension ", size));
    }
  }
  return std::make_unique<Unflatten>(dim, std::move(sizes));
}

}  // namespace seqserve
