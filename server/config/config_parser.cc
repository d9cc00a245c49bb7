#include "server/config/config_parser.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace seqserve {
namespace {

using inference::ModelConfig;

// Fields of Triton's ModelConfig messages that seqserve leaves out of its ModelConfig, per
// message: they fail the parse, and knowing them turns "unknown field" (a typo) into "not
// supported by seqserve" (a Triton feature).
const std::map<std::string, std::set<std::string>>& TritonOnlyFields() {
  static const auto* fields = new std::map<std::string, std::set<std::string>>{
      {"ModelConfig",
       {"platform", "backend", "runtime", "batch_input", "batch_output", "optimization",
        "sequence_batching", "ensemble_scheduling", "default_model_filename", "cc_model_filenames",
        "metric_tags", "model_warmup", "model_operations", "model_transaction_policy",
        "model_repository_agents", "response_cache", "model_metrics"}},
      {"ModelInput",
       {"reshape", "is_shape_tensor", "allow_ragged_batch", "optional", "is_non_linear_format_io"}},
      {"ModelOutput", {"reshape", "is_shape_tensor", "is_non_linear_format_io"}},
      {"ModelInstanceGroup",
       {"rate_limiter", "gpus", "secondary_devices", "profile", "passive", "host_policy"}},
      {"ModelDynamicBatching",
       {"preserve_ordering", "priority_levels", "default_priority_level", "priority_queue_policy"}},
  };
  return *fields;
}

// The text between `open` and the next '"' after it in `message`, or "".
std::string QuotedAfter(const std::string& message, std::string_view open) {
  const size_t at = message.find(open);
  if (at == std::string::npos) return "";
  const size_t begin = at + open.size();
  const size_t end = message.find('"', begin);
  return end == std::string::npos ? "" : message.substr(begin, end - begin);
}

// Protobuf's message with each quoted token cut to kMaxQuoted characters: the offending
// token is worth showing, a whole line of whatever the file holds is not.
constexpr size_t kMaxQuoted = 40;
std::string Abbreviate(const std::string& token) {
  return token.size() <= kMaxQuoted ? token : token.substr(0, kMaxQuoted) + "...";
}

// Also cuts an unquoted word of more than kMaxQuoted characters: protobuf quotes some
// tokens ("Expected integer, got: cccc...") without quotes.
std::string AbbreviateQuoted(const std::string& message) {
  std::string out;
  size_t run = 0;  // characters of the quoted text, or of the word outside quotes, so far
  bool inside = false;
  const auto end_run = [&] {
    if (run > kMaxQuoted) out += "...";
    run = 0;
  };
  for (char c : message) {
    if (c == '"' || (!inside && c == ' ')) {
      end_run();
      if (c == '"') inside = !inside;
      out += c;
      continue;
    }
    if (++run > kMaxQuoted) continue;
    out += c;
  }
  end_run();
  return out;
}

// A parse error in seqserve's words, and the name it is about, if any: protobuf reports
// such errors at the token after the name, so the caller moves the position back to it.
struct ParseError {
  std::string message;
  std::string name;
};

ParseError ExplainParseError(const std::string& message) {
  // 'Message type "inference.ModelConfig" has no field named "backend".'
  const std::string field = QuotedAfter(message, "has no field named \"");
  if (!field.empty()) {
    std::string type = QuotedAfter(message, "Message type \"");
    if (type.rfind("inference.", 0) == 0) type = type.substr(std::strlen("inference."));
    const std::string where = type == "ModelConfig" ? "" : absl::StrCat(" of ", type);
    auto triton = TritonOnlyFields().find(type);
    if (triton != TritonOnlyFields().end() && triton->second.count(field) > 0) {
      return {absl::StrCat("field '", field, "'", where, " is not supported by seqserve"), field};
    }
    return {absl::StrCat("unknown field '", Abbreviate(field), "' in ", type), field};
  }
  // 'Expected "{", found "TOKEN".' and 'Expected integer, got: TOKEN': protobuf quotes the
  // token it found as is, last in the message, and a string literal token holds quotes of
  // its own, so it is cut here, whole. Protobuf's marker is the first one in the message
  // (the token may hold the other marker's text).
  const size_t found_at = message.find("found \"");
  const size_t got_at = message.find("got: ");
  for (const std::string_view marker : {std::string_view("found \""), std::string_view("got: ")}) {
    const size_t at = marker == "got: " ? got_at : found_at;
    if (at == std::string::npos || at > std::min(found_at, got_at)) continue;
    const size_t begin = at + marker.size();
    const size_t end = marker == "got: " ? message.size() : message.rfind('"');
    if (end == std::string::npos || end < begin) continue;
    return {absl::StrCat(AbbreviateQuoted(message.substr(0, begin)),
                         Abbreviate(message.substr(begin, end - begin)), message.substr(end)),
            ""};
  }
  // 'Unknown enumeration value of "TYPE_FLOAT" for field "data_type".'
  return {AbbreviateQuoted(message), QuotedAfter(message, "Unknown enumeration value of \"")};
}

// Protobuf's tokenizer counts columns with a tab advancing to the next multiple of 8.
size_t NextColumn(char c, size_t column) {
  return c == '\t' ? column + 8 - column % 8 : column + 1;
}

// The offset in `text` of a 0-based (line, tokenizer column) position.
size_t OffsetOf(std::string_view text, int line, int column) {
  size_t offset = 0;
  for (int l = 0; l < line && offset < text.size(); ++offset) {
    if (text[offset] == '\n') ++l;
  }
  for (size_t c = 0;
       offset < text.size() && text[offset] != '\n' && c < static_cast<size_t>(column); ++offset) {
    c = NextColumn(text[offset], c);
  }
  return offset;
}

// "LINE:COL" (1-based, tokenizer columns) of `offset` in `text`.
std::string PositionOf(std::string_view text, size_t offset) {
  size_t line = 0;
  size_t column = 0;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 0;
    } else {
      column = NextColumn(text[i], column);
    }
  }
  return absl::StrCat(line + 1, ":", column + 1);
}

// Keeps the first error (the parser stops there anyway) with its 0-based position.
class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (error_) return;
    error_ = Error{line, column, message};
  }

  // "LINE:COL: message" for the first error in `text`; pointing at the offending name
  // itself when the error is about one.
  std::optional<std::string> Describe(std::string_view text) const {
    if (!error_) return std::nullopt;
    const ParseError explained = ExplainParseError(error_->message);
    size_t offset = OffsetOf(text, error_->line, error_->column);
    if (!explained.name.empty()) {
      const size_t name_at = text.rfind(explained.name, offset);
      if (name_at != std::string_view::npos) offset = name_at;
    }
    return absl::StrCat(PositionOf(text, offset), ": ", explained.message);
  }

 private:
  struct Error {
    int line;
    int column;
    std::string message;
  };
  std::optional<Error> error_;
};

// Whether `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
// U+10FFFF), as protobuf requires of string fields.
bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t length;
    unsigned char low = 0x80, high = 0xbf;  // the second byte's range
    if (b < 0x80) {
      ++i;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      length = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      length = 3;
      if (b == 0xe0) low = 0xa0;
      if (b == 0xed) high = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      length = 4;
      if (b == 0xf0) low = 0x90;
      if (b == 0xf4) high = 0x8f;
    } else {
      return false;
    }
    if (s.size() - i < length) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (c < low || c > high) : (c < 0x80 || c > 0xbf)) return false;
    }
    i += length;
  }
  return true;
}

// The path of the first string field of `message` that is not valid UTF-8 ("input[0].name"),
// if any. The text format's escapes ("\377") can put any bytes into a string field, and a
// config with such a string could not be sent back (protobuf refuses to serialize it).
std::optional<std::string> FirstNonUtf8Field(const google::protobuf::Message& message,
                                             const std::string& prefix) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const std::string name = prefix + field->name();
    const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      const std::string path = field->is_repeated() ? absl::StrCat(name, "[", i, "]") : name;
      if (field->type() == FieldDescriptor::TYPE_STRING) {
        const std::string value = field->is_repeated()
                                      ? reflection->GetRepeatedString(message, field, i)
                                      : reflection->GetString(message, field);
        if (!IsUtf8(value)) return path;
      } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        const google::protobuf::Message& child = field->is_repeated()
                                                     ? reflection->GetRepeatedMessage(message, field, i)
                                                     : reflection->GetMessage(message, field);
        if (auto bad = FirstNonUtf8Field(child, path + "."); bad) return bad;
      }
    }
  }
  return std::nullopt;
}
}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfigText(std::string_view text,
                                                 std::string_view file_name) {
  ModelConfig config;
  FirstErrorCollector errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &config)) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(file_name), ":",
                     errors.Describe(text).value_or("1:1: not a valid ModelConfig")));
  }
  if (std::optional<std::string> field = FirstNonUtf8Field(config, ""); field) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(file_name), ": field '", *field, "' is not valid UTF-8"));
  }
  return config;
}

absl::StatusOr<ModelConfig> ParseModelConfig(const std::filesystem::path& config_pbtxt,
                                             const FilePolicy& policy) {
  absl::StatusOr<std::string> text = ReadRegularFile(config_pbtxt, policy);
  if (!text.ok()) return text.status();
  return ParseModelConfigText(*text, config_pbtxt.filename().string());
}

absl::StatusOr<ModelConfig> ParseModelConfigJson(std::string_view json,
                                                 std::string_view source) {
  ModelConfig config;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt field must not vanish silently
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &config, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source), ": not a valid model configuration in JSON: ",
                     std::string(status.message().data(), status.message().size())));
  }
  return config;
}

}  // namespace seqserve
