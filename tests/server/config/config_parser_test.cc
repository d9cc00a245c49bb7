// config.pbtxt parsing: every field of SPEC's example, one-based positions of syntax errors
// (protobuf's tokenizer columns), unsupported Triton fields named as such, and typos.
#include "server/config/config_parser.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

inference::ModelConfig Parse(std::string_view text) {
  auto config = ParseModelConfigText(text, "config.pbtxt");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : inference::ModelConfig{};
}

std::string ParseErrorOf(std::string_view text) {
  auto config = ParseModelConfigText(text, "config.pbtxt");
  EXPECT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return config.ok() ? "" : std::string(config.status().message());
}

TEST(ParseModelConfig, ReadsEveryFieldOfTheSpecExample) {
  const fs::path path = fs::path(::testing::TempDir()) / "spec_example" / "config.pbtxt";
  fs::create_directories(path.parent_path());
  std::ofstream(path) << R"(
name: "lenet"                          # must match the directory if given
max_batch_size: 64
input  [ { name: "input"  data_type: TYPE_FP32  dims: [ 1, 28, 28 ] } ]
output [ { name: "output" } ]
dynamic_batching {
  max_queue_delay_microseconds: 200
  preferred_batch_size: [ 16, 32 ]
  default_queue_policy {
    max_queue_size: 1024
    default_timeout_microseconds: 0
  }
}
instance_group [ { count: 2  kind: KIND_CPU } ]
intra_op_threads: 1
version_policy: { specific: { versions: [1,3] } }
)";
  auto config = ParseModelConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "lenet");
  EXPECT_EQ(config->max_batch_size(), 64);
  ASSERT_EQ(config->input_size(), 1);
  EXPECT_EQ(config->input(0).data_type(), inference::TYPE_FP32);
  EXPECT_THAT(config->input(0).dims(), ElementsAre(1, 28, 28));
  EXPECT_EQ(config->output(0).name(), "output");
  EXPECT_EQ(config->dynamic_batching().max_queue_delay_microseconds(), 200u);
  EXPECT_THAT(config->dynamic_batching().preferred_batch_size(), ElementsAre(16, 32));
  EXPECT_EQ(config->dynamic_batching().default_queue_policy().max_queue_size(), 1024u);
  EXPECT_EQ(config->instance_group(0).count(), 2);
  EXPECT_EQ(config->instance_group(0).kind(), inference::ModelInstanceGroup::KIND_CPU);
  EXPECT_EQ(config->intra_op_threads(), 1);
  EXPECT_THAT(config->version_policy().specific().versions(), ElementsAre(1, 3));
}

TEST(ParseModelConfig, SyntaxErrorsGiveOneBasedLineAndColumn) {
  // Line 2, column 34 is the "}" where the dims list needed "," (or "]").
  EXPECT_EQ(ParseErrorOf("max_batch_size: 8\n"
                         "input [ { name: \"x\" dims: [ 1, 2 } ]\n"),
            "config.pbtxt:2:34: Expected \",\", found \"}\".");
  // A tab counts to the next multiple of 8, as in protobuf's own messages.
  EXPECT_THAT(ParseErrorOf("\tmax_batch_size 8"), HasSubstr("config.pbtxt:1:24: "));
}

TEST(ParseModelConfig, ReadsTritonsParametersMap) {
  const inference::ModelConfig config = Parse(
      "parameters { key: \"adaptive_batching\" value: { string_value: \"false\" } }");
  ASSERT_EQ(config.parameters().size(), 1u);
  EXPECT_EQ(config.parameters().at("adaptive_batching").string_value(), "false");
}

TEST(ParseModelConfig, NamesAnUnsupportedTritonField) {
  EXPECT_EQ(ParseErrorOf("name: \"m\"\n"
                         "max_batch_size: 8\n"
                         "backend: \"pytorch\"\n"),
            "config.pbtxt:3:1: field 'backend' is not supported by seqserve");
  EXPECT_THAT(ParseErrorOf("sequence_batching { }"),
              HasSubstr("config.pbtxt:1:1: field 'sequence_batching' is not supported"));
  EXPECT_THAT(ParseErrorOf("max_batch_size: 4\n  optimization { graph { level: 1 } }"),
              HasSubstr("config.pbtxt:2:3: field 'optimization' is not supported"));
}

TEST(ParseModelConfig, ReadsThePrecisionParameterAndOnlyStringValues) {
  absl::StatusOr<inference::ModelConfig> config = ParseModelConfigText(
      "max_batch_size: 8\n"
      "parameters { key: \"precision\" value: { string_value: \"bf16\" } }\n",
      "config.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->parameters().count("precision"), 1u);
  EXPECT_EQ(config->parameters().at("precision").string_value(), "bf16");
  // Triton's ModelParameter has string_value only.
  EXPECT_THAT(ParseErrorOf("parameters { key: \"precision\" value: { int_value: 1 } }"),
              HasSubstr("unknown field 'int_value' in ModelParameter"));
}

TEST(ParseModelConfig, NamesUnsupportedFieldsOfNestedMessages) {
  EXPECT_THAT(ParseErrorOf("input [ { name: \"x\" reshape: { shape: [ 4 ] } } ]"),
              HasSubstr("config.pbtxt:1:21: field 'reshape' of ModelInput is not supported by "
                        "seqserve"));
  EXPECT_THAT(ParseErrorOf("instance_group [ { count: 1 gpus: [ 0 ] } ]"),
              HasSubstr("field 'gpus' of ModelInstanceGroup is not supported"));
  EXPECT_THAT(ParseErrorOf("dynamic_batching { preserve_ordering: true }"),
              HasSubstr("field 'preserve_ordering' of ModelDynamicBatching is not supported"));
}

TEST(ParseModelConfig, CallsATypoAnUnknownField) {
  EXPECT_EQ(ParseErrorOf("max_bath_size: 4"),
            "config.pbtxt:1:1: unknown field 'max_bath_size' in ModelConfig");
}

TEST(ParseModelConfig, RejectsBadValuesWithTheirPosition) {
  EXPECT_THAT(ParseErrorOf("dynamic_batching {\n  max_queue_delay_microseconds: -5\n}"),
              HasSubstr("config.pbtxt:2:33: "));
  EXPECT_THAT(ParseErrorOf("input [ { data_type: TYPE_FLOAT } ]"),
              HasSubstr("config.pbtxt:1:22: Unknown enumeration value of \"TYPE_FLOAT\" for "
                        "field \"data_type\"."));
  // An unsupported field is located at its name even when its value starts lines later.
  EXPECT_THAT(ParseErrorOf("max_batch_size: 1\n  # Triton's\n  backend\n\n  : \"onnx\""),
              HasSubstr("config.pbtxt:3:3: field 'backend' is not supported"));
  EXPECT_THAT(ParseErrorOf("name: \"a\"\nname: \"b\""), HasSubstr("config.pbtxt:2:"));
}

TEST(ParseModelConfig, AcceptsCommentsAndAnEmptyFile) {
  EXPECT_EQ(Parse("# nothing but a comment\n").max_batch_size(), 0);
  EXPECT_EQ(Parse("").ByteSizeLong(), 0u);
}

TEST(ParseModelConfig, MissingFileIsNotFound) {
  auto config = ParseModelConfig(fs::path(::testing::TempDir()) / "nowhere" / "config.pbtxt");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(), HasSubstr("config.pbtxt: no such file"));
}

// Before: a config.pbtxt made of a secrets file (or anything else) was quoted at length by
// protobuf's messages; now the offending token alone, cut to 40 characters.
TEST(ParseModelConfig, ErrorsQuoteOnlyTheOffendingTokenShortened) {
  const std::string long_name(200, 'k');
  auto config = ParseModelConfigText(long_name + ": 1\n", "config.pbtxt");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            "config.pbtxt:1:1: unknown field '" + std::string(40, 'k') + "...' in ModelConfig");
  auto bad_enum = ParseModelConfigText(
      "input [ { data_type: " + std::string(100, 'T') + " } ]\n", "config.pbtxt");
  ASSERT_FALSE(bad_enum.ok());
  EXPECT_THAT(std::string(bad_enum.status().message()),
              HasSubstr("\"" + std::string(40, 'T') + "...\""));
  EXPECT_THAT(std::string(bad_enum.status().message()),
              ::testing::Not(HasSubstr(std::string(41, 'T'))));
}

// Before: std::ifstream on a FIFO waited for a writer forever.
TEST(ParseModelConfig, NonRegularAndOversizedFilesAreRefused) {
  const fs::path dir = fs::path(::testing::TempDir()) / "config_parser_fifo";
  fs::remove_all(dir);
  fs::create_directories(dir);
  ASSERT_EQ(::mkfifo((dir / "config.pbtxt").c_str(), 0600), 0);
  auto fifo = ParseModelConfig(dir / "config.pbtxt");
  ASSERT_FALSE(fifo.ok());
  EXPECT_THAT(std::string(fifo.status().message()), HasSubstr("is a FIFO, not a regular file"));

  fs::remove(dir / "config.pbtxt");
  {
    std::ofstream(dir / "config.pbtxt") << "max_batch_size: 8\n";
  }
  FilePolicy policy;
  policy.max_bytes = 10;
  policy.limit_name = "--max-config-file-bytes";
  auto big = ParseModelConfig(dir / "config.pbtxt", policy);
  ASSERT_FALSE(big.ok());
  EXPECT_THAT(std::string(big.status().message()),
              HasSubstr("is 18 bytes; the limit is 10 bytes (--max-config-file-bytes=10)"));
}

// Found by tests/fuzz/fuzz_config: protobuf names some offending tokens without quotes
// ("Expected integer, got: ..."), and those were quoted whole, however long.
TEST(ParseModelConfig, ErrorsCutUnquotedTokensToo) {
  EXPECT_EQ(ParseErrorOf("max_batch_size: " + std::string(300, 'c') + "\n"),
            "config.pbtxt:1:17: Expected integer, got: " + std::string(40, 'c') + "...");
  EXPECT_EQ(ParseErrorOf("max_batch_size: cc\n"), "config.pbtxt:1:17: Expected integer, got: cc");
}

// Found by tests/fuzz/fuzz_config: an offending token that itself holds 'found "' was cut
// at that text instead of at protobuf's own "got: ", and its many short words came through.
TEST(ParseModelConfig, ErrorsCutAtProtobufsMarkerNotOneInsideTheToken) {
  std::string token = "'";
  for (int i = 0; i < 100; ++i) token += "ab ";
  token += "found \"x\" y'";
  EXPECT_EQ(ParseErrorOf(token + "\n"),
            "config.pbtxt:1:1: Expected identifier, got: " + token.substr(0, 40) + "...");
}

// Found by tests/fuzz/fuzz_config: an offending string literal holds quotes of its own, and
// cutting "each quoted part" let most of it through.
TEST(ParseModelConfig, ErrorsCutAnOffendingStringLiteralWhole) {
  std::string literal = "\"";
  for (int i = 0; i < 50; ++i) literal += "x\\\" ";
  literal += "\"";
  const std::string message = ParseErrorOf("input " + literal + "\n");
  EXPECT_EQ(message, "config.pbtxt:1:7: Expected \"{\", found \"" + literal.substr(0, 40) + "...\".");
}

// Found by tests/fuzz/fuzz_config: the text format's octal escapes put any bytes into a
// string field, and such a config parsed, then could not be serialized for the ModelConfig
// reply (protobuf refuses a string field that is not UTF-8). Now the parse fails, naming the
// field. Valid UTF-8, escaped or not, still parses.
TEST(ParseModelConfig, RejectsStringFieldsThatAreNotUtf8) {
  EXPECT_EQ(ParseErrorOf("input [ { name: \"in\\377put\" } ]\n"),
            "config.pbtxt: field 'input[0].name' is not valid UTF-8");
  EXPECT_EQ(ParseErrorOf("output [ { name: \"o\" }, { name: \"\\xed\\xa0\\x80\" } ]\n"),
            "config.pbtxt: field 'output[1].name' is not valid UTF-8");  // a surrogate
  EXPECT_EQ(ParseErrorOf("name: \"\\300\\257\"\n"),
            "config.pbtxt: field 'name' is not valid UTF-8");  // overlong '/'
  EXPECT_EQ(Parse("name: \"caf\\303\\251\"\n").name(), "caf\xc3\xa9");
  EXPECT_EQ(Parse("input [ { name: \"\xf0\x9f\x98\x80\" } ]\n").input(0).name(), "\xf0\x9f\x98\x80");
}

}  // namespace
}  // namespace seqserve
