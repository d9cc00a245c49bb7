// An spdlog sink that keeps the formatted lines in memory for a test to read, from any
// thread (the server's threads log while the test reads).
#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "spdlog/sinks/base_sink.h"

namespace seqserve::testing {

class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // The lines logged since the last Take, without their newlines.
  std::vector<std::string> Take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(lines_, {});
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::string line(formatted.data(), formatted.size());
    while (!line.empty() && line.back() == '\n') line.pop_back();
    lines_.push_back(std::move(line));
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

}  // namespace seqserve::testing
