// model.seq → module tree: the constructor forms of SPEC §3 and every builder error.
// Expected paths and parameter names are PyTorch's state_dict() keys for the same
// expressions (hand-derivable: children are "0", "1", ... or OrderedDict keys, joined by ".").
#include "core/sequential_builder.h"

#include <string>
#include <vector>

#include "core/seq_parser.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

absl::StatusOr<std::unique_ptr<Sequential>> Build(const std::string& text) {
  absl::StatusOr<SeqValue> ast = ParseModelSeq(text, "model.seq");
  if (!ast.ok()) return ast.status();
  return BuildSequential(*ast, "model.seq");
}

std::string BuildError(const std::string& text) {
  absl::StatusOr<std::unique_ptr<Sequential>> seq = Build(text);
  return seq.ok() ? "OK" : std::string(seq.status().message());
}

// "path:Type" of every leaf, and every parameter key.
std::vector<std::string> Leaves(const Sequential& seq) {
  std::vector<std::string> out;
  for (const Layer& layer : seq.Flatten()) {
    out.push_back(layer.path + ":" + std::string(layer.module->type()));
  }
  return out;
}

std::vector<std::string> ParamKeys(const Sequential& seq) {
  std::vector<std::string> keys;
  for (const Layer& layer : seq.Flatten()) {
    for (const ParamSpec& p : layer.module->params()) keys.push_back(layer.path + "." + p.name);
  }
  return keys;
}

TEST(SequentialBuilder, BuildsTheSeedExamplePositionally) {
  auto seq = Build(R"(nn.Sequential(
          nn.Conv2d(1,20,5),
          nn.ReLU(),
          nn.Conv2d(20,64,5),
          nn.ReLU()
        ))");
  // Conv2d is registered by the conv family; until then only the structure is checked.
  if (!seq.ok()) GTEST_SKIP() << seq.status();
  EXPECT_EQ(Leaves(**seq), (std::vector<std::string>{"0:Conv2d", "1:ReLU", "2:Conv2d", "3:ReLU"}));
}

TEST(SequentialBuilder, NamesChildrenByOrderedDictKeys) {
  auto seq = Build(R"(nn.Sequential(OrderedDict([
          ('fc1', nn.Linear(4, 8)),
          ('act', nn.ReLU()),
          ('fc2', nn.Linear(8, 2)),
        ])))");
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(Leaves(**seq), (std::vector<std::string>{"fc1:Linear", "act:ReLU", "fc2:Linear"}));
  EXPECT_EQ(ParamKeys(**seq),
            (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
}

TEST(SequentialBuilder, AcceptsCollectionsPrefixAndKeywordOrderedDict) {
  auto seq = Build("torch.nn.Sequential(collections.OrderedDict(a=nn.ReLU(), b=nn.Tanh()))");
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(Leaves(**seq), (std::vector<std::string>{"a:ReLU", "b:Tanh"}));
}

TEST(SequentialBuilder, AppendsInOrderWithPositionalNames) {
  auto seq = Build("Sequential(Linear(4, 8), ReLU()).append(Linear(8, 2)).append(nn.Sigmoid())");
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(Leaves(**seq),
            (std::vector<std::string>{"0:Linear", "1:ReLU", "2:Linear", "3:Sigmoid"}));
}

TEST(SequentialBuilder, NestsWithDottedPaths) {
  auto seq = Build(
      "nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.GELU()), nn.Linear(4, 1))");
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(Leaves(**seq), (std::vector<std::string>{"0.0:Linear", "0.1:GELU", "1:Linear"}));
  EXPECT_EQ(ParamKeys(**seq), (std::vector<std::string>{"0.0.weight", "0.0.bias", "1.weight",
                                                        "1.bias"}));
}

TEST(SequentialBuilder, AppendsToANestedSequential) {
  auto seq = Build("nn.Sequential(OrderedDict([('body', nn.Sequential(nn.ReLU()).append("
                   "nn.Tanh()))])).append(nn.Identity())");
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(Leaves(**seq), (std::vector<std::string>{"body.0:ReLU", "body.1:Tanh", "1:Identity"}));
}

TEST(SequentialBuilder, AcceptsAnEmptySequential) {
  auto seq = Build("nn.Sequential()");
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ((*seq)->size(), 0u);
}

TEST(SequentialBuilder, RejectsUnknownModulesListingTheSupportedOnes) {
  const std::string error = BuildError("nn.Sequential(\n  nn.Conv4d(1, 2, 3))");
  EXPECT_EQ(error.rfind("model.seq:2:3: unknown module 'nn.Conv4d'; supported: Sequential, ", 0),
            0u)
      << error;
  EXPECT_NE(error.find("Linear"), std::string::npos);
}

TEST(SequentialBuilder, RejectsForeignPrefixes) {
  EXPECT_EQ(BuildError("nn.Sequential(F.relu())").substr(0, 40),
            "model.seq:1:15: unknown module 'F.relu';");
}

TEST(SequentialBuilder, RejectsARootThatIsNotASequential) {
  EXPECT_EQ(BuildError("nn.Linear(4, 2)"),
            "model.seq:1:1: the model must be an nn.Sequential(...), got call to Linear");
  EXPECT_EQ(BuildError("[1, 2]"), "model.seq:1:1: the model must be an nn.Sequential(...), got list");
}

TEST(SequentialBuilder, RejectsBareNamesWhereAModuleBelongs) {
  EXPECT_EQ(BuildError("nn.Sequential(nn.ReLU)"),
            "model.seq:1:15: expected a module such as nn.ReLU(), got name 'nn.ReLU' (missing "
            "parentheses?)");
  EXPECT_EQ(BuildError("nn.Sequential(nn.ReLU(), 3)"),
            "model.seq:1:26: expected a module such as nn.ReLU(), got int");
}

TEST(SequentialBuilder, RejectsBadOrderedDictEntries) {
  EXPECT_EQ(BuildError("nn.Sequential(OrderedDict([('a', nn.ReLU()), ('a', nn.Tanh())]))"),
            "model.seq:1:47: Sequential: duplicate module name \"a\"");
  EXPECT_EQ(BuildError("nn.Sequential(OrderedDict([('a.b', nn.ReLU())]))"),
            "model.seq:1:29: Sequential: module name \"a.b\" can't contain \".\"");
  EXPECT_EQ(BuildError("nn.Sequential(OrderedDict([('', nn.ReLU())]))"),
            "model.seq:1:29: Sequential: a module name can't be empty");
  EXPECT_EQ(BuildError("nn.Sequential(OrderedDict([nn.ReLU()]))"),
            "model.seq:1:28: OrderedDict: expected a (name, module) pair such as ('conv1', "
            "nn.Conv2d(1, 20, 5)), got call to ReLU");
  EXPECT_EQ(BuildError("nn.Sequential(OrderedDict(5))"),
            "model.seq:1:27: OrderedDict: expected a list of (name, module) pairs, got int");
}

TEST(SequentialBuilder, RejectsKeywordsAndBadAppends) {
  EXPECT_EQ(BuildError("nn.Sequential(first=nn.ReLU())"),
            "model.seq:1:15: Sequential: unexpected keyword argument 'first' (Sequential takes "
            "modules, or one OrderedDict)");
  EXPECT_EQ(BuildError("nn.Sequential().append(nn.ReLU(), nn.Tanh())"),
            "model.seq:1:17: Sequential.append() takes exactly one module (2 given)");
  EXPECT_EQ(BuildError("nn.Sequential().extend(nn.ReLU())"),
            "model.seq:1:24: Sequential.extend(): expected a list of modules or a Sequential, got "
            "call to ReLU ('ReLU' object is not iterable)");
  EXPECT_EQ(BuildError("nn.Sequential().pop(0)"),
            "model.seq:1:17: unsupported method '.pop()'; a Sequential supports .append(module), "
            ".extend(modules), .insert(index, module), indexing, slicing and +");
  EXPECT_EQ(BuildError("nn.ReLU().append(nn.ReLU())"),
            "model.seq:1:1: .append() must follow an nn.Sequential(...), not nn.ReLU");
}

// --- The rest of Sequential's API. Every expected child name and state_dict key below is
// what torch 1.13 gives for the same expression (its container.py is PyTorch 2.1's for these
// methods): `[(n, type(m).__name__) for n, m in seq.named_children()]`, `seq.state_dict()`.

constexpr const char* kFour = "nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Tanh())";
constexpr const char* kNamed =
    "nn.Sequential(OrderedDict([('a', nn.Linear(4, 8)), ('b', nn.ReLU()), ('c', nn.Linear(8, "
    "3))]))";

std::vector<std::string> LeavesOf(const std::string& text) {
  auto seq = Build(text);
  EXPECT_TRUE(seq.ok()) << text << ": " << seq.status();
  return seq.ok() ? Leaves(**seq) : std::vector<std::string>{};
}

std::vector<std::string> KeysOf(const std::string& text) {
  auto seq = Build(text);
  EXPECT_TRUE(seq.ok()) << text << ": " << seq.status();
  return seq.ok() ? ParamKeys(**seq) : std::vector<std::string>{};
}

using Names = std::vector<std::string>;

TEST(SequentialApi, SlicingKeepsTheChildrensNames) {
  EXPECT_EQ(LeavesOf(std::string(kFour) + "[1:]"), (Names{"1:ReLU", "2:Linear", "3:Tanh"}));
  EXPECT_EQ(KeysOf(std::string(kFour) + "[1:]"), (Names{"2.weight", "2.bias"}));
  EXPECT_EQ(LeavesOf(std::string(kFour) + "[::2]"), (Names{"0:Linear", "2:Linear"}));
  EXPECT_EQ(KeysOf(std::string(kFour) + "[::-1]"),
            (Names{"2.weight", "2.bias", "0.weight", "0.bias"}));
  EXPECT_EQ(LeavesOf(std::string(kFour) + "[-100:2]"), (Names{"0:Linear", "1:ReLU"}));
  EXPECT_EQ(LeavesOf(std::string(kFour) + "[5:]"), Names{});
  EXPECT_EQ(LeavesOf(std::string(kFour) + "[1:][1:]"), (Names{"2:Linear", "3:Tanh"}));
  EXPECT_EQ(LeavesOf(std::string(kFour) + "[3:0:-2]"), (Names{"3:Tanh", "1:ReLU"}));
  EXPECT_EQ(LeavesOf(std::string(kFour) + "[1:3:9223372036854775807]"), (Names{"1:ReLU"}));
  EXPECT_EQ(LeavesOf(std::string(kFour) + "[::-9223372036854775807 - 1]"), (Names{"3:Tanh"}));
  EXPECT_EQ(LeavesOf(std::string(kNamed) + "[1:]"), (Names{"b:ReLU", "c:Linear"}));
  EXPECT_EQ(KeysOf(std::string(kNamed) + "[1:].append(nn.Linear(3, 2))"),
            (Names{"c.weight", "c.bias", "2.weight", "2.bias"}));
}

TEST(SequentialApi, IndexingGivesTheModuleItself) {
  EXPECT_EQ(KeysOf("nn.Sequential(nn.Sequential(nn.Linear(4, 8), nn.ReLU())[0], "
                   "nn.Sequential(nn.Linear(8, 2))[-1])"),
            (Names{"0.weight", "0.bias", "1.weight", "1.bias"}));
  // A nested Sequential picked by index is a Sequential, so it can be the model.
  EXPECT_EQ(LeavesOf("nn.Sequential(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), nn.Tanh())[0]"),
            (Names{"0:Linear", "1:ReLU"}));
  EXPECT_EQ(BuildError(std::string(kFour) + "[0]"),
            "model.seq:1:1: the model must be an nn.Sequential(...), but this expression gives a "
            "Linear (indexing gives the module itself; a slice such as [0:1] keeps a Sequential)");
}

TEST(SequentialApi, ExtendAppendsEachModuleWithPositionalNames) {
  EXPECT_EQ(KeysOf("nn.Sequential(nn.Linear(4, 8)).extend([nn.ReLU(), nn.Linear(8, 2)])"),
            (Names{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(LeavesOf("nn.Sequential(nn.Linear(4, 8)).extend(nn.Sequential(OrderedDict(r=nn.ReLU(), "
                     "o=nn.Linear(8, 2))))"),
            (Names{"0:Linear", "1:ReLU", "2:Linear"}));
  EXPECT_EQ(LeavesOf("nn.Sequential().extend((nn.ReLU(),)).extend([])"), (Names{"0:ReLU"}));
}

TEST(SequentialApi, InsertShiftsNamesAsPyTorch) {
  EXPECT_EQ(LeavesOf("nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)).insert(1, nn.ReLU())"),
            (Names{"0:Linear", "1:ReLU", "2:Linear"}));
  EXPECT_EQ(KeysOf("nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)).insert(-1, nn.ReLU())"),
            (Names{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(KeysOf("nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)).insert(2, nn.ReLU())"),
            (Names{"0.weight", "0.bias", "1.weight", "1.bias"}));
  EXPECT_EQ(LeavesOf("nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)).insert(-2, nn.ReLU())"),
            (Names{"0:ReLU", "1:Linear", "2:Linear"}));
  // At the end, with any names: PyTorch just adds str(len).
  EXPECT_EQ(LeavesOf("nn.Sequential(OrderedDict(a=nn.Linear(4, 8), b=nn.Linear(8, 2)))"
                     ".insert(2, nn.ReLU())"),
            (Names{"a:Linear", "b:Linear", "2:ReLU"}));
}

TEST(SequentialApi, AddRenumbersAndChains) {
  EXPECT_EQ(LeavesOf("nn.Sequential(nn.Linear(4, 8), nn.ReLU()) + "
                     "nn.Sequential(OrderedDict(out=nn.Linear(8, 2)))"),
            (Names{"0:Linear", "1:ReLU", "2:Linear"}));
  EXPECT_EQ(KeysOf("(nn.Sequential(nn.Linear(4, 8)) + nn.Sequential(nn.ReLU()))"
                   ".append(nn.Linear(8, 2))"),
            (Names{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(LeavesOf("nn.Sequential(nn.ReLU()) + nn.Sequential(nn.Tanh()) + "
                     "nn.Sequential(nn.Sequential(nn.GELU()))[0:1]"),
            (Names{"0:ReLU", "1:Tanh", "2.0:GELU"}));
  EXPECT_EQ(LeavesOf("nn.Sequential(nn.Sequential(nn.ReLU()) + nn.Sequential(nn.Tanh()), "
                     "(nn.Sequential(nn.Tanh()) + nn.Sequential())[0])"),
            (Names{"0.0:ReLU", "0.1:Tanh", "1:Tanh"}));
}

TEST(SequentialApi, RejectsWhatPyTorchRejects) {
  EXPECT_EQ(BuildError("nn.Sequential(nn.Linear(4, 8))[1]"),
            "model.seq:1:32: IndexError: index 1 is out of range");
  EXPECT_EQ(BuildError("nn.Sequential(nn.Linear(4, 8)).insert(3, nn.ReLU())"),
            "model.seq:1:39: IndexError: Index out of range: 3");
  EXPECT_EQ(BuildError("nn.Sequential(nn.Linear(4, 8))[::0]"),
            "model.seq:1:34: ValueError: slice step cannot be zero");
  EXPECT_EQ(BuildError("nn.Sequential(nn.Linear(4, 8)) + nn.ReLU()"),
            "model.seq:1:34: ValueError: add operator supports only objects of Sequential class, "
            "but ReLU is given");
  EXPECT_EQ(BuildError("nn.Sequential(nn.ReLU()[0])"),
            "model.seq:1:24: TypeError: 'ReLU' object is not subscriptable");
  EXPECT_EQ(BuildError("nn.Sequential(nn.ReLU() + nn.Sequential())"),
            "model.seq:1:25: ValueError: add operator supports only objects of Sequential class, "
            "but ReLU is given");
  EXPECT_EQ(BuildError("nn.Sequential(nn.ReLU())['0']"),
            "model.seq:1:26: a Sequential index must be an int, got str");
  EXPECT_EQ(BuildError("nn.Sequential(nn.ReLU())[0:1.5]"),
            "model.seq:1:28: slice indices must be an int or None, got float");
  EXPECT_EQ(BuildError("nn.Sequential(nn.ReLU()).insert(nn.ReLU(), 0)"),
            "model.seq:1:33: Sequential.insert(): the index must be an int, got call to ReLU");
  EXPECT_EQ(BuildError("nn.Sequential(nn.ReLU()).insert(0)"),
            "model.seq:1:26: Sequential.insert() takes an index and a module (1 given)");
  EXPECT_EQ(BuildError("nn.Sequential(nn.ReLU()).extend([nn.ReLU()], [])"),
            "model.seq:1:26: Sequential.extend() takes exactly one list of modules (2 given)");
  EXPECT_EQ(BuildError("nn.Sequential(nn.ReLU()) - nn.Sequential()"),
            "model.seq:1:26: unsupported operand types for -: call to Sequential and call to "
            "Sequential");
}

TEST(SequentialApi, RefusesWhatPyTorchWouldDoSilentlyWrong) {
  // PyTorch raises KeyError: '1' here.
  EXPECT_EQ(BuildError("nn.Sequential(OrderedDict(a=nn.Linear(4, 8), b=nn.Linear(8, 2)))"
                       ".insert(0, nn.ReLU())"),
            "model.seq:1:66: Sequential.insert(): PyTorch moves the child named \"1\" up, and "
            "there is none (it raises KeyError: '1'); insert needs children named 0, 1, ...");
  // PyTorch silently replaces the Linear named "2" with the new module.
  EXPECT_EQ(BuildError("nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))[1:]"
                       ".append(nn.ReLU())"),
            "model.seq:1:71: Sequential.append(): the new module's name \"2\" (the Sequential's "
            "length) is already taken by a child, which PyTorch would silently replace");
  EXPECT_EQ(BuildError("nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))[1:]"
                       ".insert(2, nn.ReLU())"),
            "model.seq:1:64: Sequential.insert(): with these child names PyTorch would overwrite "
            "a child (insert needs children named 0, 1, ...)");
}

TEST(SequentialBuilder, ReportsArgumentErrorsOfLeaves) {
  EXPECT_EQ(BuildError("nn.Sequential(nn.Linear(4))"),
            "model.seq:1:15: Linear: missing required argument 'out_features'");
  EXPECT_EQ(BuildError("nn.Sequential(nn.Linear(4, 2, dtype=torch.float64))"), "OK");
  EXPECT_EQ(BuildError("nn.Sequential(nn.GELU(approximate=tanh))"),
            "model.seq:1:23: GELU: argument 'approximate': expected str, got name 'tanh' "
            "(strings need quotes)");
  EXPECT_EQ(BuildError("nn.Sequential(nn.Dropout(p=1.5))"),
            "model.seq:1:26: Dropout: argument 'p': dropout probability has to be between 0 and "
            "1, but got 1.5");
}

}  // namespace
}  // namespace seqserve
