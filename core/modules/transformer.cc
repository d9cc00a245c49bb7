#include "core/modules/transformer.h"

#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/module_registry.h"
#include "core/sequential_builder.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using dnnl::memory;

struct LayerConfig {
  int64_t d_model = 0;
  int64_t nhead = 0;
  int64_t dim_feedforward = 2048;
  std::vector<EltwiseOp> activation;  // ReLU, exact GELU, or an activation module's ops
  double eps = 1e-5;
  bool batch_first = false;
  bool norm_first = false;
  bool bias = true;
};

// One layer's state_dict entries, in PyTorch's order, named relative to the layer.
std::vector<ParamSpec> LayerParams(const LayerConfig& c) {
  const int64_t e = c.d_model, f = c.dim_feedforward;
  std::vector<ParamSpec> specs;
  auto add = [&](std::string name, Shape shape, bool present) {
    if (present) specs.push_back({std::move(name), std::move(shape)});
  };
  add("self_attn.in_proj_weight", {3 * e, e}, true);
  add("self_attn.in_proj_bias", {3 * e}, c.bias);
  add("self_attn.out_proj.weight", {e, e}, true);
  add("self_attn.out_proj.bias", {e}, c.bias);
  add("linear1.weight", {f, e}, true);
  add("linear1.bias", {f}, c.bias);
  add("linear2.weight", {e, f}, true);
  add("linear2.bias", {e}, c.bias);
  add("norm1.weight", {e}, true);
  add("norm1.bias", {e}, c.bias);
  add("norm2.weight", {e}, true);
  add("norm2.bias", {e}, c.bias);
  return specs;
}

// How the tokens of an input lie in memory: N sequences of S tokens of E features; token
// (n, s) is row n * row_n + s * row_s of the (N * S, E) matrix.
struct Geometry {
  int64_t n = 1;
  int64_t s = 0;
  int64_t row_n = 0;
  int64_t row_s = 1;
  int64_t tokens() const { return n * s; }
};

absl::StatusOr<Geometry> GeometryOf(const Shape& in, const LayerConfig& c) {
  const bool rank_ok = in.size() == 2 || in.size() == 3;
  if (!rank_ok || in.back() != c.d_model) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected input of shape (S, E) or ", c.batch_first ? "(N, S, E)" : "(S, N, E)",
        " with E = d_model = ", c.d_model, ", got ", ShapeToString(in)));
  }
  Geometry g;
  if (in.size() == 2) {
    g.s = in[0];
    g.row_n = g.s;
  } else if (c.batch_first) {
    g.n = in[0];
    g.s = in[1];
    g.row_n = g.s;
  } else {
    g.s = in[0];
    g.n = in[1];
    g.row_n = 1;
    g.row_s = g.n;
  }
  return g;
}

// Attention mixes the tokens of a sequence; the sequence dim is dim 0 unless the input is
// batched and batch_first (see Module::MixesAlongDim0).
std::optional<std::string> AttendsAcrossDim0(const Shape& in, const LayerConfig& c) {
  if (in.size() == 3 && c.batch_first) return std::nullopt;
  if (in.size() == 3) {
    return "with batch_first=False its input is (S, N, E): the batch is dim 1 and attention "
           "runs across dim 0, the sequence";
  }
  return "its 2-D input is one sequence (S, E): attention runs across dim 0";
}

// Multiply-adds count 2; plus biases, residual adds, softmax (~5 per score), layer norms
// (~7 per element) and the activation.
int64_t LayerFlops(const LayerConfig& c, const Geometry& g) {
  const int64_t t = g.tokens(), e = c.d_model, f = c.dim_feedforward;
  const int64_t b = c.bias ? 1 : 0;
  const int64_t gemms = 2 * t * e * (3 * e) + 2 * t * e * e + 2 * 2 * t * e * f;
  const int64_t attention = 2 * 2 * g.n * g.s * g.s * e + 5 * g.n * c.nhead * g.s * g.s;
  const int64_t rest = b * t * (3 * e + e + f + e) + 2 * t * e + 2 * 7 * t * e + t * f;
  return gemms + attention + rest;
}

// oneDNN 2.6 computes a post-op chain holding two eltwise_linear ops wrongly in matmul (see
// compiler.cc); such an activation runs as standalone eltwise steps instead.
bool FusableActivation(const std::vector<EltwiseOp>& ops) {
  int linear = 0;
  for (const EltwiseOp& op : ops) linear += op.algorithm == dnnl::algorithm::eltwise_linear;
  return linear <= 1;
}

// Adds one encoder layer to a plan. `params` are the layer's tensors (named as LayerParams);
// `key` prefixes the weight cache keys ("encoder.layers.0").
class LayerCompiler {
 public:
  LayerCompiler(PlanBuilder& builder, const LayerConfig& config, const ParamMap& params,
                std::string key, const Geometry& geometry)
      : b_(builder), c_(config), p_(params), key_(std::move(key)), g_(geometry) {}

  // `x`: the tokens as a plain (N * S, E) value; returns the layer's output, the same way.
  PlanValue Compile(const PlanValue& x) {
    if (c_.norm_first) {
      PlanValue a = LayerNorm(x, "norm1", /*in_place=*/false);
      PlanValue x1 = Linear(Attention(Projection(a)), "self_attn.out_proj", {}, &x);
      PlanValue h = LayerNorm(x1, "norm2", /*in_place=*/false);
      return Linear(Linear(h, "linear1", c_.activation, nullptr), "linear2", {}, &x1);
    }
    PlanValue y = Linear(Attention(Projection(x)), "self_attn.out_proj", {}, &x);
    PlanValue h = LayerNorm(y, "norm1", /*in_place=*/true);
    PlanValue z = Linear(Linear(h, "linear1", c_.activation, nullptr), "linear2", {}, &h);
    return LayerNorm(z, "norm2", /*in_place=*/true);
  }

 private:
  const Tensor& Param(const std::string& name) const { return p_.at(name); }

  // qkv = x W_in^T + b_in, with the query rows (and bias) scaled by 1/sqrt(head_dim), which
  // is where PyTorch divides the queries.
  PlanValue Projection(const PlanValue& x) {
    const int64_t e = c_.d_model;
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(e / c_.nhead)));
    auto weight = [&] {
      Tensor w = Param("self_attn.in_proj_weight");
      for (int64_t i = 0; i < e * e; ++i) w.data[i] *= scale;
      return w;
    };
    auto bias = [&] {
      Tensor b = Param("self_attn.in_proj_bias");
      for (int64_t i = 0; i < e; ++i) b.data[i] *= scale;
      return b;
    };
    return Matmul(x, "self_attn.in_proj(scaled q)", e, 3 * e, weight,
                  c_.bias ? std::function<Tensor()>(bias) : nullptr, {}, nullptr);
  }

  // softmax(q k^T) v for every (sequence, head), from the (N * S, 3E) projection; each
  // head's output is written into its columns of a (N * S, E) value.
  PlanValue Attention(const PlanValue& qkv) {
    const int64_t e = c_.d_model, h = c_.nhead, d = e / h;
    const int64_t n = g_.n, s = g_.s;
    const int64_t qkv_n = g_.row_n * 3 * e, qkv_s = g_.row_s * 3 * e;
    const memory::desc q_md({n, h, s, d}, memory::data_type::f32, {qkv_n, d, qkv_s, 1});
    const memory::desc kt_md({n, h, d, s}, memory::data_type::f32, {qkv_n, d, 1, qkv_s});
    const memory::desc v_md = q_md;
    const size_t column_bytes = static_cast<size_t>(e) * sizeof(float);

    PlanValue scores = b_.NewValue({n, h, s, s}, PlainDesc({n, h, s, s}));
    dnnl::matmul::primitive_desc qk(dnnl::matmul::desc(q_md, kt_md, scores.md),
                                    PlanBuilder::Attr(), b_.engine());
    b_.AddPrimitive(qk, dnnl::matmul(qk),
                    {ViewArg(DNNL_ARG_SRC, qkv, q_md, 0),
                     ViewArg(DNNL_ARG_WEIGHTS, qkv, kt_md, column_bytes),
                     ValueArg(DNNL_ARG_DST, scores)});

    dnnl::softmax_v2_forward::primitive_desc softmax(
        dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference,
                                       dnnl::algorithm::softmax_accurate, scores.md, scores.md,
                                       3),
        PlanBuilder::Attr(), b_.engine());
    b_.AddPrimitive(softmax, dnnl::softmax_v2_forward(softmax),
                    {ValueArg(DNNL_ARG_SRC, scores), ValueArg(DNNL_ARG_DST, scores)});

    PlanValue context = b_.NewValue({g_.tokens(), e}, PlainDesc({g_.tokens(), e}));
    const memory::desc out_md({n, h, s, d}, memory::data_type::f32,
                              {g_.row_n * e, d, g_.row_s * e, 1});
    dnnl::matmul::primitive_desc pv(dnnl::matmul::desc(scores.md, v_md, out_md),
                                    PlanBuilder::Attr(), b_.engine());
    b_.AddPrimitive(pv, dnnl::matmul(pv),
                    {ValueArg(DNNL_ARG_SRC, scores),
                     ViewArg(DNNL_ARG_WEIGHTS, qkv, v_md, 2 * column_bytes),
                     ViewArg(DNNL_ARG_DST, context, out_md, 0)});
    return context;
  }

  // PyTorch's Linear `name` on `x`, then `activation`, then `+ *residual`.
  PlanValue Linear(const PlanValue& x, const std::string& name,
                   const std::vector<EltwiseOp>& activation, const PlanValue* residual) {
    const Tensor& w = Param(name + ".weight");
    const int64_t out = w.shape[0], in = w.shape[1];
    std::function<Tensor()> bias;
    if (c_.bias) bias = [this, name] { return Param(name + ".bias"); };
    return Matmul(x, name, in, out, [&] { return w; }, bias, activation, residual);
  }

  // dst = x W^T (+ bias) (-> activation) (+ residual): one matmul with post-ops, or
  // separate steps when fusion is off (tests) or the activation cannot be a post-op.
  PlanValue Matmul(const PlanValue& x, const std::string& name, int64_t in, int64_t out,
                   const std::function<Tensor()>& weight, const std::function<Tensor()>& bias,
                   const std::vector<EltwiseOp>& activation, const PlanValue* residual) {
    const int64_t t = g_.tokens();
    const bool fuse_activation = b_.fuse() && FusableActivation(activation);
    const bool fuse_residual = b_.fuse() && residual != nullptr;
    dnnl::primitive_attr attr = PlanBuilder::Attr(fuse_activation ? activation
                                                                  : std::vector<EltwiseOp>{});
    const memory::desc dst_md = PlainDesc({t, out});
    int residual_index = -1;
    if (fuse_residual) {
      dnnl::post_ops ops = attr.get_post_ops();
      residual_index = ops.len();
      ops.append_binary(dnnl::algorithm::binary_add, dst_md);
      attr.set_post_ops(ops);
    }
    const memory::desc weights_any({in, out}, memory::data_type::f32, memory::format_tag::any);
    const memory::desc bias_md({1, out}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::matmul::desc desc = bias ? dnnl::matmul::desc(x.md, weights_any, bias_md, dst_md)
                                   : dnnl::matmul::desc(x.md, weights_any, dst_md);
    dnnl::matmul::primitive_desc pd(desc, attr, b_.engine());
    // PyTorch's weight is (out, in) row-major: the (in, out) matrix in layout "ba".
    const memory::desc torch_layout({in, out}, memory::data_type::f32, memory::format_tag::ba);
    const std::string key = absl::StrCat(key_, ".", name);
    PlanValue dst = b_.NewValue({t, out}, dst_md);
    std::vector<StepArg> args = {
        ValueArg(DNNL_ARG_SRC, x),
        ConstArg(DNNL_ARG_WEIGHTS,
                 b_.weights().Get(key + ".weight", pd.weights_desc(), torch_layout, weight)),
        ValueArg(DNNL_ARG_DST, dst)};
    if (bias) {
      args.push_back(ConstArg(DNNL_ARG_BIAS, b_.weights().Get(key + ".bias", bias_md, bias_md, [&] {
        Tensor b = bias();
        b.shape = {1, out};
        return b;
      })));
    }
    if (fuse_residual) {
      args.push_back(
          ValueArg(DNNL_ARG_ATTR_MULTIPLE_POST_OP(residual_index) | DNNL_ARG_SRC_1, *residual));
    }
    b_.AddPrimitive(pd, dnnl::matmul(pd), std::move(args));
    if (!fuse_activation && !activation.empty()) dst = b_.Eltwise(dst, activation);
    if (residual != nullptr && !fuse_residual) {
      dnnl::binary::primitive_desc add(
          dnnl::binary::desc(dnnl::algorithm::binary_add, dst.md, residual->md, dst.md),
          PlanBuilder::Attr(), b_.engine());
      b_.AddPrimitive(add, dnnl::binary(add),
                      {ValueArg(DNNL_ARG_SRC_0, dst), ValueArg(DNNL_ARG_SRC_1, *residual),
                       ValueArg(DNNL_ARG_DST, dst)});
    }
    return dst;
  }

  // LayerNorm over the features of each token, with PyTorch's weight (and bias).
  PlanValue LayerNorm(const PlanValue& x, const std::string& name, bool in_place) {
    const int64_t e = c_.d_model;
    auto flags = dnnl::normalization_flags::use_scale;
    if (c_.bias) flags |= dnnl::normalization_flags::use_shift;
    dnnl::layer_normalization_forward::primitive_desc pd(
        dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_inference, x.md,
                                                static_cast<float>(c_.eps), flags),
        PlanBuilder::Attr(), b_.engine());
    PlanValue dst = in_place ? b_.InPlace(x) : b_.NewValue(x.shape, x.md);
    const memory::desc vector_md({e}, memory::data_type::f32, memory::format_tag::a);
    const std::string key = absl::StrCat(key_, ".", name);
    std::vector<StepArg> args = {
        ValueArg(DNNL_ARG_SRC, x), ValueArg(DNNL_ARG_DST, dst),
        ConstArg(DNNL_ARG_SCALE, b_.weights().Get(key + ".weight", vector_md, vector_md,
                                                  [&] { return Param(name + ".weight"); }))};
    if (c_.bias) {
      args.push_back(ConstArg(DNNL_ARG_SHIFT,
                              b_.weights().Get(key + ".bias", vector_md, vector_md,
                                               [&] { return Param(name + ".bias"); })));
    }
    b_.AddPrimitive(pd, dnnl::layer_normalization_forward(pd), std::move(args));
    return dst;
  }

  PlanBuilder& b_;
  const LayerConfig& c_;
  const ParamMap& p_;
  std::string key_;
  Geometry g_;
};

// Runs `layers` (each a parameter map) on `in` and returns the output in `in`'s shape.
absl::StatusOr<PlanValue> CompileLayers(PlanBuilder& builder, const PlanValue& in,
                                        const LayerConfig& config,
                                        const std::vector<ParamMap>& layers,
                                        const std::string& key_prefix) {
  SEQ_ASSIGN_OR_RETURN(Geometry g, GeometryOf(in.shape, config));
  if (NumElements(in.shape) == 0 || layers.empty()) return in;
  PlanValue x = builder.Reshape(in, {g.tokens(), config.d_model});
  for (size_t i = 0; i < layers.size(); ++i) {
    x = LayerCompiler(builder, config, layers[i], absl::StrCat(key_prefix, i), g).Compile(x);
  }
  return builder.Reshape(x, in.shape);
}

// The params of `prefix`-named entries of `params`, with the prefix removed.
ParamMap TakePrefixed(ParamMap& params, const std::string& prefix) {
  ParamMap out;
  for (auto it = params.begin(); it != params.end();) {
    if (it->first.starts_with(prefix)) {
      out[it->first.substr(prefix.size())] = std::move(it->second);
      it = params.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(LayerConfig config) : config_(std::move(config)) {}

  std::string_view type() const override { return "TransformerEncoderLayer"; }
  std::vector<ParamSpec> params() const override { return LayerParams(config_); }
  absl::Status SetParams(ParamMap params) override {
    params_ = {std::move(params)};
    return absl::OkStatus();
  }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    SEQ_RETURN_IF_ERROR(GeometryOf(in, config_).status());
    return in;
  }
  int64_t Flops(const Shape& in) const override {
    absl::StatusOr<Geometry> g = GeometryOf(in, config_);
    return g.ok() ? LayerFlops(config_, *g) : 0;
  }
  // Sequences of any length; only batch_first puts the batch first (dim 0).
  std::optional<Shape> InputDims() const override {
    if (!config_.batch_first) return std::nullopt;
    return Shape{-1, config_.d_model};
  }
  std::optional<std::string> MixesAlongDim0(const Shape& in) const override {
    return AttendsAcrossDim0(in, config_);
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    return CompileLayers(builder, in, config_, params_, builder.current_path() + ".");
  }

 private:
  LayerConfig config_;
  std::vector<ParamMap> params_;  // one entry, set by SetParams
};

class TransformerEncoder : public Module {
 public:
  TransformerEncoder(LayerConfig config, int64_t num_layers, std::unique_ptr<Module> norm)
      : config_(std::move(config)), num_layers_(num_layers), norm_(std::move(norm)) {}

  std::string_view type() const override { return "TransformerEncoder"; }

  std::vector<ParamSpec> params() const override {
    std::vector<ParamSpec> specs;
    for (int64_t i = 0; i < num_layers_; ++i) {
      for (ParamSpec& spec : LayerParams(config_)) {
        specs.push_back({absl::StrCat("layers.", i, ".", spec.name), std::move(spec.shape)});
      }
    }
    if (norm_) {
      for (ParamSpec& spec : norm_->params()) {
        specs.push_back({"norm." + spec.name, std::move(spec.shape)});
      }
    }
    return specs;
  }

  absl::Status SetParams(ParamMap params) override {
    layers_.clear();
    for (int64_t i = 0; i < num_layers_; ++i) {
      layers_.push_back(TakePrefixed(params, absl::StrCat("layers.", i, ".")));
    }
    if (norm_) SEQ_RETURN_IF_ERROR(norm_->SetParams(TakePrefixed(params, "norm.")));
    return absl::OkStatus();
  }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    SEQ_RETURN_IF_ERROR(GeometryOf(in, config_).status());
    if (!norm_) return in;
    absl::StatusOr<Shape> out = norm_->OutputShape(in);
    if (!out.ok()) return NormError(out.status());
    return out;
  }

  int64_t Flops(const Shape& in) const override {
    absl::StatusOr<Geometry> g = GeometryOf(in, config_);
    if (!g.ok()) return 0;
    return num_layers_ * LayerFlops(config_, *g) + (norm_ ? norm_->Flops(in) : 0);
  }

  std::optional<Shape> InputDims() const override {
    if (!config_.batch_first) return std::nullopt;
    return Shape{-1, config_.d_model};
  }
  std::optional<std::string> MixesAlongDim0(const Shape& in) const override {
    return AttendsAcrossDim0(in, config_);
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    const std::string path = builder.current_path();
    SEQ_ASSIGN_OR_RETURN(PlanValue out,
                         CompileLayers(builder, in, config_, layers_, path + ".layers."));
    if (!norm_ || norm_->IsIdentity()) return out;
    builder.SetCurrentModule(path + ".norm", std::string(norm_->type()));
    absl::StatusOr<PlanValue> normed = norm_->AsEltwise()
                                           ? builder.Eltwise(out, *norm_->AsEltwise())
                                           : norm_->Compile(builder, out, Fusion{});
    builder.SetCurrentModule(path, std::string(type()));
    if (!normed.ok()) return NormError(normed.status());
    return normed;
  }

 private:
  absl::Status NormError(const absl::Status& status) const {
    return absl::Status(status.code(), absl::StrCat("norm (", std::string(norm_->type()), "): ",
                                                    status.message()));
  }

  LayerConfig config_;
  int64_t num_layers_;
  std::unique_ptr<Module> norm_;  // null when norm=None
  std::vector<ParamMap> layers_;  // num_layers_ entries, set by SetParams
};

// A module argument given as a call (norm=nn.LayerNorm(256), activation=nn.GELU()), built
// through the registry.
absl::StatusOr<std::unique_ptr<Module>> BuildArgModule(const ModuleArgs& args,
                                                       std::string_view name,
                                                       const std::string& expected) {
  const SeqValue& value = args.Get(name);
  ModuleFactory factory = nullptr;
  if (value.kind == SeqValue::Kind::kCall && value.call->receiver == nullptr) {
    std::string_view type = StripNnPrefix(value.call->name);
    if (!type.empty()) factory = FindModuleFactory(type);
  }
  if (factory == nullptr) {
    return args.Error(name, absl::StrCat("expected ", expected, ", got ", value.Describe()));
  }
  return factory(*value.call, args.file());
}

// activation: 'relu' / 'gelu' as PyTorch's _get_activation_fn takes them, F.relu / F.gelu,
// or an elementwise activation module such as nn.GELU(approximate='tanh').
absl::StatusOr<std::vector<EltwiseOp>> Activation(const ModuleArgs& args) {
  const EltwiseOp relu{dnnl::algorithm::eltwise_relu, 0.f, 0.f};
  const EltwiseOp gelu{dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f};
  const SeqValue& value = args.Get("activation");
  if (value.kind == SeqValue::Kind::kString) {
    if (value.string_value == "relu") return std::vector<EltwiseOp>{relu};
    if (value.string_value == "gelu") return std::vector<EltwiseOp>{gelu};
    return args.Error("activation", absl::StrCat("activation should be relu/gelu, not ",
                                                 value.string_value));
  }
  if (value.kind == SeqValue::Kind::kName) {
    for (const char* prefix : {"F.", "nn.functional.", "torch.nn.functional."}) {
      if (value.string_value == absl::StrCat(prefix, "relu")) return std::vector<EltwiseOp>{relu};
      if (value.string_value == absl::StrCat(prefix, "gelu")) return std::vector<EltwiseOp>{gelu};
    }
  }
  const std::string kExpected =
      "'relu', 'gelu', F.relu, F.gelu or an activation module such as nn.GELU()";
  if (value.kind != SeqValue::Kind::kCall) {
    return args.Error("activation", absl::StrCat("expected ", kExpected, ", got ",
                                                 value.Describe()));
  }
  SEQ_ASSIGN_OR_RETURN(std::unique_ptr<Module> module,
                       BuildArgModule(args, "activation", kExpected));
  std::optional<std::vector<EltwiseOp>> ops = module->AsEltwise();
  if (!ops || !module->params().empty()) {
    return args.Error("activation",
                      absl::StrCat("expected ", kExpected, ", got ", value.Describe(),
                                   ", which is not an elementwise activation without parameters"));
  }
  return *ops;
}

// PyTorch 2.1: (d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu,
// layer_norm_eps=1e-05, batch_first=False, norm_first=False, bias=True, device=None,
// dtype=None).
absl::StatusOr<LayerConfig> ParseLayer(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "TransformerEncoderLayer",
                       {Required("d_model"), Required("nhead"),
                        Default("dim_feedforward", IntValue(2048)),
                        Default("dropout", FloatValue(0.1)),
                        Default("activation", StringValue("relu")),
                        Default("layer_norm_eps", FloatValue(1e-5)),
                        Default("batch_first", BoolValue(false)),
                        Default("norm_first", BoolValue(false)), Default("bias", BoolValue(true)),
                        Default("device", NoneValue()), Default("dtype", NoneValue())},
                       file));
  LayerConfig c;
  SEQ_ASSIGN_OR_RETURN(c.d_model, args.Int("d_model"));
  SEQ_ASSIGN_OR_RETURN(c.nhead, args.Int("nhead"));
  SEQ_ASSIGN_OR_RETURN(c.dim_feedforward, args.Int("dim_feedforward"));
  SEQ_ASSIGN_OR_RETURN(double dropout, args.Float("dropout"));
  SEQ_ASSIGN_OR_RETURN(c.activation, Activation(args));
  SEQ_ASSIGN_OR_RETURN(c.eps, args.Float("layer_norm_eps"));
  SEQ_ASSIGN_OR_RETURN(c.batch_first, args.Bool("batch_first"));
  SEQ_ASSIGN_OR_RETURN(c.norm_first, args.Bool("norm_first"));
  SEQ_ASSIGN_OR_RETURN(c.bias, args.Bool("bias"));
  if (c.d_model <= 0) {
    return args.Error("d_model", absl::StrCat("must be positive, got ", c.d_model));
  }
  if (c.nhead <= 0) return args.Error("nhead", absl::StrCat("must be positive, got ", c.nhead));
  if (c.d_model % c.nhead != 0) {
    // MultiheadAttention's assertion.
    return args.Error("nhead", "embed_dim must be divisible by num_heads");
  }
  if (c.dim_feedforward <= 0) {
    return args.Error("dim_feedforward",
                      absl::StrCat("must be positive, got ", c.dim_feedforward));
  }
  if (dropout < 0 || dropout > 1) {
    return args.Error("dropout", absl::StrCat("dropout probability has to be between 0 and 1, "
                                              "but got ", dropout));
  }
  return c;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeTransformerEncoderLayer(const SeqCall& call,
                                                                    std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(LayerConfig config, ParseLayer(call, file));
  return std::make_unique<TransformerEncoderLayer>(std::move(config));
}

// PyTorch 2.1: (encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
// mask_check=True). The layers are copies of encoder_layer, each with its own weights.
absl::StatusOr<std::unique_ptr<Module>> MakeTransformerEncoder(const SeqCall& call,
                                                               std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "TransformerEncoder",
                       {Required("encoder_layer"), Required("num_layers"),
                        Default("norm", NoneValue()),
                        Default("enable_nested_tensor", BoolValue(true)),
                        Default("mask_check", BoolValue(true))},
                       file));
  const SeqValue& layer = args.Get("encoder_layer");
  if (layer.kind != SeqValue::Kind::kCall || layer.call->receiver != nullptr ||
      StripNnPrefix(layer.call->name) != "TransformerEncoderLayer") {
    return args.Error("encoder_layer", absl::StrCat("expected nn.TransformerEncoderLayer(...), got ",
                                                    layer.Describe()));
  }
  SEQ_ASSIGN_OR_RETURN(LayerConfig config, ParseLayer(*layer.call, file));
  SEQ_ASSIGN_OR_RETURN(int64_t num_layers, args.Int("num_layers"));
  if (num_layers < 0) {
    return args.Error("num_layers", absl::StrCat("must be >= 0, got ", num_layers));
  }
  SEQ_RETURN_IF_ERROR(args.Bool("enable_nested_tensor").status());
  SEQ_RETURN_IF_ERROR(args.Bool("mask_check").status());
  std::unique_ptr<Module> norm;
  if (!args.IsNone("norm")) {
    SEQ_ASSIGN_OR_RETURN(norm, BuildArgModule(args, "norm",
                                              "None or a module such as nn.LayerNorm(d_model)"));
  }
  return std::make_unique<TransformerEncoder>(std::move(config), num_layers, std::move(norm));
}

}  // namespace seqserve
