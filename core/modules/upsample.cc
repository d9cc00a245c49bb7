#include "core/modules/upsample.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/module_args.h"
#include "core/modules/upsample_kernels.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using Kind = SeqValue::Kind;

enum class Mode { kNearest, kNearestExact, kLinear, kBilinear, kBicubic, kTrilinear, kArea };

struct ModeName {
  std::string_view name;
  Mode mode;
};
constexpr ModeName kModes[] = {
    {"nearest", Mode::kNearest},   {"linear", Mode::kLinear},     {"bilinear", Mode::kBilinear},
    {"bicubic", Mode::kBicubic},   {"trilinear", Mode::kTrilinear}, {"area", Mode::kArea},
    {"nearest-exact", Mode::kNearestExact}};

// Python's repr of a float: 2.0, 0.5, 1e-05.
std::string FloatRepr(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  std::string out(buf, ec == std::errc() ? end : buf);
  if (out.find_first_of(".en") == std::string::npos) out += ".0";
  return out;
}

template <typename T, typename Repr>
std::string TupleRepr(const std::vector<T>& values, Repr repr) {
  std::vector<std::string> parts;
  for (const T& v : values) parts.push_back(repr(v));
  return absl::StrCat("(", absl::StrJoin(parts, ", "), values.size() == 1 ? ",)" : ")");
}

// The dim labels of PyTorch's size checks: (W), (H, W), (D, H, W).
std::string SizesRepr(const std::vector<int64_t>& sizes) {
  static constexpr const char* kLabels[] = {"D", "H", "W"};
  std::vector<std::string> parts;
  for (size_t i = 0; i < sizes.size(); ++i) {
    parts.push_back(absl::StrCat(kLabels[3 - sizes.size() + i], ": ", sizes[i]));
  }
  return absl::StrJoin(parts, ", ");
}

struct UpsampleOptions {
  std::string type;  // Upsample, UpsamplingNearest2d, UpsamplingBilinear2d
  Mode mode = Mode::kNearest;
  std::string mode_name = "nearest";
  // Exactly one of size and scale is set; `*_tuple`: given as a tuple (or list), whose length
  // must match the input's spatial dims, rather than one value for every dim.
  std::optional<std::vector<int64_t>> size;
  bool size_tuple = false;
  std::optional<std::vector<double>> scale;
  bool scale_tuple = false;
  bool align_corners = false;
  bool recompute_scale_factor = false;
};

class Upsample : public Module {
 public:
  explicit Upsample(UpsampleOptions options) : o_(std::move(options)) {}

  std::string_view type() const override { return o_.type; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    SEQ_ASSIGN_OR_RETURN(Resolved r, Resolve(in));
    Shape out = {in[0], in[1]};
    out.insert(out.end(), r.out.begin(), r.out.end());
    return out;
  }

  int64_t Flops(const Shape& in) const override {
    absl::StatusOr<Shape> out = OutputShape(in);
    if (!out.ok()) return 0;
    const int64_t n = NumElements(*out);
    const int64_t dims = static_cast<int64_t>(in.size()) - 2;
    switch (o_.mode) {
      case Mode::kNearest:
      case Mode::kNearestExact: return 0;
      case Mode::kArea: return NumElements(in) + n;
      case Mode::kBicubic: return n * 8 * dims;  // four multiply-adds per axis
      default: return n * 4 * dims;              // two multiply-adds per axis
    }
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(Resolved r, Resolve(in.shape));
    Shape out_shape = {in.shape[0], in.shape[1]};
    out_shape.insert(out_shape.end(), r.out.begin(), r.out.end());
    PlanValue dst = builder.NewValue(out_shape, PlainDesc(out_shape));
    if (NumElements(out_shape) == 0) return dst;  // nothing to compute (e.g. batch 0)
    PlanValue src = builder.Plain(in);
    const std::vector<int64_t> in_spatial(in.shape.begin() + 2, in.shape.end());
    const int64_t planes = in.shape[0] * in.shape[1];
    if (o_.mode == Mode::kArea) {
      builder.AddKernel(AreaKernel(planes, in_spatial, r.out), src, dst);
      return dst;
    }
    // PyTorch 2.1 computes 2-D nearest indices with its channels-last kernel's rules when the
    // output is small (H + W <= 128), else with the generic kernel's (see upsample_kernels.h).
    const bool small_2d = in_spatial.size() == 2 && r.out[0] + r.out[1] <= 128;
    std::vector<AxisTaps> axes;
    for (size_t d = 0; d < in_spatial.size(); ++d) {
      const int64_t i = in_spatial[d];
      const int64_t o = r.out[d];
      switch (o_.mode) {
        case Mode::kNearest: axes.push_back(NearestTaps(i, o, r.scale[d], small_2d)); break;
        case Mode::kNearestExact:
          axes.push_back(NearestExactTaps(i, o, r.scale[d], small_2d));
          break;
        case Mode::kBicubic: axes.push_back(CubicTaps(i, o, o_.align_corners, r.scale[d])); break;
        default: axes.push_back(LinearTaps(i, o, o_.align_corners, r.scale[d])); break;
      }
    }
    builder.AddKernel(InterpolateKernel(planes, in_spatial, std::move(axes)), src, dst);
    return dst;
  }

 private:
  // Output spatial sizes, and the scale factor each axis's indices use (none: input/output).
  struct Resolved {
    std::vector<int64_t> out;
    std::vector<std::optional<double>> scale;
  };

  // F.interpolate's checks, in its order, then its kernels'.
  absl::StatusOr<Resolved> Resolve(const Shape& in) const {
    const int rank = static_cast<int>(in.size());
    const int dims = rank - 2;
    const std::string spatial =
        absl::StrCat("[", absl::StrJoin(in.begin() + std::min(rank, 2), in.end(), ", "), "]");
    if (o_.size && o_.size_tuple && static_cast<int>(o_.size->size()) != dims) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Input and output must have the same number of spatial dimensions, but got input with "
          "spatial dimensions of ",
          spatial, " and output size of ",
          TupleRepr(*o_.size, [](int64_t v) { return absl::StrCat(v); }),
          ". Please provide input tensor in (N, C, d1, d2, ...,dK) format and output size in "
          "(o1, o2, ...,oK) format."));
    }
    if (o_.scale && o_.scale_tuple && static_cast<int>(o_.scale->size()) != dims) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Input and scale_factor must have the same number of spatial dimensions, but got "
          "input with spatial dimensions of ",
          spatial, " and scale_factor of shape ", TupleRepr(*o_.scale, FloatRepr),
          ". Please provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in "
          "(s1, s2, ...,sK) format."));
    }
    SEQ_RETURN_IF_ERROR(CheckRank(rank));
    Resolved r;
    std::vector<int64_t> in_spatial(in.begin() + 2, in.end());
    for (int d = 0; d < dims; ++d) {
      if (o_.size) {
        r.out.push_back(o_.size_tuple ? (*o_.size)[d] : (*o_.size)[0]);
        r.scale.push_back(std::nullopt);
        continue;
      }
      const double s = o_.scale_tuple ? (*o_.scale)[d] : (*o_.scale)[0];
      const double out = std::trunc(static_cast<double>(in_spatial[d]) * s);
      if (!(out < 9.2e18)) {
        return absl::InvalidArgumentError(absl::StrCat("output size ", FloatRepr(out),
                                                       " (input size ", in_spatial[d],
                                                       " * scale_factor ", FloatRepr(s),
                                                       ") does not fit in int64"));
      }
      r.out.push_back(static_cast<int64_t>(out));
      // 'area' always recomputes (F.interpolate sets recompute_scale_factor for it).
      const bool recompute = o_.recompute_scale_factor || o_.mode == Mode::kArea;
      r.scale.push_back(recompute ? std::nullopt : std::optional<double>(s));
    }
    if (o_.mode == Mode::kArea) {
      // adaptive_avg_pool's check; an empty output is fine.
      for (int d = 0; d < dims; ++d) {
        if (in_spatial[d] <= 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "adaptive_avg_pool", dims, "d(): Expected input to have non-zero size for "
              "non-batch dimensions, but input has sizes ", ShapeToString(in), " with dimension ",
              d + 2, " being empty"));
        }
      }
      return r;
    }
    bool positive = true;
    for (int d = 0; d < dims; ++d) positive = positive && in_spatial[d] > 0 && r.out[d] > 0;
    if (!positive) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Input and output sizes should be greater than 0, but got input (",
          SizesRepr(in_spatial), dims == 1 ? ") and output (" : ") output (", SizesRepr(r.out),
          ")"));
    }
    if (NumElements(Shape(in.begin() + 1, in.end())) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("Non-empty ", rank,
                                                     "D data tensor expected but got a tensor "
                                                     "with sizes ",
                                                     ShapeToString(in)));
    }
    return r;
  }

  // The input ranks each mode takes, with F.interpolate's words.
  absl::Status CheckRank(int rank) const {
    const char* needs = nullptr;
    int needed = 0;
    switch (o_.mode) {
      case Mode::kLinear: needs = "linear", needed = 3; break;
      case Mode::kBilinear: needs = "bilinear", needed = 4; break;
      case Mode::kTrilinear: needs = "trilinear", needed = 5; break;
      case Mode::kBicubic:
        if (rank == 4) return absl::OkStatus();
        break;
      default:
        if (rank >= 3 && rank <= 5) return absl::OkStatus();
        break;
    }
    if (needs != nullptr && rank >= 3 && rank <= 5) {
      if (rank == needed) return absl::OkStatus();
      return absl::InvalidArgumentError(absl::StrCat("Got ", rank, "D input, but ", needs,
                                                     " mode needs ", needed, "D input"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "Input Error: Only 3D, 4D and 5D input Tensors supported (got ", rank,
        "D) for the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
        "nearest-exact (got ", o_.mode_name, ")"));
  }

  UpsampleOptions o_;
};

// `size`: None, an int, or a tuple/list of ints, all positive (PyTorch's kernels reject a
// size of 0 for every input).
absl::Status ReadSize(const ModuleArgs& args, UpsampleOptions& o) {
  if (args.IsNone("size")) return absl::OkStatus();
  const SeqValue& v = args.Get("size");
  std::vector<int64_t> sizes;
  const bool tuple = v.kind == Kind::kTuple || v.kind == Kind::kList;
  if (v.kind == Kind::kInt) {
    sizes.push_back(v.int_value);
  } else if (tuple) {
    for (const SeqValue& item : v.items) {
      if (item.kind != Kind::kInt) {
        return args.Error("size", absl::StrCat("expected size to be one of int or Tuple[int] or "
                                               "Tuple[int, int] or Tuple[int, int, int], but got "
                                               "an element of type ",
                                               item.Describe()));
      }
      sizes.push_back(item.int_value);
    }
  } else {
    return args.Error("size", absl::StrCat("expected size to be one of int or Tuple[int] or "
                                           "Tuple[int, int] or Tuple[int, int, int], got ",
                                           v.Describe()));
  }
  for (int64_t s : sizes) {
    if (s <= 0) {
      return args.Error("size", absl::StrCat("Input and output sizes should be greater than 0, "
                                             "but got size ",
                                             s));
    }
  }
  o.size = std::move(sizes);
  o.size_tuple = tuple;
  return absl::OkStatus();
}

// `scale_factor`: None, a number, or a tuple of numbers (Upsample applies float() to each: a
// list fails, and a zero number counts as None). Negative or zero factors give an empty
// output for every input, which PyTorch's kernels reject.
absl::Status ReadScale(const ModuleArgs& args, UpsampleOptions& o) {
  if (args.IsNone("scale_factor")) return absl::OkStatus();
  const SeqValue& v = args.Get("scale_factor");
  auto number = [](const SeqValue& item) -> std::optional<double> {
    if (item.kind == Kind::kFloat) return item.float_value;
    if (item.kind == Kind::kInt) return static_cast<double>(item.int_value);
    if (item.kind == Kind::kBool) return item.bool_value ? 1.0 : 0.0;
    return std::nullopt;
  };
  std::vector<double> scales;
  if (v.kind == Kind::kTuple) {
    for (const SeqValue& item : v.items) {
      std::optional<double> s = number(item);
      if (!s) {
        return args.Error("scale_factor",
                          absl::StrCat("float() argument must be a string or a real number, "
                                       "not ", item.Describe()));
      }
      scales.push_back(*s);
    }
  } else if (std::optional<double> s = number(v)) {
    if (*s == 0) return absl::OkStatus();  // `float(x) if x else None`
    scales.push_back(*s);
  } else {
    return args.Error("scale_factor", absl::StrCat("float() argument must be a string or a real "
                                                   "number, not ",
                                                   v.Describe()));
  }
  for (double s : scales) {
    if (!(s > 0)) {
      return args.Error("scale_factor",
                        absl::StrCat("must be positive (the output would be empty for every "
                                     "input), got ",
                                     FloatRepr(s)));
    }
  }
  o.scale = std::move(scales);
  o.scale_tuple = v.kind == Kind::kTuple;
  return absl::OkStatus();
}

// None or a bool.
absl::StatusOr<std::optional<bool>> OptionalBool(const ModuleArgs& args, std::string_view name) {
  if (args.IsNone(name)) return std::optional<bool>();
  SEQ_ASSIGN_OR_RETURN(bool value, args.Bool(name));
  return std::optional<bool>(value);
}

// F.interpolate's checks that fail for every input.
absl::StatusOr<std::unique_ptr<Module>> Finish(const ModuleArgs& args, UpsampleOptions o,
                                               std::optional<bool> align_corners,
                                               std::optional<bool> recompute) {
  const bool interpolating = o.mode == Mode::kLinear || o.mode == Mode::kBilinear ||
                             o.mode == Mode::kBicubic || o.mode == Mode::kTrilinear;
  if (align_corners.has_value() && !interpolating) {
    return args.Error("align_corners",
                      "align_corners option can only be set with the interpolating modes: "
                      "linear | bilinear | bicubic | trilinear");
  }
  o.align_corners = align_corners.value_or(false);
  if (o.size && o.scale) return args.CallError("only one of size or scale_factor should be defined");
  if (!o.size && !o.scale) return args.CallError("either size or scale_factor should be defined");
  if (recompute.value_or(false) && o.size) {
    return args.Error("recompute_scale_factor",
                      "recompute_scale_factor is not meaningful with an explicit size.");
  }
  o.recompute_scale_factor = recompute.value_or(false);
  return std::make_unique<Upsample>(std::move(o));
}

}  // namespace

// PyTorch 2.x: Upsample(size=None, scale_factor=None, mode='nearest', align_corners=None,
// recompute_scale_factor=None).
absl::StatusOr<std::unique_ptr<Module>> MakeUpsample(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "Upsample",
                       {Default("size", NoneValue()), Default("scale_factor", NoneValue()),
                        Default("mode", StringValue("nearest")),
                        Default("align_corners", NoneValue()),
                        Default("recompute_scale_factor", NoneValue())},
                       file));
  UpsampleOptions o;
  o.type = "Upsample";
  SEQ_RETURN_IF_ERROR(ReadSize(args, o));
  SEQ_RETURN_IF_ERROR(ReadScale(args, o));
  // (Not SEQ_ASSIGN_OR_RETURN: GCC 12 warns of a maybe-uninitialized string through it.)
  const absl::StatusOr<std::string> mode = args.String("mode");
  if (!mode.ok()) return mode.status();
  bool known = false;
  for (const ModeName& m : kModes) {
    if (m.name == *mode) {
      o.mode = m.mode;
      known = true;
    }
  }
  if (!known) {
    return args.Error("mode", absl::StrCat("unknown mode '", *mode, "'; PyTorch supports "
                                           "nearest | linear | bilinear | bicubic | trilinear | "
                                           "area | nearest-exact"));
  }
  o.mode_name = *mode;
  SEQ_ASSIGN_OR_RETURN(std::optional<bool> align_corners, OptionalBool(args, "align_corners"));
  SEQ_ASSIGN_OR_RETURN(std::optional<bool> recompute,
                       OptionalBool(args, "recompute_scale_factor"));
  return Finish(args, std::move(o), align_corners, recompute);
}

// UpsamplingNearest2d(size=None, scale_factor=None): Upsample with mode='nearest'.
absl::StatusOr<std::unique_ptr<Module>> MakeUpsamplingNearest2d(const SeqCall& call,
                                                                std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args,
                       ModuleArgs::Bind(call, "UpsamplingNearest2d",
                                        {Default("size", NoneValue()),
                                         Default("scale_factor", NoneValue())},
                                        file));
  UpsampleOptions o;
  o.type = "UpsamplingNearest2d";
  SEQ_RETURN_IF_ERROR(ReadSize(args, o));
  SEQ_RETURN_IF_ERROR(ReadScale(args, o));
  return Finish(args, std::move(o), std::nullopt, std::nullopt);
}

// UpsamplingBilinear2d(size=None, scale_factor=None): mode='bilinear', align_corners=True.
absl::StatusOr<std::unique_ptr<Module>> MakeUpsamplingBilinear2d(const SeqCall& call,
                                                                 std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args,
                       ModuleArgs::Bind(call, "UpsamplingBilinear2d",
                                        {Default("size", NoneValue()),
                                         Default("scale_factor", NoneValue())},
                                        file));
  UpsampleOptions o;
  o.type = "UpsamplingBilinear2d";
  o.mode = Mode::kBilinear;
  o.mode_name = "bilinear";
  SEQ_RETURN_IF_ERROR(ReadSize(args, o));
  SEQ_RETURN_IF_ERROR(ReadScale(args, o));
  return Finish(args, std::move(o), true, std::nullopt);
}

}  // namespace seqserve
