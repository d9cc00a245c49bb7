#include "core/seq_parser.h"

#include <cstdint>
#include <limits>
#include <string>

#include "core/seq_ast.h"
#include "core/seq_lexer.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

using Kind = SeqValue::Kind;

SeqValue Parse(std::string_view text) {
  absl::StatusOr<SeqValue> value = ParseModelSeq(text, "model.seq");
  EXPECT_TRUE(value.ok()) << value.status();
  return value.ok() ? *value : SeqValue();
}

// The full message of the error, or "" (and a test failure) when parsing succeeds.
std::string ParseError(std::string_view text) {
  absl::StatusOr<SeqValue> value = ParseModelSeq(text, "model.seq");
  EXPECT_FALSE(value.ok()) << "parsed without error: " << text;
  if (value.ok()) return "";
  EXPECT_EQ(value.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(value.status().message());
}

const SeqCall& CallOf(const SeqValue& value) {
  static const SeqCall kEmpty;
  EXPECT_EQ(value.kind, Kind::kCall) << value.Describe();
  return value.kind == Kind::kCall && value.call ? *value.call : kEmpty;
}

void ExpectLoc(SourceLoc loc, int line, int col) {
  EXPECT_EQ(loc.line, line);
  EXPECT_EQ(loc.col, col);
}

void ExpectInt(const SeqValue& value, int64_t expected) {
  EXPECT_EQ(value.kind, Kind::kInt) << value.Describe();
  EXPECT_EQ(value.int_value, expected);
}

void ExpectFloat(const SeqValue& value, double expected) {
  EXPECT_EQ(value.kind, Kind::kFloat) << value.Describe();
  EXPECT_DOUBLE_EQ(value.float_value, expected);
}

void ExpectString(const SeqValue& value, std::string_view expected) {
  EXPECT_EQ(value.kind, Kind::kString) << value.Describe();
  EXPECT_EQ(value.string_value, expected);
}

// --- The four examples of SPEC §3, verbatim ---

TEST(SeqParser, ParsesSeedExamplePositional) {
  SeqValue root = Parse(R"(# the seed's own example, verbatim
nn.Sequential(
          nn.Conv2d(1,20,5),
          nn.ReLU(),
          nn.Conv2d(20,64,5),
          nn.ReLU()
        )
)");
  const SeqCall& seq = CallOf(root);
  EXPECT_EQ(seq.name, "nn.Sequential");
  ExpectLoc(seq.loc, 2, 1);
  ExpectLoc(root.loc, 2, 1);
  EXPECT_EQ(seq.receiver, nullptr);
  ASSERT_EQ(seq.args.size(), 4u);
  EXPECT_TRUE(seq.kwargs.empty());

  const SeqCall& conv1 = CallOf(seq.args[0]);
  EXPECT_EQ(conv1.name, "nn.Conv2d");
  ExpectLoc(conv1.loc, 3, 11);
  ASSERT_EQ(conv1.args.size(), 3u);
  ExpectInt(conv1.args[0], 1);
  ExpectInt(conv1.args[1], 20);
  ExpectInt(conv1.args[2], 5);
  ExpectLoc(conv1.args[1].loc, 3, 23);

  const SeqCall& relu = CallOf(seq.args[1]);
  EXPECT_EQ(relu.name, "nn.ReLU");
  EXPECT_TRUE(relu.args.empty());
  ExpectLoc(relu.loc, 4, 11);

  const SeqCall& conv2 = CallOf(seq.args[2]);
  EXPECT_EQ(conv2.name, "nn.Conv2d");
  ExpectLoc(conv2.loc, 5, 11);
  ExpectLoc(seq.args[2].loc, 5, 11);
  ASSERT_EQ(conv2.args.size(), 3u);
  ExpectInt(conv2.args[0], 20);
  ExpectInt(conv2.args[1], 64);
  ExpectInt(conv2.args[2], 5);

  EXPECT_EQ(CallOf(seq.args[3]).name, "nn.ReLU");
}

TEST(SeqParser, SecondConvOfSeedExampleIsAtLine4Col11) {
  SeqValue root = Parse(R"(nn.Sequential(
          nn.Conv2d(1,20,5),
          nn.ReLU(),
          nn.Conv2d(20,64,5),
          nn.ReLU()
        ))");
  const SeqCall& seq = CallOf(root);
  ASSERT_EQ(seq.args.size(), 4u);
  ExpectLoc(CallOf(seq.args[2]).loc, 4, 11);
}

TEST(SeqParser, ParsesOrderedDictForm) {
  SeqValue root = Parse(R"(nn.Sequential(OrderedDict([
          ('conv1', nn.Conv2d(1,20,5)),
          ('relu1', nn.ReLU()),
          ('conv2', nn.Conv2d(20,64,5)),
          ('relu2', nn.ReLU())
        ])))");
  const SeqCall& seq = CallOf(root);
  EXPECT_EQ(seq.name, "nn.Sequential");
  ASSERT_EQ(seq.args.size(), 1u);
  const SeqCall& dict = CallOf(seq.args[0]);
  EXPECT_EQ(dict.name, "OrderedDict");
  ExpectLoc(dict.loc, 1, 15);
  ASSERT_EQ(dict.args.size(), 1u);
  const SeqValue& list = dict.args[0];
  EXPECT_EQ(list.kind, Kind::kList);
  ExpectLoc(list.loc, 1, 27);
  ASSERT_EQ(list.items.size(), 4u);

  const char* names[] = {"conv1", "relu1", "conv2", "relu2"};
  const char* types[] = {"nn.Conv2d", "nn.ReLU", "nn.Conv2d", "nn.ReLU"};
  for (int i = 0; i < 4; ++i) {
    const SeqValue& pair = list.items[i];
    EXPECT_EQ(pair.kind, Kind::kTuple);
    ExpectLoc(pair.loc, 2 + i, 11);
    ASSERT_EQ(pair.items.size(), 2u);
    ExpectString(pair.items[0], names[i]);
    ExpectLoc(pair.items[0].loc, 2 + i, 12);
    EXPECT_EQ(CallOf(pair.items[1]).name, types[i]);
    ExpectLoc(pair.items[1].loc, 2 + i, 21);
  }
  ExpectInt(CallOf(list.items[2].items[1]).args[1], 64);
}

TEST(SeqParser, ParsesChainedAppend) {
  SeqValue root =
      Parse("Sequential(Linear(4, 8), ReLU()).append(Linear(8, 2))      # append, chained\n");
  const SeqCall& append = CallOf(root);
  EXPECT_EQ(append.name, "append");
  ExpectLoc(append.loc, 1, 34);
  ExpectLoc(root.loc, 1, 1);
  ASSERT_EQ(append.args.size(), 1u);
  const SeqCall& linear = CallOf(append.args[0]);
  EXPECT_EQ(linear.name, "Linear");
  ExpectInt(linear.args[0], 8);
  ExpectInt(linear.args[1], 2);

  ASSERT_NE(append.receiver, nullptr);
  const SeqCall& seq = CallOf(*append.receiver);
  EXPECT_EQ(seq.name, "Sequential");
  EXPECT_EQ(seq.receiver, nullptr);
  ASSERT_EQ(seq.args.size(), 2u);
  EXPECT_EQ(CallOf(seq.args[0]).name, "Linear");
  EXPECT_EQ(CallOf(seq.args[1]).name, "ReLU");
}

TEST(SeqParser, ParsesLongerAppendChainsInnermostFirst) {
  SeqValue root = Parse("Sequential()\n  .append(ReLU())\n  .append(Tanh(),)");
  const SeqCall& outer = CallOf(root);
  EXPECT_EQ(outer.name, "append");
  ExpectLoc(outer.loc, 3, 4);
  EXPECT_EQ(CallOf(outer.args[0]).name, "Tanh");
  ASSERT_NE(outer.receiver, nullptr);
  const SeqCall& inner = CallOf(*outer.receiver);
  EXPECT_EQ(inner.name, "append");
  ExpectLoc(inner.loc, 2, 4);
  EXPECT_EQ(CallOf(inner.args[0]).name, "ReLU");
  ASSERT_NE(inner.receiver, nullptr);
  EXPECT_EQ(CallOf(*inner.receiver).name, "Sequential");
}

TEST(SeqParser, ParsesSubscriptsAsGetitemAndSlicesAsSliceCalls) {
  SeqValue root = Parse("Sequential(ReLU())[1:-1][::2][0]");
  const SeqCall& index = CallOf(root);
  EXPECT_EQ(index.name, "__getitem__");
  ExpectLoc(index.loc, 1, 30);
  ExpectLoc(root.loc, 1, 1);
  ASSERT_EQ(index.args.size(), 1u);
  ExpectInt(index.args[0], 0);
  const SeqCall& step = CallOf(*index.receiver);
  EXPECT_EQ(step.name, "__getitem__");
  const SeqCall& slice = CallOf(step.args[0]);
  EXPECT_EQ(slice.name, "slice");
  ASSERT_EQ(slice.args.size(), 3u);
  EXPECT_EQ(slice.args[0].kind, Kind::kNone);
  EXPECT_EQ(slice.args[1].kind, Kind::kNone);
  ExpectInt(slice.args[2], 2);
  const SeqCall& range = CallOf(CallOf(*step.receiver).args[0]);
  EXPECT_EQ(range.name, "slice");
  ExpectInt(range.args[0], 1);
  ExpectInt(range.args[1], -1);
  EXPECT_EQ(range.args[2].kind, Kind::kNone);
  for (const char* text : {"S()[:]", "S()[1:]", "S()[:2]", "S()[::]", "S()[1::]", "S()[:2:]"}) {
    EXPECT_EQ(CallOf(CallOf(Parse(text)).args[0]).args.size(), 3u) << text;
  }
}

TEST(SeqParser, ParsesPlusOfCallsAsAddAndMethodsOnParentheses) {
  SeqValue root = Parse("(Sequential(ReLU()) + Sequential(Tanh()) + Sequential())[1:].append(X())");
  const SeqCall& append = CallOf(root);
  EXPECT_EQ(append.name, "append");
  const SeqCall& slice = CallOf(*append.receiver);
  EXPECT_EQ(slice.name, "__getitem__");
  const SeqCall& outer = CallOf(*slice.receiver);
  EXPECT_EQ(outer.name, "__add__");
  ExpectLoc(outer.loc, 1, 42);
  EXPECT_EQ(CallOf(outer.args[0]).args.size(), 0u);
  const SeqCall& inner = CallOf(*outer.receiver);
  EXPECT_EQ(inner.name, "__add__");
  ExpectLoc(inner.loc, 1, 21);
  EXPECT_EQ(CallOf(*inner.receiver).name, "Sequential");
  EXPECT_EQ(CallOf(inner.args[0]).name, "Sequential");
  // Numbers still fold, and a number next to a call is left for the builder to refuse.
  ExpectInt(CallOf(Parse("Linear(2 + 3, 1)")).args[0], 5);
  EXPECT_EQ(CallOf(Parse("1 + S()")).name, "__add__");
}

TEST(SeqParser, RejectsBadSubscripts) {
  EXPECT_EQ(ParseError("S()[]"), "model.seq:1:5: syntax error: expected an index or a slice "
                                 "inside '[]', got ']'");
  EXPECT_EQ(ParseError("S()[1"), "model.seq:1:6: syntax error: expected ']' to close the '[' "
                                 "opened at 1:4, got end of input");
  EXPECT_EQ(ParseError("S()[1:2:3:4]"), "model.seq:1:10: syntax error: expected ']' to close "
                                        "the '[' opened at 1:4, got ':'");
  EXPECT_EQ(ParseError("S()[1, 2]"), "model.seq:1:6: syntax error: expected ']' to close the '[' "
                                     "opened at 1:4, got ','");
  EXPECT_EQ(ParseError("Linear(4: 5)"), "model.seq:1:9: syntax error: expected ',' or ')' in the "
                                        "call to 'Linear' opened at 1:1, got ':'");
}

TEST(SeqParser, CountsPlusChainsAndSubscriptsAgainstTheNestingLimit) {
  std::string sum = "S()";
  for (int i = 0; i < 200; ++i) sum += "+S()";
  Parse(sum);
  sum += "+S()";
  EXPECT_EQ(ParseError(sum), "model.seq:1:" + std::to_string(4 + 200 * 4) +
                                 ": nesting deeper than 200 levels");
  // As for .append chains: 199 subscripts with their index fit, the 200th index does not.
  std::string subscripts = "S()";
  for (int i = 0; i < 199; ++i) subscripts += "[0]";
  Parse(subscripts);
  subscripts += "[0]";
  EXPECT_EQ(ParseError(subscripts), "model.seq:1:" + std::to_string(4 + 199 * 3 + 1) +
                                        ": nesting deeper than 200 levels");
}

TEST(SeqParser, ParsesNestedSequential) {
  SeqValue root =
      Parse("nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.GELU()), nn.Linear(4, 1))  # nesting");
  const SeqCall& outer = CallOf(root);
  ASSERT_EQ(outer.args.size(), 2u);
  const SeqCall& inner = CallOf(outer.args[0]);
  EXPECT_EQ(inner.name, "nn.Sequential");
  ExpectLoc(inner.loc, 1, 15);
  ASSERT_EQ(inner.args.size(), 2u);
  EXPECT_EQ(CallOf(inner.args[0]).name, "nn.Linear");
  EXPECT_EQ(CallOf(inner.args[1]).name, "nn.GELU");
  const SeqCall& last = CallOf(outer.args[1]);
  EXPECT_EQ(last.name, "nn.Linear");
  ExpectLoc(last.loc, 1, 58);
  ExpectInt(last.args[1], 1);
}

// --- Names, comments, layout ---

TEST(SeqParser, KeepsDottedNamesAsWritten) {
  SeqValue root =
      Parse("torch.nn.Sequential(collections.OrderedDict([('a', torch.nn.ReLU())]), nn.Tanh())");
  const SeqCall& seq = CallOf(root);
  EXPECT_EQ(seq.name, "torch.nn.Sequential");
  EXPECT_EQ(CallOf(seq.args[0]).name, "collections.OrderedDict");
  EXPECT_EQ(CallOf(CallOf(seq.args[0]).args[0].items[0].items[1]).name, "torch.nn.ReLU");
  EXPECT_EQ(CallOf(seq.args[1]).name, "nn.Tanh");
}

TEST(SeqParser, SkipsCommentsAndAnyWhitespace) {
  SeqValue root = Parse(
      "# header comment\r\n"
      "\n"
      "nn.Sequential(   # opening\r\n"
      "\tnn.Linear(  # in the middle of a call\n"
      "\t\t4,\n"
      "  # a line of its own\n"
      "\t\t8 ) ,\n"
      "nn.ReLU\t(\n)\n"
      ")  # trailing\n"
      "# footer, no newline at the end");
  const SeqCall& seq = CallOf(root);
  ASSERT_EQ(seq.args.size(), 2u);
  const SeqCall& linear = CallOf(seq.args[0]);
  ExpectLoc(linear.loc, 4, 2);  // a tab is one column
  ExpectInt(linear.args[0], 4);
  ExpectInt(linear.args[1], 8);
  ExpectLoc(linear.args[1].loc, 7, 3);
  EXPECT_EQ(CallOf(seq.args[1]).name, "nn.ReLU");
}

TEST(SeqParser, AcceptsTrailingCommasEverywhere) {
  SeqValue root =
      Parse("Sequential(Conv2d(1, 2, (3, 3,), padding=1,), OrderedDict([('a', B()),],),)");
  const SeqCall& seq = CallOf(root);
  ASSERT_EQ(seq.args.size(), 2u);
  const SeqCall& conv = CallOf(seq.args[0]);
  ASSERT_EQ(conv.args.size(), 3u);
  ASSERT_EQ(conv.kwargs.size(), 1u);
  EXPECT_EQ(conv.args[2].kind, Kind::kTuple);
  EXPECT_EQ(conv.args[2].items.size(), 2u);
  EXPECT_EQ(CallOf(seq.args[1]).args[0].items.size(), 1u);
}

TEST(SeqParser, SkipsUtf8ByteOrderMark) {
  SeqValue root = Parse("\xEF\xBB\xBFnn.ReLU()");
  ExpectLoc(CallOf(root).loc, 1, 1);
}

// --- Arguments ---

TEST(SeqParser, SeparatesPositionalAndKeywordArguments) {
  SeqValue root = Parse("Conv2d(1, 20,\n       kernel_size=5, padding='same', bias=False)");
  const SeqCall& conv = CallOf(root);
  ASSERT_EQ(conv.args.size(), 2u);
  ASSERT_EQ(conv.kwargs.size(), 3u);
  EXPECT_EQ(conv.kwargs[0].name, "kernel_size");
  ExpectLoc(conv.kwargs[0].loc, 2, 8);
  ExpectInt(conv.kwargs[0].value, 5);
  ExpectLoc(conv.kwargs[0].value.loc, 2, 20);
  EXPECT_EQ(conv.kwargs[1].name, "padding");
  ExpectString(conv.kwargs[1].value, "same");
  EXPECT_EQ(conv.kwargs[2].name, "bias");
  EXPECT_EQ(conv.kwargs[2].value.kind, Kind::kBool);
  EXPECT_FALSE(conv.kwargs[2].value.bool_value);
}

TEST(SeqParser, AllowsKeywordsOnly) {
  SeqValue root = Parse("Linear(in_features=4, out_features=2)");
  EXPECT_TRUE(CallOf(root).args.empty());
  EXPECT_EQ(CallOf(root).kwargs.size(), 2u);
}

// --- Literals ---

TEST(SeqParser, ParsesIntLiterals) {
  SeqValue t = Parse("(0, 7, 1234567, 000, 0x1F, 0XfF, 0o17, 0b101, 9223372036854775807)");
  ASSERT_EQ(t.items.size(), 9u);
  ExpectInt(t.items[0], 0);
  ExpectInt(t.items[1], 7);
  ExpectInt(t.items[2], 1234567);
  ExpectInt(t.items[3], 0);
  ExpectInt(t.items[4], 31);
  ExpectInt(t.items[5], 255);
  ExpectInt(t.items[6], 15);
  ExpectInt(t.items[7], 5);
  ExpectInt(t.items[8], std::numeric_limits<int64_t>::max());
}

TEST(SeqParser, ParsesFloatLiterals) {
  SeqValue t = Parse("(1e-5, .5, 5., 1E3, 1.5e+2, 0.0, 2.5, 1.e2, 3.25E-1)");
  ASSERT_EQ(t.items.size(), 9u);
  ExpectFloat(t.items[0], 1e-5);
  ExpectFloat(t.items[1], 0.5);
  ExpectFloat(t.items[2], 5.0);
  ExpectFloat(t.items[3], 1000.0);
  ExpectFloat(t.items[4], 150.0);
  ExpectFloat(t.items[5], 0.0);
  ExpectFloat(t.items[6], 2.5);
  ExpectFloat(t.items[7], 100.0);
  ExpectFloat(t.items[8], 0.325);
}

TEST(SeqParser, ParsesConstants) {
  SeqValue t = Parse("[True, False, None]");
  EXPECT_EQ(t.kind, Kind::kList);
  ASSERT_EQ(t.items.size(), 3u);
  EXPECT_EQ(t.items[0].kind, Kind::kBool);
  EXPECT_TRUE(t.items[0].bool_value);
  EXPECT_EQ(t.items[1].kind, Kind::kBool);
  EXPECT_FALSE(t.items[1].bool_value);
  EXPECT_EQ(t.items[2].kind, Kind::kNone);
  ExpectLoc(t.items[2].loc, 1, 15);
}

TEST(SeqParser, ParsesStringsWithEitherQuoteAndEscapes) {
  SeqValue t = Parse(R"(('zeros', "reflect", '', "it's", 'say "hi"', 'a\'b', "a\"b", 'tab\there',
                         'nl\n', 'back\\slash', '\x41', 'keep\d', 'caf\xc3\xa9', 'été'))");
  ASSERT_EQ(t.items.size(), 14u);
  ExpectString(t.items[0], "zeros");
  ExpectString(t.items[1], "reflect");
  ExpectString(t.items[2], "");
  ExpectString(t.items[3], "it's");
  ExpectString(t.items[4], "say \"hi\"");
  ExpectString(t.items[5], "a'b");
  ExpectString(t.items[6], "a\"b");
  ExpectString(t.items[7], "tab\there");
  ExpectString(t.items[8], "nl\n");
  ExpectString(t.items[9], "back\\slash");
  ExpectString(t.items[10], "A");
  ExpectString(t.items[11], "keep\\d");  // unknown escapes stay verbatim, as in Python
  ExpectString(t.items[12], "caf\xc3\xa9");
  ExpectString(t.items[13], "\xc3\xa9t\xc3\xa9");
}

TEST(SeqParser, CountsColumnsInCharactersNotBytes) {
  SeqValue t = Parse("('\xc3\xa9t\xc3\xa9', 1)");
  ExpectLoc(t.items[1].loc, 1, 9);
}

TEST(SeqParser, ParsesSignedNumbers) {
  SeqValue t = Parse("(-1, +2, -1.5, -1e-5, - 3, -(4), --5, -9223372036854775808, -0x10)");
  ASSERT_EQ(t.items.size(), 9u);
  ExpectInt(t.items[0], -1);
  ExpectLoc(t.items[0].loc, 1, 2);
  ExpectInt(t.items[1], 2);
  ExpectFloat(t.items[2], -1.5);
  ExpectFloat(t.items[3], -1e-5);
  ExpectInt(t.items[4], -3);
  ExpectInt(t.items[5], -4);
  ExpectInt(t.items[6], 5);
  ExpectInt(t.items[7], std::numeric_limits<int64_t>::min());
  ExpectInt(t.items[8], -16);
}

TEST(SeqParser, ParsesTuplesListsAndParentheses) {
  SeqValue t = Parse("((1, 2), (1,), (), (5), [], [1, [2, (3,)]], ((1, 2), (3, (4,))))");
  ASSERT_EQ(t.kind, Kind::kTuple);
  ASSERT_EQ(t.items.size(), 7u);
  EXPECT_EQ(t.items[0].kind, Kind::kTuple);
  EXPECT_EQ(t.items[0].items.size(), 2u);
  EXPECT_EQ(t.items[1].kind, Kind::kTuple);
  EXPECT_EQ(t.items[1].items.size(), 1u);
  EXPECT_EQ(t.items[2].kind, Kind::kTuple);
  EXPECT_TRUE(t.items[2].items.empty());
  ExpectInt(t.items[3], 5);  // (5) is just 5
  ExpectLoc(t.items[3].loc, 1, 21);
  EXPECT_EQ(t.items[4].kind, Kind::kList);
  EXPECT_TRUE(t.items[4].items.empty());
  const SeqValue& list = t.items[5];
  EXPECT_EQ(list.kind, Kind::kList);
  ASSERT_EQ(list.items.size(), 2u);
  EXPECT_EQ(list.items[1].kind, Kind::kList);
  EXPECT_EQ(list.items[1].items[1].kind, Kind::kTuple);
  ExpectInt(list.items[1].items[1].items[0], 3);
  const SeqValue& nested = t.items[6];
  ASSERT_EQ(nested.items.size(), 2u);
  ExpectInt(nested.items[1].items[1].items[0], 4);
  ExpectLoc(nested.items[1].items[1].loc, 1, 58);
}

TEST(SeqParser, AcceptsNestingUpTo200Levels) {
  std::string text = std::string(200, '(') + "1" + std::string(200, ')');
  ExpectInt(Parse(text), 1);
}

TEST(SeqParser, DescribesValueKinds) {
  SeqValue t = Parse(
      "(None, True, 1, 1.0, 'a', (1,), [1], nn.Conv2d(1, 2, 3), "
      "torch.nn.ReLU(), Sequential().append(ReLU()))");
  ASSERT_EQ(t.items.size(), 10u);
  EXPECT_EQ(t.items[0].Describe(), "None");
  EXPECT_EQ(t.items[1].Describe(), "bool");
  EXPECT_EQ(t.items[2].Describe(), "int");
  EXPECT_EQ(t.items[3].Describe(), "float");
  EXPECT_EQ(t.items[4].Describe(), "str");
  EXPECT_EQ(t.items[5].Describe(), "tuple");
  EXPECT_EQ(t.items[6].Describe(), "list");
  EXPECT_EQ(t.items[7].Describe(), "call to Conv2d");
  EXPECT_EQ(t.items[8].Describe(), "call to ReLU");
  EXPECT_EQ(t.items[9].Describe(), "call to append");
}

// --- Errors: exact messages ---

TEST(SeqParser, RejectsUnexpectedToken) {
  EXPECT_EQ(ParseError("nn.Sequential(, nn.ReLU())"),
            "model.seq:1:15: syntax error: expected an expression, got ','");
  EXPECT_EQ(ParseError("Linear(4, = 2)"),
            "model.seq:1:11: syntax error: expected an expression, got '='");
  EXPECT_EQ(ParseError("Linear(1=2)"),
            "model.seq:1:9: syntax error: expected ',' or ')' in the call to 'Linear' opened at "
            "1:1, got '='");
  EXPECT_EQ(ParseError("nn.5"),
            "model.seq:1:3: syntax error: expected end of input after the expression, got float .5");
  EXPECT_EQ(ParseError("nn.(1)"),
            "model.seq:1:4: syntax error: expected a name after 'nn.', got '('");
  EXPECT_EQ(ParseError("nn.None()"),
            "model.seq:1:4: syntax error: expected a name after 'nn.', got name 'None'");
}

// Bare dotted names are values (dtype=torch.float32); their consumers reject them where a
// string or a module was meant (module_args_test, sequential_builder_test).
TEST(SeqParser, ParsesBareNamesAsNameValues) {
  absl::StatusOr<SeqValue> v = ParseModelSeq("Linear(1, 2, dtype=torch.float32, device=cpu)",
                                             "model.seq");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->call->kwargs.size(), 2u);
  EXPECT_EQ(v->call->kwargs[0].value.kind, SeqValue::Kind::kName);
  EXPECT_EQ(v->call->kwargs[0].value.string_value, "torch.float32");
  EXPECT_EQ(v->call->kwargs[0].value.loc.col, 20);
  EXPECT_EQ(v->call->kwargs[1].value.string_value, "cpu");
  EXPECT_EQ(v->call->kwargs[1].value.Describe(), "name 'cpu'");
}

TEST(SeqParser, RejectsMissingComma) {
  EXPECT_EQ(ParseError("nn.Sequential(\n  nn.Linear(4, 8)\n  nn.ReLU()\n)"),
            "model.seq:3:3: syntax error: expected ',' or ')' in the call to 'nn.Sequential' "
            "opened at 1:1, got name 'nn'");
  EXPECT_EQ(ParseError("(1 2)"),
            "model.seq:1:4: syntax error: expected ',' or ')' in the '(' opened at 1:1, got int 2");
}

TEST(SeqParser, RejectsUnclosedBrackets) {
  EXPECT_EQ(ParseError("nn.Sequential(\n  nn.Conv2d(1,20,5]\n)"),
            "model.seq:2:19: syntax error: expected ')' to close the call to 'nn.Conv2d' opened at "
            "2:3, got ']'");
  EXPECT_EQ(ParseError("nn.Sequential(nn.ReLU()"),
            "model.seq:1:24: syntax error: expected ')' to close the call to 'nn.Sequential' "
            "opened at 1:1, got end of input");
  EXPECT_EQ(ParseError("Conv2d(1, 2, (3, 3)"),
            "model.seq:1:20: syntax error: expected ')' to close the call to 'Conv2d' opened at "
            "1:1, got end of input");
  EXPECT_EQ(ParseError("Linear(1, (2, 3])"),
            "model.seq:1:16: syntax error: expected ')' to close the '(' opened at 1:11, got ']'");
  EXPECT_EQ(ParseError("OrderedDict([('a', ReLU())\n)"),
            "model.seq:2:1: syntax error: expected ']' to close the '[' opened at 1:13, got ')'");
  EXPECT_EQ(ParseError("Linear(4, ]"),
            "model.seq:1:11: syntax error: expected ')' to close the call to 'Linear' opened at "
            "1:1, got ']'");
  EXPECT_EQ(ParseError("[1, 2,"),
            "model.seq:1:7: syntax error: expected ']' to close the '[' opened at 1:1, got end of "
            "input");
  EXPECT_EQ(ParseError("Sequential().append(ReLU()"),
            "model.seq:1:27: syntax error: expected ')' to close the call to 'append' opened at "
            "1:14, got end of input");
  EXPECT_EQ(ParseError("Sequential().append"),
            "model.seq:1:20: syntax error: expected '(' to call the method 'append', got end of "
            "input");
  EXPECT_EQ(ParseError("Sequential().1"),
            "model.seq:1:13: syntax error: expected end of input after the expression, got float "
            ".1");
  EXPECT_EQ(ParseError("Sequential().(1)"),
            "model.seq:1:14: syntax error: expected a method name after '.', got '('");
}

TEST(SeqParser, RejectsUnterminatedString) {
  EXPECT_EQ(ParseError("Conv2d(1, 2, 3, padding='same)"),
            "model.seq:1:25: syntax error: unterminated string literal");
  EXPECT_EQ(ParseError("Conv2d(1, 2, 3, padding=\"same\n\")"),
            "model.seq:1:25: syntax error: unterminated string literal");
  EXPECT_EQ(ParseError("('a\\"), "model.seq:1:2: syntax error: unterminated string literal");
  EXPECT_EQ(ParseError("'\\x4'"),
            "model.seq:1:1: syntax error: invalid \\x escape in a string (expected 2 hexadecimal "
            "digits)");
}

TEST(SeqParser, RejectsTrailingGarbage) {
  EXPECT_EQ(ParseError("nn.ReLU() nn.ReLU()"),
            "model.seq:1:11: syntax error: expected end of input after the expression, got name "
            "'nn'");
  EXPECT_EQ(ParseError("nn.Sequential(nn.ReLU()))"),
            "model.seq:1:25: syntax error: expected end of input after the expression, got ')'");
  EXPECT_EQ(ParseError("nn.ReLU(),"),
            "model.seq:1:10: syntax error: expected end of input after the expression, got ','");
  EXPECT_EQ(ParseError("(1, 2).append(3)"),
            "model.seq:1:7: syntax error: expected end of input after the expression, got '.'");
}

TEST(SeqParser, RejectsPositionalAfterKeyword) {
  EXPECT_EQ(ParseError("Conv2d(1, out_channels=2, 3)"),
            "model.seq:1:27: syntax error: positional argument follows keyword argument in the "
            "call to 'Conv2d'");
}

TEST(SeqParser, RejectsRepeatedKeyword) {
  EXPECT_EQ(ParseError("Conv2d(1, 2, 3, stride=1, stride=2)"),
            "model.seq:1:27: syntax error: keyword argument 'stride' repeated in the call to "
            "'Conv2d'");
}

TEST(SeqParser, RejectsNestingDeeperThan200Levels) {
  std::string parens = std::string(201, '(') + "1" + std::string(201, ')');
  EXPECT_EQ(ParseError(parens), "model.seq:1:202: nesting deeper than 200 levels");
  // Far beyond the limit: must fail cleanly, not overflow the stack.
  EXPECT_EQ(ParseError(std::string(1000000, '[')),
            "model.seq:1:202: nesting deeper than 200 levels");
  std::string calls;
  for (int i = 0; i < 300; ++i) calls += "S(";
  EXPECT_EQ(ParseError(calls), "model.seq:1:403: nesting deeper than 200 levels");
  EXPECT_EQ(ParseError(std::string(300, '-') + "1"),
            "model.seq:1:202: nesting deeper than 200 levels");
}

TEST(SeqParser, RejectsOverlongAppendChain) {
  // Each link nests the chain one level deeper, and the argument of a link sits one level
  // below it: 199 links with an argument fit, the 200th link's argument does not.
  std::string chain = "Sequential()";
  for (int i = 0; i < 199; ++i) chain += ".append(ReLU())";
  Parse(chain);
  chain += ".append(ReLU())";
  int last_dot_col = 13 + 199 * 15;
  EXPECT_EQ(ParseError(chain),
            "model.seq:1:" + std::to_string(last_dot_col + 8) + ": nesting deeper than 200 levels");
  EXPECT_EQ(ParseError(chain + ".append()"),
            "model.seq:1:" + std::to_string(last_dot_col + 8) + ": nesting deeper than 200 levels");
}

TEST(SeqParser, RejectsIntOverflow) {
  EXPECT_EQ(ParseError("Linear(99999999999999999999, 2)"),
            "model.seq:1:8: integer literal 99999999999999999999 does not fit in 64 bits");
  EXPECT_EQ(ParseError("Linear(9223372036854775808, 2)"),
            "model.seq:1:8: integer literal 9223372036854775808 does not fit in 64 bits");
  EXPECT_EQ(ParseError("(1, -9223372036854775809)"),
            "model.seq:1:5: integer literal -9223372036854775809 does not fit in 64 bits");
  EXPECT_EQ(ParseError("0x10000000000000000"),
            "model.seq:1:1: integer literal 0x10000000000000000 does not fit in 64 bits");
  EXPECT_EQ(ParseError("-(-9223372036854775808)"),
            "model.seq:1:1: integer does not fit in 64 bits");
  EXPECT_EQ(ParseError(std::string(1000, '9')),
            "model.seq:1:1: integer literal 99999999999999999999999999999... does not fit in 64 "
            "bits");
}

TEST(SeqParser, RejectsFloatOutOfRange) {
  EXPECT_EQ(ParseError("LayerNorm(4, eps=1e999)"),
            "model.seq:1:18: float literal '1e999' is out of the range of a 64-bit float");
}

TEST(SeqParser, RejectsEmptyInput) {
  EXPECT_EQ(ParseError(""),
            "model.seq:1:1: syntax error: expected an expression such as nn.Sequential(...), got "
            "end of input");
  EXPECT_EQ(ParseError("  # only a comment\n\n"),
            "model.seq:3:1: syntax error: expected an expression such as nn.Sequential(...), got "
            "end of input");
}

TEST(SeqParser, RejectsBadCharacters) {
  EXPECT_EQ(ParseError("nn.Sequential(nn.ReLU() $)"),
            "model.seq:1:25: syntax error: unexpected character '$'");
  EXPECT_EQ(ParseError("Sequential(*layers)"),
            "model.seq:1:12: syntax error: expected an expression, got '*'");
  EXPECT_EQ(ParseError("ReLU(\x01)"), "model.seq:1:6: syntax error: unexpected character '\\x01'");
  EXPECT_EQ(ParseError(std::string("ReLU(\0)", 7)),
            "model.seq:1:6: syntax error: unexpected character '\\x00'");
  EXPECT_EQ(ParseError("Conv2d(1, 2, 3; 4)"),
            "model.seq:1:15: syntax error: unexpected character ';'");
}

TEST(SeqParser, RejectsNonAsciiOutsideStrings) {
  // Smart quotes, as pasted from a web page.
  EXPECT_EQ(ParseError("nn.Sequential(\n  nn.Linear(4, 8),  \xE2\x80\x9Cx\xE2\x80\x9D)"),
            "model.seq:2:21: syntax error: non-ASCII character U+201C outside a string");
  EXPECT_EQ(ParseError("('\xc3\xa9', \xc3\xa9)"),
            "model.seq:1:7: syntax error: non-ASCII character U+00E9 outside a string");
  EXPECT_EQ(ParseError("(1, \xff)"),
            "model.seq:1:5: syntax error: non-ASCII character byte 0xFF outside a string");
}

TEST(SeqParser, RejectsMalformedNumbers) {
  EXPECT_EQ(ParseError("Linear(4, 8x)"),
            "model.seq:1:11: syntax error: invalid number literal '8x'");
  EXPECT_EQ(ParseError("LayerNorm(4, eps=1e)"),
            "model.seq:1:18: syntax error: invalid number literal '1e'");
  EXPECT_EQ(ParseError("Linear(007, 1)"),
            "model.seq:1:8: syntax error: leading zeros in an integer literal ('007') are not "
            "permitted");
  EXPECT_EQ(ParseError("0x"), "model.seq:1:1: syntax error: invalid hexadecimal literal '0x'");
  EXPECT_EQ(ParseError("0b102"), "model.seq:1:1: syntax error: invalid binary literal '0b102'");
}

TEST(SeqParser, RejectsUnaryOnNonNumbers) {
  EXPECT_EQ(ParseError("Hardtanh(min_val=-None)"),
            "model.seq:1:18: syntax error: bad operand for unary '-': None");
  EXPECT_EQ(ParseError("+ReLU()"),
            "model.seq:1:1: syntax error: bad operand for unary '+': call to ReLU");
  EXPECT_EQ(ParseError("-'a'"), "model.seq:1:1: syntax error: bad operand for unary '-': str");
}

TEST(SeqParser, ReportsTheFirstErrorInSourceOrder) {
  // The syntax error comes before the bad character, so it wins.
  EXPECT_EQ(ParseError("Foo(,) $"), "model.seq:1:5: syntax error: expected an expression, got ','");
}

TEST(SeqParser, NamesTheFileInErrors) {
  absl::StatusOr<SeqValue> value = ParseModelSeq("ReLU(", "models/mlp/1/model.seq");
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(std::string(value.status().message()),
            "models/mlp/1/model.seq:1:6: syntax error: expected ')' to close the call to 'ReLU' "
            "opened at 1:1, got end of input");
}

TEST(SeqLexer, EndsWithEndTokenAtTheEndPosition) {
  std::vector<SeqToken> tokens = TokenizeModelSeq("a.b(1,\n 'x')  ");
  ASSERT_EQ(tokens.size(), 9u);
  EXPECT_EQ(tokens[0].kind, SeqToken::Kind::kName);
  EXPECT_EQ(tokens[1].kind, SeqToken::Kind::kPunct);
  EXPECT_EQ(tokens[4].kind, SeqToken::Kind::kInt);
  EXPECT_EQ(tokens[4].int_magnitude, 1u);
  EXPECT_EQ(tokens[6].kind, SeqToken::Kind::kString);
  EXPECT_EQ(tokens[6].text, "x");
  EXPECT_EQ(tokens[6].source, "'x'");
  ExpectLoc(tokens[6].loc, 2, 2);
  EXPECT_EQ(tokens[8].kind, SeqToken::Kind::kEnd);
  ExpectLoc(tokens[8].loc, 2, 8);
}

}  // namespace
}  // namespace seqserve

namespace seqserve {
namespace {

// Constant arithmetic, folded at parse time; expected values are Python's own results
// for the same expressions (hand-checked: python3 -c 'print(16 * 5 * 5, 7 // -2, ...)').
int64_t IntOf(const std::string& expr) {
  absl::StatusOr<SeqValue> v = ParseModelSeq(expr, "model.seq");
  EXPECT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->kind, SeqValue::Kind::kInt) << expr;
  return v->int_value;
}

double FloatOf(const std::string& expr) {
  absl::StatusOr<SeqValue> v = ParseModelSeq(expr, "model.seq");
  EXPECT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->kind, SeqValue::Kind::kFloat) << expr;
  return v->float_value;
}

std::string ArithmeticError(const std::string& expr) {
  absl::StatusOr<SeqValue> v = ParseModelSeq(expr, "model.seq");
  return v.ok() ? "OK" : std::string(v.status().message());
}

TEST(SeqParserArithmetic, FoldsIntegerExpressionsAsPython) {
  EXPECT_EQ(IntOf("16 * 5 * 5"), 400);
  EXPECT_EQ(IntOf("2 + 3 * 4"), 14);
  EXPECT_EQ(IntOf("(2 + 3) * 4"), 20);
  EXPECT_EQ(IntOf("2 ** 3 ** 2"), 512);  // right-associative
  EXPECT_EQ(IntOf("-2 ** 2"), -4);       // unary minus binds looser than **
  EXPECT_EQ(IntOf("7 // 2"), 3);
  EXPECT_EQ(IntOf("7 // -2"), -4);  // floor, not truncation
  EXPECT_EQ(IntOf("-7 % 3"), 2);    // sign of the divisor
  EXPECT_EQ(IntOf("7 % -3"), -2);
  EXPECT_EQ(IntOf("1 ** 1000000000000"), 1);
  EXPECT_EQ(IntOf("(-1) ** 1000000000001"), -1);
  EXPECT_EQ(IntOf("10 - 2 - 3"), 5);  // left-associative
}

TEST(SeqParserArithmetic, FoldsFloatExpressionsAsPython) {
  EXPECT_DOUBLE_EQ(FloatOf("1 / 4"), 0.25);
  EXPECT_DOUBLE_EQ(FloatOf("2 ** -1"), 0.5);
  EXPECT_DOUBLE_EQ(FloatOf("1e-3 * 2"), 0.002);
  EXPECT_DOUBLE_EQ(FloatOf("7.5 // 2"), 3.0);
  EXPECT_DOUBLE_EQ(FloatOf("-7.5 % 2"), 0.5);
}

TEST(SeqParserArithmetic, UsesFoldedValuesAsArguments) {
  absl::StatusOr<SeqValue> v = ParseModelSeq("nn.Linear(16 * 5 * 5, 120)", "model.seq");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->call->args[0].int_value, 400);
  EXPECT_EQ(v->call->args[0].loc.col, 11);
}

TEST(SeqParserArithmetic, RejectsWhatPythonRejects) {
  EXPECT_EQ(ArithmeticError("1 // 0"),
            "model.seq:1:3: ZeroDivisionError: integer division or modulo by zero");
  EXPECT_EQ(ArithmeticError("1.0 / 0"), "model.seq:1:5: ZeroDivisionError: float division by zero");
  EXPECT_EQ(ArithmeticError("'a' * 3"), "model.seq:1:5: unsupported operand types for *: str and int");
  EXPECT_EQ(ArithmeticError("2 ** 64"), "model.seq:1:3: the result of ** does not fit in 64 bits");
  EXPECT_EQ(ArithmeticError("9223372036854775807 + 1"),
            "model.seq:1:21: the result of + does not fit in 64 bits");
  EXPECT_EQ(ArithmeticError("1 +"), "model.seq:1:4: syntax error: expected an expression, got end of input");
}

}  // namespace
}  // namespace seqserve
