#include "core/plan_builder.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace seqserve {
namespace {

constexpr int kInputBuffer = 0;
constexpr size_t kAlignBytes = 64;

size_t AlignUp(size_t n) { return (n + kAlignBytes - 1) / kAlignBytes * kAlignBytes; }

std::atomic<uint64_t> next_plan_id{1};

}  // namespace

dnnl::memory::desc PlainDesc(const Shape& dims, dnnl::memory::data_type type) {
  dnnl::memory::dims d = dims.empty() ? dnnl::memory::dims{1} : dims;
  dnnl::memory::dims strides(d.size());
  dnnl::memory::dim stride = 1;
  for (size_t i = d.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= std::max<dnnl::memory::dim>(d[i], 1);
  }
  return dnnl::memory::desc(d, type, strides);
}

bool IsPlain(const dnnl::memory::desc& md, dnnl::memory::data_type type) {
  // Row-major up to the strides of unit dims, which oneDNN may choose freely.
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.data_type != static_cast<dnnl_data_type_t>(type) ||
      d.offset0 != 0) {
    return false;
  }
  if (d.format_desc.blocking.inner_nblks != 0) return false;
  dnnl::memory::dim expected = 1;
  for (int i = d.ndims - 1; i >= 0; --i) {
    if (d.padded_dims[i] != d.dims[i]) return false;
    if (d.dims[i] != 1 && d.format_desc.blocking.strides[i] != expected) return false;
    expected *= d.dims[i];
  }
  return true;
}

bool IsInt8(dnnl::memory::data_type type) {
  return type == dnnl::memory::data_type::s8 || type == dnnl::memory::data_type::u8;
}

dnnl::memory::desc WithDataType(const dnnl::memory::desc& md, dnnl::memory::data_type type) {
  // Strides and blocks count elements, not bytes: only the element type changes.
  dnnl_memory_desc_t d = md.data;
  d.data_type = static_cast<dnnl_data_type_t>(type);
  return dnnl::memory::desc(d);
}

StepArg ValueArg(int arg, const PlanValue& value) {
  StepArg a;
  a.arg = arg;
  a.md = value.md;
  a.buffer = value.buffer;
  return a;
}

StepArg ViewArg(int arg, const PlanValue& value, const dnnl::memory::desc& md,
                size_t offset_bytes) {
  StepArg a;
  a.arg = arg;
  a.md = md;
  a.buffer = value.buffer;
  a.offset_bytes = offset_bytes;
  return a;
}

StepArg ConstArg(int arg, const dnnl::memory& constant) {
  StepArg a;
  a.arg = arg;
  a.md = constant.get_desc();
  a.constant = constant;
  return a;
}

PlanBuilder::PlanBuilder(const dnnl::engine& engine, int num_threads, WeightCache& weights,
                         const Shape& input_shape, DType input_dtype)
    : engine_(engine), num_threads_(num_threads), weights_(weights), plan_(new Plan()) {
  plan_->input_shape_ = input_shape;
  plan_->input_dtype_ = input_dtype;
  plan_->num_threads_ = num_threads;
  int input_buffer = AddBuffer();
  plan_->buffers_[input_buffer].kind = PlanBuffer::Kind::kInput;
  if (input_dtype == DType::kFloat32) {
    input_ = PlanValue{input_shape, PlainDesc(input_shape), input_buffer};
  } else {
    // oneDNN has no int64; ids are only read by input kernels, which need just the bytes.
    const dnnl::memory::dim bytes =
        std::max<dnnl::memory::dim>(1, NumElements(input_shape) * DTypeSize(input_dtype));
    input_ = PlanValue{input_shape,
                       dnnl::memory::desc({bytes}, dnnl::memory::data_type::u8,
                                          dnnl::memory::format_tag::a),
                       input_buffer, input_dtype};
  }
}

void PlanBuilder::SetCurrentModule(std::string path, std::string type) {
  current_path_ = std::move(path);
  current_type_ = std::move(type);
  choice_.clear();
}

std::string PlanBuilder::CurrentName() const {
  return absl::StrCat(current_path_, " (", current_type_, ")");
}

int PlanBuilder::AddBuffer() {
  plan_->buffers_.emplace_back();
  return static_cast<int>(plan_->buffers_.size()) - 1;
}

PlanValue PlanBuilder::NewValue(Shape shape, const dnnl::memory::desc& md) {
  PlanValue value{std::move(shape), md, AddBuffer()};
  if (IsInt8(md.data_type())) value.scale = dtypes_.dst_scale;
  return value;
}

PlanValue PlanBuilder::InPlace(const PlanValue& v) {
  if (v.buffer == kInputBuffer) return NewValue(v.shape, v.md);
  return v;
}

PlanValue PlanBuilder::Convert(const PlanValue& v, const dnnl::memory::desc& md) {
  if (v.md == md) return v;
  if (v.md.data_type() == md.data_type() && IsPlain(v.md, md.data_type()) &&
      IsPlain(md, md.data_type()) && v.md.dims() == md.dims()) {
    PlanValue same{v.shape, md, v.buffer};
    same.scale = v.scale;
    return same;
  }
  PlanValue out = NewValue(v.shape, md);
  dnnl::primitive_attr attr = Attr();
  const bool from_int8 = IsInt8(v.md.data_type());
  const bool to_int8 = IsInt8(md.data_type());
  out.scale = to_int8 ? (from_int8 ? v.scale : dtypes_.src_scale) : 1.f;
  if (from_int8 != to_int8 || v.scale != out.scale) {
    // The reorder computes out = v * (v.scale / out.scale), rounding and saturating to 8 bits.
    attr.set_output_scales(0, {(from_int8 ? v.scale : 1.f) / (to_int8 ? out.scale : 1.f)});
  }
  dnnl::reorder::primitive_desc pd(engine_, v.md, engine_, md, attr);
  PlanStep step;
  step.name = absl::StrCat(CurrentName(), " reorder");
  step.primitive = dnnl::reorder(pd);
  step.scratchpad_md = pd.scratchpad_desc();
  step.args = {ValueArg(DNNL_ARG_FROM, v), ValueArg(DNNL_ARG_TO, out)};
  AddStep(std::move(step));
  return out;
}

PlanValue PlanBuilder::Plain(const PlanValue& v, dnnl::memory::data_type type) {
  PlanValue plain = IsPlain(v.md, type) ? v : Convert(v, PlainDesc(v.md.dims(), type));
  PlanValue out{v.shape, PlainDesc(v.shape, type), plain.buffer};
  out.scale = plain.scale;
  return out;
}

PlanValue PlanBuilder::Reshape(const PlanValue& v, Shape shape, dnnl::memory::data_type type) {
  PlanValue plain = Plain(v, type);
  dnnl::memory::desc md = PlainDesc(shape, type);
  PlanValue out{std::move(shape), md, plain.buffer};
  out.scale = plain.scale;
  return out;
}

PlanValue PlanBuilder::ToF32(const PlanValue& v) {
  if (v.dtype != DType::kFloat32 || v.md.data_type() == dnnl::memory::data_type::f32) return v;
  return Convert(v, WithDataType(v.md, dnnl::memory::data_type::f32));
}

PlanValue PlanBuilder::WithDims(const PlanValue& v, const dnnl::memory::dims& dims) {
  if (v.md.dims() == dims) return v;
  const dnnl::memory::data_type type = v.md.data_type();
  auto with = [&](const dnnl::memory::desc& md, int buffer) {
    PlanValue out{v.shape, md, buffer};
    out.scale = v.scale;
    return out;
  };
  if (IsPlain(v.md, type)) return with(PlainDesc(dims, type), v.buffer);
  dnnl::memory::desc reshaped = v.md.reshape(dims, /*allow_empty=*/true);
  if (reshaped) return with(reshaped, v.buffer);
  PlanValue plain = Plain(v, type);
  return with(PlainDesc(dims, type), plain.buffer);
}

void PlanBuilder::AddPrimitive(const dnnl::primitive_desc_base& pd, dnnl::primitive primitive,
                               std::vector<StepArg> args) {
  PlanStep step;
  step.name = CurrentName();
  step.primitive = std::move(primitive);
  step.scratchpad_md = pd.scratchpad_desc();
  step.args = std::move(args);
  AddStep(std::move(step));
}

void PlanBuilder::AddKernel(KernelFn kernel, const PlanValue& src, const PlanValue& dst) {
  PlanStep step;
  step.name = CurrentName();
  step.kernel = std::move(kernel);
  step.args = {ValueArg(DNNL_ARG_SRC, src), ValueArg(DNNL_ARG_DST, dst)};
  AddStep(std::move(step));
}

void PlanBuilder::AddInputKernel(InputKernelFn kernel, const PlanValue& src,
                                 const PlanValue& dst) {
  PlanStep step;
  step.name = CurrentName();
  step.input_kernel = std::move(kernel);
  step.args = {ValueArg(DNNL_ARG_SRC, src), ValueArg(DNNL_ARG_DST, dst)};
  AddStep(std::move(step));
}

PlanValue PlanBuilder::Eltwise(const PlanValue& v, const std::vector<EltwiseOp>& ops) {
  PlanValue current = v;
  for (const EltwiseOp& op : ops) {
    auto make_pd = [&](const dnnl::memory::desc& md) {
      dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, op.algorithm, md,
                                       op.alpha, op.beta);
      return dnnl::eltwise_forward::primitive_desc(desc, Attr(), engine_);
    };
    dnnl::eltwise_forward::primitive_desc pd = make_pd(current.md);
    // On a blocked layout with padded channels (7 channels in nChw16c) oneDNN 2.6 has
    // only its slow reference eltwise; on plain memory it has a jitted one.
    if (std::string(pd.impl_info_str()).starts_with("ref") && !IsPlain(current.md)) {
      current = Plain(current);
      pd = make_pd(current.md);
    }
    PlanValue out = InPlace(current);
    out.md = pd.dst_desc();
    AddPrimitive(pd, dnnl::eltwise_forward(pd),
                 {ValueArg(DNNL_ARG_SRC, current), ValueArg(DNNL_ARG_DST, out)});
    current = out;
  }
  return current;
}

dnnl::primitive_attr PlanBuilder::Attr(const std::vector<EltwiseOp>& post_ops) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (!post_ops.empty()) attr.set_post_ops(MakePostOps(post_ops));
  return attr;
}

dnnl::primitive_attr PlanBuilder::Attr(const std::vector<EltwiseOp>& post_ops,
                                       const std::vector<float>& output_scales) {
  dnnl::primitive_attr attr = Attr(post_ops);
  if (!output_scales.empty()) {
    attr.set_output_scales(output_scales.size() == 1 ? 0 : 1 << 1, output_scales);
  }
  return attr;
}

void PlanBuilder::AddStep(PlanStep step) {
  plan_->scratchpad_bytes_ = std::max(plan_->scratchpad_bytes_, step.scratchpad_md.get_size());
  plan_->steps_.push_back(std::move(step));
}

std::shared_ptr<const Plan> PlanBuilder::WithExactFallback(const Plan& fast, float input_guard,
                                                          std::shared_ptr<const Plan> exact) {
  auto plan = std::shared_ptr<Plan>(new Plan(fast));
  plan->input_guard_ = input_guard;
  plan->exact_plan_ = std::move(exact);
  return plan;
}

absl::StatusOr<std::shared_ptr<const Plan>> PlanBuilder::Finish(const PlanValue& out) {
  SetCurrentModule("output", "Plan");
  PlanValue result = Plain(out);
  const size_t output_bytes = static_cast<size_t>(NumElements(out.shape)) * sizeof(float);
  // The last buffer becomes the caller's output, so the last step writes there directly;
  // unless it is the caller's input, or some step saw it with a larger (padded) layout.
  bool direct = result.buffer != kInputBuffer;
  for (const PlanStep& step : plan_->steps_) {
    for (const StepArg& arg : step.args) {
      if (arg.buffer == result.buffer && arg.offset_bytes + arg.md.get_size() > output_bytes) {
        direct = false;
      }
    }
  }
  if (!direct) {
    PlanValue copy = NewValue(result.shape, result.md);
    dnnl::reorder::primitive_desc pd(engine_, result.md, engine_, copy.md, Attr());
    AddPrimitive(pd, dnnl::reorder(pd),
                 {ValueArg(DNNL_ARG_FROM, result), ValueArg(DNNL_ARG_TO, copy)});
    result = copy;
  }
  plan_->buffers_[result.buffer].kind = PlanBuffer::Kind::kOutput;
  plan_->output_shape_ = out.shape;
  plan_->precision_ = precision_;
  for (const PlanStep& step : plan_->steps_) {
    for (const StepArg& arg : step.args) {
      if (arg.arg != DNNL_ARG_WEIGHTS || arg.buffer >= 0) continue;
      ++plan_->weighted_layers_;
      plan_->reduced_layers_ += arg.md.data_type() != dnnl::memory::data_type::f32;
    }
  }

  // Lifetimes of the arena buffers, in steps.
  const int n = static_cast<int>(plan_->buffers_.size());
  std::vector<int> first(n, -1), last(n, -1);
  for (int s = 0; s < static_cast<int>(plan_->steps_.size()); ++s) {
    for (const StepArg& arg : plan_->steps_[s].args) {
      if (arg.buffer < 0) continue;
      PlanBuffer& buffer = plan_->buffers_[arg.buffer];
      buffer.size_bytes = std::max(buffer.size_bytes, arg.offset_bytes + arg.md.get_size());
      if (first[arg.buffer] < 0) first[arg.buffer] = s;
      last[arg.buffer] = s;
    }
  }
  plan_->buffers_[kInputBuffer].size_bytes =
      static_cast<size_t>(NumElements(plan_->input_shape_)) * DTypeSize(plan_->input_dtype_);

  // First-fit placement in order of first use; a buffer may reuse the bytes of any buffer
  // whose last use came strictly before its first.
  std::vector<int> order;
  for (int b = 0; b < n; ++b) {
    if (plan_->buffers_[b].kind == PlanBuffer::Kind::kArena && first[b] >= 0) order.push_back(b);
  }
  std::sort(order.begin(), order.end(), [&](int a, int b) { return first[a] < first[b]; });
  std::vector<int> placed;
  size_t arena = 0;
  for (int b : order) {
    PlanBuffer& buffer = plan_->buffers_[b];
    std::vector<std::pair<size_t, size_t>> busy;  // [begin, end) of live placed buffers
    for (int p : placed) {
      if (last[p] >= first[b]) {
        busy.emplace_back(plan_->buffers_[p].offset_bytes,
                          plan_->buffers_[p].offset_bytes + AlignUp(plan_->buffers_[p].size_bytes));
      }
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (offset + buffer.size_bytes <= begin) break;
      offset = std::max(offset, end);
    }
    buffer.offset_bytes = offset;
    arena = std::max(arena, offset + AlignUp(buffer.size_bytes));
    placed.push_back(b);
  }
  plan_->arena_bytes_ = arena;
  plan_->id_ = next_plan_id.fetch_add(1);
  return std::shared_ptr<const Plan>(plan_.release());
}

}  // namespace seqserve
