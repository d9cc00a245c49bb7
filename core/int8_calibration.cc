#include "core/int8_calibration.h"

#include <cmath>
#include <fstream>
#include <vector>

#include <cstdlib>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "fmt/core.h"

namespace seqserve {
namespace {

constexpr char kMagic[] = "seqserve-int8-calibration";

// The whole of `word` as a number (strtod: decimal or exponent notation).
bool ParseDouble(const std::string& word, double& value) {
  if (word.empty()) return false;
  char* end = nullptr;
  value = std::strtod(word.c_str(), &end);
  return end == word.c_str() + word.size();
}

bool ParseFloat(const std::string& word, float& value) {
  double d = 0;
  if (!ParseDouble(word, d)) return false;
  value = static_cast<float>(d);
  return true;
}

bool ParseInt(const std::string& word, int64_t& value) {
  if (word.empty()) return false;
  char* end = nullptr;
  value = std::strtoll(word.c_str(), &end, 10);
  return end == word.c_str() + word.size();
}

}  // namespace

std::string FormatInt8Calibration(const Int8Calibration& calibration) {
  std::string text = absl::StrCat(
      "# int8 activation ranges, written by `seqserve calibrate`; see SPEC/README\n", kMagic,
      " 1\nmodel ", calibration.model_hash, "\nsamples ", calibration.samples, "\n",
      fmt::format("percentile {:.9g}\n", calibration.percentile));
  for (const auto& [path, range] : calibration.inputs) {
    // %.9g round-trips a float exactly.
    absl::StrAppend(&text, fmt::format("input {} min {:.9g} max {:.9g} clip {:.9g}\n", path,
                                       range.min, range.max, range.clip));
  }
  return text;
}

absl::StatusOr<Int8Calibration> ParseInt8Calibration(std::string_view text,
                                                     std::string_view file) {
  Int8Calibration calibration;
  bool magic = false, model = false;
  int line_number = 0;
  std::istringstream lines{std::string(text)};
  std::string line;
  while (std::getline(lines, line)) {
    ++line_number;
    std::istringstream split(line);
    std::vector<std::string> words;
    for (std::string word; split >> word;) words.push_back(word);
    if (words.empty() || words[0].front() == '#') continue;
    auto error = [&](const std::string& why) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(file), ":", line_number, ": ", why));
    };
    if (!magic) {
      if (words.size() != 2 || words[0] != kMagic || words[1] != "1") {
        return error(absl::StrCat("expected '", kMagic, " 1' first: not an int8 calibration "
                                  "file of this version (write it with `seqserve calibrate`)"));
      }
      magic = true;
    } else if (words[0] == "model" && words.size() == 2) {
      calibration.model_hash = words[1];
      model = true;
    } else if (words[0] == "samples" && words.size() == 2) {
      if (!ParseInt(words[1], calibration.samples) || calibration.samples <= 0) {
        return error("samples must be a positive integer");
      }
    } else if (words[0] == "percentile" && words.size() == 2) {
      if (!ParseDouble(words[1], calibration.percentile) ||
          !(calibration.percentile > 0 && calibration.percentile <= 100)) {
        return error("percentile must be in (0, 100]");
      }
    } else if (words[0] == "input" && words.size() == 8 && words[2] == "min" &&
               words[4] == "max" && words[6] == "clip") {
      ActivationRange range;
      if (!ParseFloat(words[3], range.min) || !ParseFloat(words[5], range.max) ||
          !ParseFloat(words[7], range.clip) || !std::isfinite(range.min) ||
          !std::isfinite(range.max) || !std::isfinite(range.clip) || !(range.clip > 0) ||
          range.min > range.max) {
        return error("expected finite min <= max and a positive clip");
      }
      if (!calibration.inputs.emplace(words[1], range).second) {
        return error(absl::StrCat("layer '", words[1], "' appears twice"));
      }
    } else {
      return error(absl::StrCat("unexpected line '", line,
                                "' (expected model, samples, percentile or input "
                                "<layer> min <x> max <x> clip <x>)"));
    }
  }
  if (!magic || !model) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(file), ": not a complete int8 calibration file (no '", kMagic,
        " 1' or 'model' line); write it with `seqserve calibrate`"));
  }
  return calibration;
}

absl::Status WriteInt8Calibration(const std::filesystem::path& path,
                                  const Int8Calibration& calibration) {
  // Written beside and renamed over, so that a server polling the directory never reads half
  // a file.
  std::filesystem::path temp = path;
  temp += ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << FormatInt8Calibration(calibration);
    out.close();
    if (!out) {
      return absl::InternalError(absl::StrCat("cannot write ", temp.string()));
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", temp.string(), " to ", path.string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace seqserve
