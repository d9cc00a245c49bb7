#include "core/modules/identity.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"

namespace seqserve {
namespace {

class IdentityModule : public Module {
 public:
  // `ranks`: the input ranks the module accepts (empty: any), as for Dropout1d.
  IdentityModule(std::string type, std::vector<int> ranks)
      : type_(std::move(type)), ranks_(std::move(ranks)) {}

  std::string_view type() const override { return type_; }
  bool IsIdentity() const override { return true; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    if (ranks_.empty()) return in;
    for (int rank : ranks_) {
      if (static_cast<int>(in.size()) == rank) return in;
    }
    return absl::InvalidArgumentError(absl::StrCat("expected a 2D or 3D input, got ",
                                                   in.size(), "D input ", ShapeToString(in)));
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& /*builder*/, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    return in;
  }

 private:
  std::string type_;
  std::vector<int> ranks_;
};

// Dropout-like modules: (p=0.5, inplace=False); p must be a probability.
absl::StatusOr<std::unique_ptr<Module>> MakeDropoutLike(const SeqCall& call, std::string_view file,
                                                        std::string type, std::vector<int> ranks) {
  absl::StatusOr<ModuleArgs> args = ModuleArgs::Bind(
      call, type, {Default("p", FloatValue(0.5)), Default("inplace", BoolValue(false))}, file);
  if (!args.ok()) return args.status();
  absl::StatusOr<double> p = args->Float("p");
  if (!p.ok()) return p.status();
  if (!(*p >= 0 && *p <= 1)) {
    return args->Error("p", absl::StrCat("dropout probability has to be between 0 and 1, but got ",
                                         *p));
  }
  if (absl::StatusOr<bool> inplace = args->Bool("inplace"); !inplace.ok()) return inplace.status();
  return std::make_unique<IdentityModule>(std::move(type), std::move(ranks));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeIdentity(const SeqCall& /*call*/,
                                                     std::string_view /*file*/) {
  return std::make_unique<IdentityModule>("Identity", std::vector<int>{});
}

absl::StatusOr<std::unique_ptr<Module>> MakeDropout(const SeqCall& call, std::string_view file) {
  return MakeDropoutLike(call, file, "Dropout", {});
}

absl::StatusOr<std::unique_ptr<Module>> MakeDropout1d(const SeqCall& call, std::string_view file) {
  return MakeDropoutLike(call, file, "Dropout1d", {2, 3});
}

absl::StatusOr<std::unique_ptr<Module>> MakeDropout2d(const SeqCall& call, std::string_view file) {
  return MakeDropoutLike(call, file, "Dropout2d", {});
}

absl::StatusOr<std::unique_ptr<Module>> MakeAlphaDropout(const SeqCall& call,
                                                         std::string_view file) {
  return MakeDropoutLike(call, file, "AlphaDropout", {});
}

// PyTorch 2.x only warns when Dropout3d's input is not 4-D or 5-D, and returns it in eval.
absl::StatusOr<std::unique_ptr<Module>> MakeDropout3d(const SeqCall& call, std::string_view file) {
  return MakeDropoutLike(call, file, "Dropout3d", {});
}

absl::StatusOr<std::unique_ptr<Module>> MakeFeatureAlphaDropout(const SeqCall& call,
                                                                std::string_view file) {
  return MakeDropoutLike(call, file, "FeatureAlphaDropout", {});
}

}  // namespace seqserve
