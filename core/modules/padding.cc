#include "core/modules/padding.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/modules/conv_common.h"
#include "core/modules/spatial_pad.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

struct PadOptions {
  std::string type;
  PadMode mode = PadMode::kConstant;
  int class_dims = 1;           // the 1/2/3 of the class name
  std::vector<int64_t> before;  // per padded dim, the first padded dim first
  std::vector<int64_t> after;
  float value = 0.f;
};

// "(C, H, W)": the names of an unbatched input with `dims` padded dims.
std::string DimNames(size_t dims, bool batched) {
  static constexpr const char* kNames[] = {"D", "H", "W"};
  std::string text = batched ? "(N, C" : "(C";
  for (size_t i = 3 - std::min<size_t>(dims, 3); i < 3; ++i) absl::StrAppend(&text, ", ", kNames[i]);
  return text + ")";
}

class Pad : public Module {
 public:
  explicit Pad(PadOptions options) : o_(std::move(options)) {}

  std::string_view type() const override { return o_.type; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    const size_t dims = o_.before.size();
    const size_t rank = in.size();
    if (o_.mode == PadMode::kConstant) {
      if (rank < dims) {
        return absl::InvalidArgumentError(
            absl::StrCat("expected an input with at least ", dims, " dims for ", 2 * dims,
                         " padding values, got ", ShapeToString(in)));
      }
    } else {
      const size_t class_dims = static_cast<size_t>(o_.class_dims);
      if (o_.mode == PadMode::kCircular && rank != class_dims + 1 && rank != class_dims + 2) {
        // CircularPad*d's own check, before F.pad's.
        return absl::InvalidArgumentError(absl::StrCat(
            "expected ", class_dims + 1, "D ", DimNames(class_dims, false), " or ", class_dims + 2,
            "D ", DimNames(class_dims, true), " input, got ", ShapeToString(in)));
      }
      const bool batched = rank == dims + 2;
      bool ok = rank == dims + 1 || batched;
      if (ok && o_.mode != PadMode::kCircular) {
        // The batch may be empty, no other dim.
        for (size_t d = batched ? 1 : 0; d < rank; ++d) ok = ok && in[d] != 0;
      }
      if (!ok) {
        return absl::InvalidArgumentError(absl::StrCat(
            "expected ", dims + 1, "D ", DimNames(dims, false), " or ", dims + 2, "D ",
            DimNames(dims, true), " input",
            o_.mode == PadMode::kCircular ? "" : " with non-zero sizes (but the batch)", " for ",
            2 * dims, " padding values, got ", ShapeToString(in)));
      }
    }
    SEQ_RETURN_IF_ERROR(CheckSpatialPad(in, o_.mode, o_.before, o_.after));
    return PaddedShape(in, o_.before, o_.after);
  }

  // Pure data movement.
  int64_t Flops(const Shape& /*in*/) const override { return 0; }

  // Only the modes other than constant fix the rank.
  std::optional<Shape> InputDims() const override {
    if (o_.mode == PadMode::kConstant) return std::nullopt;
    return Shape(o_.before.size() + 1, -1);
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(Shape out_shape, OutputShape(in.shape));
    const bool nothing = std::all_of(o_.before.begin(), o_.before.end(), [](int64_t p) { return p == 0; }) &&
                         std::all_of(o_.after.begin(), o_.after.end(), [](int64_t p) { return p == 0; });
    if (nothing) return in;
    return AddSpatialPad(builder, in, o_.mode, o_.before, o_.after, o_.value);
  }

 private:
  PadOptions o_;
};

// `padding` as F.pad takes it: an int for both sides of all `class_dims` dims, or a tuple
// of (left, right) pairs from the last dim backwards, of any even length.
absl::Status ReadPadding(const ModuleArgs& args, PadOptions& o) {
  std::vector<int64_t> pad;
  const SeqValue& v = args.Get("padding");
  if (v.kind == SeqValue::Kind::kInt) {
    pad.assign(2 * static_cast<size_t>(o.class_dims), v.int_value);
  } else {
    SEQ_ASSIGN_OR_RETURN(pad, args.IntList("padding"));
    if (pad.size() % 2 != 0) {
      return args.Error("padding", absl::StrCat("Padding length must be divisible by 2, got ",
                                                TupleRepr(pad)));
    }
  }
  if (o.mode != PadMode::kConstant && (pad.empty() || pad.size() > 6)) {
    return args.Error("padding", absl::StrCat("expected 2, 4 or 6 values (F.pad pads 1 to 3 dims "
                                              "in mode '",
                                              std::string(PadModeName(o.mode)), "'), got ",
                                              pad.empty() ? "()" : TupleRepr(pad)));
  }
  const size_t dims = pad.size() / 2;
  for (size_t i = 0; i < dims; ++i) {
    // Pair k of the tuple pads the k-th dim from the end.
    o.before.push_back(pad[2 * (dims - 1 - i)]);
    o.after.push_back(pad[2 * (dims - 1 - i) + 1]);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Module>> MakePad(const SeqCall& call, std::string_view file,
                                                std::string type, PadMode mode, int class_dims,
                                                bool takes_value) {
  std::vector<ArgSpec> signature = {Required("padding")};
  if (takes_value) signature.push_back(Required("value"));
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args, ModuleArgs::Bind(call, type, signature, file));
  PadOptions o;
  o.type = std::move(type);
  o.mode = mode;
  o.class_dims = class_dims;
  if (takes_value) {
    SEQ_ASSIGN_OR_RETURN(double value, args.Float("value"));
    o.value = static_cast<float>(value);
  }
  SEQ_RETURN_IF_ERROR(ReadPadding(args, o));
  return std::make_unique<Pad>(std::move(o));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeZeroPad1d(const SeqCall& call, std::string_view file) {
  return MakePad(call, file, "ZeroPad1d", PadMode::kConstant, 1, false);
}
absl::StatusOr<std::unique_ptr<Module>> MakeZeroPad2d(const SeqCall& call, std::string_view file) {
  return MakePad(call, file, "ZeroPad2d", PadMode::kConstant, 2, false);
}
absl::StatusOr<std::unique_ptr<Module>> MakeZeroPad3d(const SeqCall& call, std::string_view file) {
  return MakePad(call, file, "ZeroPad3d", PadMode::kConstant, 3, false);
}
absl::StatusOr<std::unique_ptr<Module>> MakeConstantPad1d(const SeqCall& call,
                                                          std::string_view file) {
  return MakePad(call, file, "ConstantPad1d", PadMode::kConstant, 1, true);
}
absl::StatusOr<std::unique_ptr<Module>> MakeConstantPad2d(const SeqCall& call,
                                                          std::string_view file) {
  return MakePad(call, file, "ConstantPad2d", PadMode::kConstant, 2, true);
}
absl::StatusOr<std::unique_ptr<Module>> MakeConstantPad3d(const SeqCall& call,
                                                          std::string_view file) {
  return MakePad(call, file, "ConstantPad3d", PadMode::kConstant, 3, true);
}
absl::StatusOr<std::unique_ptr<Module>> MakeReflectionPad1d(const SeqCall& call,
                                                            std::string_view file) {
  return MakePad(call, file, "ReflectionPad1d", PadMode::kReflect, 1, false);
}
absl::StatusOr<std::unique_ptr<Module>> MakeReflectionPad2d(const SeqCall& call,
                                                            std::string_view file) {
  return MakePad(call, file, "ReflectionPad2d", PadMode::kReflect, 2, false);
}
absl::StatusOr<std::unique_ptr<Module>> MakeReflectionPad3d(const SeqCall& call,
                                                            std::string_view file) {
  return MakePad(call, file, "ReflectionPad3d", PadMode::kReflect, 3, false);
}
absl::StatusOr<std::unique_ptr<Module>> MakeReplicationPad1d(const SeqCall& call,
                                                             std::string_view file) {
  return MakePad(call, file, "ReplicationPad1d", PadMode::kReplicate, 1, false);
}
absl::StatusOr<std::unique_ptr<Module>> MakeReplicationPad2d(const SeqCall& call,
                                                             std::string_view file) {
  return MakePad(call, file, "ReplicationPad2d", PadMode::kReplicate, 2, false);
}
absl::StatusOr<std::unique_ptr<Module>> MakeReplicationPad3d(const SeqCall& call,
                                                             std::string_view file) {
  return MakePad(call, file, "ReplicationPad3d", PadMode::kReplicate, 3, false);
}
absl::StatusOr<std::unique_ptr<Module>> MakeCircularPad1d(const SeqCall& call,
                                                          std::string_view file) {
  return MakePad(call, file, "CircularPad1d", PadMode::kCircular, 1, false);
}
absl::StatusOr<std::unique_ptr<Module>> MakeCircularPad2d(const SeqCall& call,
                                                          std::string_view file) {
  return MakePad(call, file, "CircularPad2d", PadMode::kCircular, 2, false);
}
absl::StatusOr<std::unique_ptr<Module>> MakeCircularPad3d(const SeqCall& call,
                                                          std::string_view file) {
  return MakePad(call, file, "CircularPad3d", PadMode::kCircular, 3, false);
}

}  // namespace seqserve
