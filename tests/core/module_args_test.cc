#include "core/module_args.h"

#include <cstdint>
#include <string>
#include <vector>

#include "core/seq_parser.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

using Ints = std::vector<int64_t>;

// PyTorch 2.x: Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
// dilation=1, groups=1, bias=True, padding_mode='zeros'); device and dtype left out here.
std::vector<ArgSpec> Conv2dSignature() {
  return {Required("in_channels"), Required("out_channels"), Required("kernel_size"),
          Default("stride", 1),    Default("padding", 0),    Default("dilation", 1),
          Default("groups", 1),    Default("bias", true),    Default("padding_mode", "zeros")};
}

// Parses `text` (one call) and binds it. The parsed tree is kept alive in `root_`.
class ModuleArgsTest : public ::testing::Test {
 protected:
  absl::StatusOr<ModuleArgs> Bind(std::string_view text,
                                  const std::vector<ArgSpec>& signature = Conv2dSignature(),
                                  std::string_view module_type = "Conv2d") {
    absl::StatusOr<SeqValue> root = ParseModelSeq(text, "model.seq");
    EXPECT_TRUE(root.ok()) << root.status();
    if (!root.ok()) return root.status();
    root_ = *std::move(root);
    EXPECT_EQ(root_.kind, SeqValue::Kind::kCall);
    return ModuleArgs::Bind(*root_.call, module_type, signature, "model.seq");
  }

  // Binds `text`, which must succeed.
  ModuleArgs MustBind(std::string_view text,
                      const std::vector<ArgSpec>& signature = Conv2dSignature()) {
    absl::StatusOr<ModuleArgs> args = Bind(text, signature);
    EXPECT_TRUE(args.ok()) << args.status();
    if (!args.ok()) return *ModuleArgs::Bind(SeqCall(), "Conv2d", {}, "model.seq");
    return *std::move(args);
  }

  std::string BindError(std::string_view text,
                        const std::vector<ArgSpec>& signature = Conv2dSignature(),
                        std::string_view module_type = "Conv2d") {
    absl::StatusOr<ModuleArgs> args = Bind(text, signature, module_type);
    EXPECT_FALSE(args.ok()) << "bound without error: " << text;
    return args.ok() ? "" : std::string(args.status().message());
  }

  SeqValue root_;
};

template <typename T>
std::string ErrorOf(const absl::StatusOr<T>& result) {
  EXPECT_FALSE(result.ok());
  if (result.ok()) return "";
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(result.status().message());
}

// --- Binding ---

TEST_F(ModuleArgsTest, FillsPositionalArgumentsInOrderAndDefaultsTheRest) {
  ModuleArgs args = MustBind("nn.Conv2d(1, 20, 5)");
  EXPECT_EQ(*args.Int("in_channels"), 1);
  EXPECT_EQ(*args.Int("out_channels"), 20);
  EXPECT_EQ(*args.IntTuple("kernel_size", 2), Ints({5, 5}));
  EXPECT_EQ(*args.IntTuple("stride", 2), Ints({1, 1}));
  EXPECT_EQ(*args.Int("groups"), 1);
  EXPECT_TRUE(*args.Bool("bias"));
  EXPECT_EQ(*args.String("padding_mode"), "zeros");
  EXPECT_TRUE(args.WasGiven("kernel_size"));
  EXPECT_FALSE(args.WasGiven("stride"));
  EXPECT_FALSE(args.WasGiven("no_such_argument"));
  EXPECT_EQ(args.module_type(), "Conv2d");
  EXPECT_EQ(args.file(), "model.seq");
  EXPECT_EQ(args.loc().line, 1);
  EXPECT_EQ(args.loc().col, 1);
}

TEST_F(ModuleArgsTest, BindsKeywordsByNameInAnyOrder) {
  ModuleArgs args = MustBind(
      "Conv2d(3, kernel_size=(3, 5), bias=False, padding='same', out_channels=8, stride=2)");
  EXPECT_EQ(*args.Int("in_channels"), 3);
  EXPECT_EQ(*args.Int("out_channels"), 8);
  EXPECT_EQ(*args.IntTuple("kernel_size", 2), Ints({3, 5}));
  EXPECT_EQ(*args.IntTuple("stride", 2), Ints({2, 2}));
  EXPECT_FALSE(*args.Bool("bias"));
  EXPECT_TRUE(args.IsString("padding"));
  EXPECT_EQ(*args.String("padding"), "same");
  EXPECT_TRUE(args.WasGiven("stride"));
  EXPECT_FALSE(args.WasGiven("dilation"));
  EXPECT_EQ(args.Get("out_channels").loc.col, 72);  // the value's own location
  EXPECT_EQ(args.Error("out_channels", "x").message(),
            "model.seq:1:59: Conv2d: argument 'out_channels': x");  // the keyword's
}

TEST_F(ModuleArgsTest, BindsAllNinePositionally) {
  ModuleArgs args = MustBind("Conv2d(1, 2, 3, 4, 5, 6, 7, False, 'circular')");
  EXPECT_EQ(*args.Int("dilation"), 6);
  EXPECT_EQ(*args.Int("groups"), 7);
  EXPECT_FALSE(*args.Bool("bias"));
  EXPECT_EQ(*args.String("padding_mode"), "circular");
}

TEST_F(ModuleArgsTest, RejectsTooManyPositionalArguments) {
  EXPECT_EQ(BindError("Conv2d(1,2,3,1,0,1,1,True,'zeros',7)"),
            "model.seq:1:35: Conv2d: takes at most 9 positional arguments (10 given)");
  EXPECT_EQ(BindError("ReLU(1, 2)", {Default("inplace", false)}, "ReLU"),
            "model.seq:1:9: ReLU: takes at most 1 positional argument (2 given)");
  EXPECT_EQ(BindError("Identity(4)", {}, "Identity"),
            "model.seq:1:10: Identity: takes no positional arguments (1 given)");
}

TEST_F(ModuleArgsTest, RejectsUnknownKeyword) {
  EXPECT_EQ(BindError("Conv2d(1, 2, 3, foo=4)"),
            "model.seq:1:17: Conv2d: unexpected keyword argument 'foo'");
}

TEST_F(ModuleArgsTest, RejectsArgumentGivenPositionallyAndByKeyword) {
  EXPECT_EQ(BindError("Conv2d(1, 2, 3, 2, stride=2)"),
            "model.seq:1:20: Conv2d: got multiple values for argument 'stride'");
  EXPECT_EQ(BindError("Conv2d(1, 2, 3, in_channels=1)"),
            "model.seq:1:17: Conv2d: got multiple values for argument 'in_channels'");
}

TEST_F(ModuleArgsTest, RejectsRepeatedKeywordInAHandBuiltCall) {
  // The parser already rejects `stride=1, stride=2`; the binder must not rely on that.
  SeqCall call;
  call.name = "Conv2d";
  call.loc = {2, 3};
  call.args = {IntValue(1), IntValue(2), IntValue(3)};
  call.kwargs.push_back({"stride", {2, 20}, IntValue(1)});
  call.kwargs.push_back({"stride", {2, 30}, IntValue(2)});
  absl::StatusOr<ModuleArgs> args = ModuleArgs::Bind(call, "Conv2d", Conv2dSignature(), "m.seq");
  EXPECT_EQ(ErrorOf(args), "m.seq:2:30: Conv2d: got multiple values for argument 'stride'");
}

TEST_F(ModuleArgsTest, RejectsMissingRequiredArgumentAtTheCall) {
  EXPECT_EQ(BindError("Conv2d(1, kernel_size=3)"),
            "model.seq:1:1: Conv2d: missing required argument 'out_channels'");
  EXPECT_EQ(BindError("Conv2d()"),
            "model.seq:1:1: Conv2d: missing required argument 'in_channels'");
}

TEST_F(ModuleArgsTest, BindsMethodCallArguments) {
  std::vector<ArgSpec> append = {Required("module")};
  ModuleArgs args = MustBind("Sequential().append(Linear(8, 2))", append);
  EXPECT_EQ(args.Get("module").Describe(), "call to Linear");
  EXPECT_EQ(BindError("Sequential()\n  .append()", append, "Sequential.append"),
            "model.seq:2:4: Sequential.append: missing required argument 'module'");
}

// --- Typed reads ---

TEST_F(ModuleArgsTest, IntRejectsFloatBoolStringNoneAndCalls) {
  ModuleArgs args =
      MustBind("Conv2d(1, 2.0, True, stride='same', padding=None, dilation=ReLU(), groups=1e-05)");
  EXPECT_EQ(ErrorOf(args.Int("out_channels")),
            "model.seq:1:11: Conv2d: argument 'out_channels': expected int, got float (2.0)");
  EXPECT_EQ(ErrorOf(args.Int("kernel_size")),
            "model.seq:1:16: Conv2d: argument 'kernel_size': expected int, got bool (True)");
  EXPECT_EQ(ErrorOf(args.Int("stride")),
            "model.seq:1:22: Conv2d: argument 'stride': expected int, got str ('same')");
  EXPECT_EQ(ErrorOf(args.Int("padding")),
            "model.seq:1:37: Conv2d: argument 'padding': expected int, got None");
  EXPECT_EQ(ErrorOf(args.Int("dilation")),
            "model.seq:1:51: Conv2d: argument 'dilation': expected int, got call to ReLU");
  EXPECT_EQ(ErrorOf(args.Int("groups")),
            "model.seq:1:68: Conv2d: argument 'groups': expected int, got float (1e-05)");
  EXPECT_EQ(*args.Int("in_channels"), 1);
}

TEST_F(ModuleArgsTest, FloatAcceptsIntsAndRejectsTheRest) {
  std::vector<ArgSpec> sig = {Required("normalized_shape"), Default("eps", 1e-5),
                              Default("elementwise_affine", true), Default("bias", true)};
  ModuleArgs defaults = MustBind("LayerNorm(4)", sig);
  EXPECT_DOUBLE_EQ(*defaults.Float("eps"), 1e-5);
  ModuleArgs with_int = MustBind("LayerNorm(4, eps=1)", sig);
  EXPECT_DOUBLE_EQ(*with_int.Float("eps"), 1.0);
  ModuleArgs with_neg = MustBind("LayerNorm(4, -2.5)", sig);
  EXPECT_DOUBLE_EQ(*with_neg.Float("eps"), -2.5);
  ModuleArgs bad = MustBind("LayerNorm(4, eps='small', bias=True)", sig);
  EXPECT_EQ(ErrorOf(bad.Float("eps")),
            "model.seq:1:14: Conv2d: argument 'eps': expected float, got str ('small')");
  EXPECT_EQ(ErrorOf(bad.Float("bias")),
            "model.seq:1:27: Conv2d: argument 'bias': expected float, got bool (True)");
}

TEST_F(ModuleArgsTest, BoolAcceptsIntsByTruthiness) {
  ModuleArgs args = MustBind("Conv2d(0, 2, 3, bias=0, padding_mode='yes')");
  EXPECT_FALSE(*args.Bool("bias"));
  EXPECT_FALSE(*args.Bool("in_channels"));
  EXPECT_TRUE(*args.Bool("out_channels"));
  EXPECT_EQ(ErrorOf(args.Bool("padding_mode")),
            "model.seq:1:25: Conv2d: argument 'padding_mode': expected bool, got str ('yes')");
  ModuleArgs floats = MustBind("Conv2d(1, 2, 3, bias=1.0)");
  EXPECT_EQ(ErrorOf(floats.Bool("bias")),
            "model.seq:1:17: Conv2d: argument 'bias': expected bool, got float (1.0)");
}

TEST_F(ModuleArgsTest, StringRejectsNonStrings) {
  ModuleArgs args = MustBind("Conv2d(1, 2, 3, padding_mode=1)");
  EXPECT_EQ(ErrorOf(args.String("padding_mode")),
            "model.seq:1:17: Conv2d: argument 'padding_mode': expected str, got int (1)");
  EXPECT_FALSE(args.IsString("padding_mode"));
}

TEST_F(ModuleArgsTest, IntTupleRepeatsAnIntOrTakesExactlyNInts) {
  ModuleArgs args = MustBind("Conv2d(1, 2, [3, 5], stride=(2,), padding=(1, 2, 3))");
  EXPECT_EQ(*args.IntTuple("kernel_size", 2), Ints({3, 5}));
  EXPECT_EQ(*args.IntTuple("in_channels", 3), Ints({1, 1, 1}));
  EXPECT_EQ(*args.IntTuple("stride", 1), Ints({2}));
  EXPECT_EQ(*args.IntTuple("padding", 3), Ints({1, 2, 3}));
  EXPECT_EQ(ErrorOf(args.IntTuple("padding", 2)),
            "model.seq:1:35: Conv2d: argument 'padding': expected an int or a tuple of 2 ints, got "
            "a tuple of 3");
  EXPECT_EQ(
      ErrorOf(args.IntTuple("stride", 2)),
      "model.seq:1:22: Conv2d: argument 'stride': expected an int or a tuple of 2 ints, got a "
      "tuple of 1");
  EXPECT_EQ(ErrorOf(args.IntTuple("kernel_size", 1)),
            "model.seq:1:14: Conv2d: argument 'kernel_size': expected an int or a tuple of 1 int, "
            "got a list of 2");
}

TEST_F(ModuleArgsTest, IntTupleRejectsNonIntElementsAndOtherTypes) {
  ModuleArgs args = MustBind("Conv2d(1, 2, (3, 2.5), padding='same', stride=(True, 1))");
  EXPECT_EQ(ErrorOf(args.IntTuple("kernel_size", 2)),
            "model.seq:1:14: Conv2d: argument 'kernel_size': expected an int or a tuple of 2 ints, "
            "got tuple (3, 2.5)");
  EXPECT_EQ(ErrorOf(args.IntTuple("padding", 2)),
            "model.seq:1:24: Conv2d: argument 'padding': expected an int or a tuple of 2 ints, got "
            "str ('same')");
  EXPECT_EQ(ErrorOf(args.IntTuple("stride", 2)),
            "model.seq:1:40: Conv2d: argument 'stride': expected an int or a tuple of 2 ints, got "
            "tuple (True, 1)");
}

TEST_F(ModuleArgsTest, IntListTakesAnIntOrAnyNumberOfInts) {
  std::vector<ArgSpec> sig = {Required("a"), Required("b"), Required("c"), Default("d", 0)};
  ModuleArgs args = MustBind("X(4, (2, 3, 4), [], d=(2, 'a'))", sig);
  EXPECT_EQ(*args.IntList("a"), Ints({4}));
  EXPECT_EQ(*args.IntList("b"), Ints({2, 3, 4}));
  EXPECT_TRUE(args.IntList("c")->empty());
  EXPECT_EQ(ErrorOf(args.IntList("d")),
            "model.seq:1:21: Conv2d: argument 'd': expected an int or a tuple of ints, got tuple "
            "(2, 'a')");
  ModuleArgs none = MustBind("X(None, 1, 1)", sig);
  EXPECT_EQ(ErrorOf(none.IntList("a")),
            "model.seq:1:3: Conv2d: argument 'a': expected an int or a tuple of ints, got None");
}

TEST_F(ModuleArgsTest, OmitsLongValuesFromMessages) {
  ModuleArgs args = MustBind(
      "Conv2d(1, (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16), 3, padding=(1, 2))");
  EXPECT_EQ(ErrorOf(args.Int("out_channels")),
            "model.seq:1:11: Conv2d: argument 'out_channels': expected int, got tuple");
  EXPECT_EQ(ErrorOf(args.Int("padding")),
            "model.seq:1:71: Conv2d: argument 'padding': expected int, got tuple (1, 2)");
}

TEST_F(ModuleArgsTest, IsNoneSeesDefaultsAndGivenValues) {
  std::vector<ArgSpec> sig = {Default("dim", NoneValue())};
  EXPECT_TRUE(MustBind("Softmax()", sig).IsNone("dim"));
  EXPECT_TRUE(MustBind("Softmax(None)", sig).IsNone("dim"));
  ModuleArgs given = MustBind("Softmax(dim=-1)", sig);
  EXPECT_FALSE(given.IsNone("dim"));
  EXPECT_EQ(*given.Int("dim"), -1);
}

// --- Error locations ---

TEST_F(ModuleArgsTest, ErrorPointsAtTheValueTheKeywordOrTheCall) {
  absl::StatusOr<SeqValue> root = ParseModelSeq(
      "nn.Sequential(\n nn.Linear(1, 2),\n nn.Conv2d(3, 8, 3, groups=2),\n)\n", "model.seq");
  ASSERT_TRUE(root.ok()) << root.status();
  // Bind the Conv2d inside the Sequential, as the builder does.
  const SeqCall& conv = *root->call->args[1].call;
  absl::StatusOr<ModuleArgs> bound =
      ModuleArgs::Bind(conv, "Conv2d", Conv2dSignature(), "model.seq");
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_EQ(bound->Error("groups", "in_channels (3) must be divisible by groups (2)").message(),
            "model.seq:3:21: Conv2d: argument 'groups': in_channels (3) must be divisible by "
            "groups (2)");
  EXPECT_EQ(bound->Error("out_channels", "must be positive").message(),
            "model.seq:3:15: Conv2d: argument 'out_channels': must be positive");
  EXPECT_EQ(bound->Error("dilation", "must be positive").message(),
            "model.seq:3:2: Conv2d: argument 'dilation': must be positive");
  EXPECT_EQ(bound->CallError("padding='same' is not supported for strided convolutions").message(),
            "model.seq:3:2: Conv2d: padding='same' is not supported for strided convolutions");
  EXPECT_EQ(bound->CallError("x").code(), absl::StatusCode::kInvalidArgument);
}

// --- Builders ---

TEST(ModuleArgsBuilders, MakeValuesOfTheRightKind) {
  EXPECT_EQ(NoneValue().kind, SeqValue::Kind::kNone);
  EXPECT_TRUE(BoolValue(true).bool_value);
  EXPECT_EQ(IntValue(-3).int_value, -3);
  EXPECT_DOUBLE_EQ(FloatValue(0.5).float_value, 0.5);
  EXPECT_EQ(StringValue("zeros").string_value, "zeros");
  SeqValue tuple = TupleValue({IntValue(1), IntValue(2)});
  EXPECT_EQ(tuple.kind, SeqValue::Kind::kTuple);
  EXPECT_EQ(tuple.items.size(), 2u);
  EXPECT_EQ(Required("x").name, "x");
  EXPECT_FALSE(Required("x").default_value.has_value());
}

TEST(ModuleArgsBuilders, DefaultShorthandsPickTheMatchingKind) {
  EXPECT_EQ(Default("a", true).default_value->kind, SeqValue::Kind::kBool);
  EXPECT_EQ(Default("b", 1).default_value->kind, SeqValue::Kind::kInt);
  EXPECT_EQ(Default("c", int64_t{-1}).default_value->int_value, -1);
  EXPECT_EQ(Default("d", 1e-5).default_value->kind, SeqValue::Kind::kFloat);
  EXPECT_EQ(Default("e", "zeros").default_value->string_value, "zeros");
  EXPECT_EQ(Default("f", NoneValue()).default_value->kind, SeqValue::Kind::kNone);
  EXPECT_EQ(Default("g", TupleValue({IntValue(1)})).default_value->items.size(), 1u);
  EXPECT_EQ(Default("h", 0).default_value->kind, SeqValue::Kind::kInt);
}

}  // namespace
}  // namespace seqserve
