#include "server/tracing/tracer.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace seqserve {

// The settings of one scope while they are in force: the counters, and the finished traces
// not yet written. Replaced, never changed, when the settings change; traces sampled under
// it hold it until they are collected, and the last holder's release writes what is left.
class TraceScope final : public TraceCollector {
 public:
  TraceScope(const TraceValues& values, std::shared_ptr<TraceFile> file)
      : values_(values), file_(std::move(file)), remaining_(values.count) {}
  ~TraceScope() override { Flush(); }

  // Counts a request and says whether it is traced; `exhausted`: this one took the last.
  bool Take(bool& exhausted) {
    absl::MutexLock lock(&mu_);
    if (!values_.timestamps || remaining_ == 0) return false;
    if (++seen_ % values_.rate != 0) return false;
    if (remaining_ > 0 && --remaining_ == 0) exhausted = true;
    ++created_;
    return true;
  }

  // Whether requests may still be traced.
  bool tracing() const {
    absl::MutexLock lock(&mu_);
    return values_.timestamps && remaining_ != 0;
  }

  // The settings, with trace_count as the traces left.
  TraceValues values() const {
    absl::MutexLock lock(&mu_);
    TraceValues values = values_;
    values.count = remaining_;
    return values;
  }

  void Collect(const RequestTrace& trace) override {
    const std::string json = trace.ToJson();
    std::string out;
    bool numbered = false;
    {
      absl::MutexLock lock(&mu_);
      if (!pending_.empty()) pending_ += ',';
      pending_ += json;
      ++pending_count_;
      ++collected_;
      if ((remaining_ == 0 && collected_ == created_) ||
          (values_.log_frequency > 0 && pending_count_ >= values_.log_frequency)) {
        numbered = true;
      } else if (values_.log_frequency > 0 || pending_.size() < kAppendBytes) {
        return;
      }
      out.swap(pending_);
      pending_count_ = 0;
    }
    Write(out, numbered);
  }

  // Writes the traces held: to <file>.<k> with a log_frequency, else appended to <file>.
  void Flush() {
    std::string out;
    {
      absl::MutexLock lock(&mu_);
      out.swap(pending_);
      pending_count_ = 0;
    }
    Write(out, values_.log_frequency > 0);
  }

 private:
  // With log_frequency 0, traces held past this size are appended at once.
  static constexpr size_t kAppendBytes = size_t{1} << 20;

  void Write(const std::string& traces, bool numbered) {
    if (traces.empty()) return;
    if (numbered) {
      file_->WriteNumbered(traces);
    } else {
      file_->Append(traces);
    }
  }

  const TraceValues values_;  // count: as the scope started
  const std::shared_ptr<TraceFile> file_;
  mutable absl::Mutex mu_;
  int32_t remaining_ ABSL_GUARDED_BY(mu_);  // traces left; -1: no limit
  uint64_t seen_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t created_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t collected_ ABSL_GUARDED_BY(mu_) = 0;
  std::string pending_ ABSL_GUARDED_BY(mu_);  // finished traces, comma-joined
  uint32_t pending_count_ ABSL_GUARDED_BY(mu_) = 0;
};

namespace {

template <typename T>
void Apply(const TraceSettingChange<T>& change, std::optional<T>& setting) {
  using Kind = typename TraceSettingChange<T>::Kind;
  if (change.kind == Kind::kSet) setting = change.value;
  if (change.kind == Kind::kClear) setting.reset();
}

void Apply(const TraceSettingChanges& changes, TraceOverrides& overrides) {
  Apply(changes.timestamps, overrides.timestamps);
  Apply(changes.rate, overrides.rate);
  Apply(changes.count, overrides.count);
  Apply(changes.log_frequency, overrides.log_frequency);
}

}  // namespace

absl::Status TracingOffError() {
  return absl::UnimplementedError(
      "tracing is off: start seqserve with --trace-file=PATH (the file traces are written to) "
      "to use Triton's trace extension");
}

absl::StatusOr<std::unique_ptr<Tracer>> Tracer::Create(const std::string& trace_file) {
  if (absl::Status usable = TraceFile::CheckPath(trace_file); !usable.ok()) return usable;
  return std::unique_ptr<Tracer>(new Tracer(std::make_shared<TraceFile>(trace_file)));
}

Tracer::Tracer(std::shared_ptr<TraceFile> file)
    : file_(std::move(file)), global_(std::make_shared<TraceScope>(TraceValues{}, file_)) {}

Tracer::~Tracer() { Flush(); }

std::unique_ptr<RequestTrace> Tracer::SampleSlow(std::string_view model_name) {
  std::shared_ptr<TraceScope> scope;
  {
    absl::ReaderMutexLock lock(&mu_);
    scope = ScopeOfLocked(model_name);
  }
  bool exhausted = false;
  const bool taken = scope->Take(exhausted);
  if (exhausted) {
    absl::MutexLock lock(&mu_);
    RefreshActiveLocked();
  }
  if (!taken) return nullptr;
  return std::make_unique<RequestTrace>(next_id_.fetch_add(1, std::memory_order_relaxed),
                                        model_name, std::move(scope));
}

const std::shared_ptr<TraceScope>& Tracer::ScopeOfLocked(std::string_view model_name) const {
  if (!model_name.empty()) {
    auto found = models_.find(absl::string_view(model_name.data(), model_name.size()));
    if (found != models_.end()) return found->second.scope;
  }
  return global_;
}

TraceSettingList Tracer::Settings(std::string_view model_name) const {
  TraceValues values;
  {
    absl::ReaderMutexLock lock(&mu_);
    values = ScopeOfLocked(model_name)->values();
  }
  return {
      {"trace_level", {values.timestamps ? "TIMESTAMPS" : "OFF"}},
      {"trace_rate", {std::to_string(values.rate)}},
      {"trace_count", {std::to_string(values.count)}},
      {"log_frequency", {std::to_string(values.log_frequency)}},
      {"trace_file", {file_->path()}},
  };
}

std::shared_ptr<TraceScope> Tracer::MakeScope(const TraceOverrides& overrides,
                                              const TraceValues& fallback,
                                              const TraceSettingChange<int32_t>& count,
                                              const TraceScope* current) const {
  TraceValues values;
  values.timestamps = overrides.timestamps.value_or(fallback.timestamps);
  values.rate = overrides.rate.value_or(fallback.rate);
  values.log_frequency = overrides.log_frequency.value_or(fallback.log_frequency);
  if (count.kind == TraceSettingChange<int32_t>::Kind::kSet) {
    values.count = count.value;
  } else if (overrides.count.has_value() && current != nullptr) {
    values.count = current->values().count;  // its own count carries on
  } else {
    values.count = overrides.count.value_or(fallback.count);
  }
  return std::make_shared<TraceScope>(values, file_);
}

absl::StatusOr<TraceSettingList> Tracer::Update(std::string_view model_name,
                                                const TraceSettingUpdate& update) {
  absl::StatusOr<TraceSettingChanges> changes = ParseTraceSettingUpdate(update, file_->path());
  if (!changes.ok()) return changes.status();
  // Replaced scopes write their traces after the lock.
  std::vector<std::shared_ptr<TraceScope>> replaced;
  {
    absl::MutexLock lock(&mu_);
    if (model_name.empty()) {
      Apply(*changes, global_overrides_);
      std::shared_ptr<TraceScope> global =
          MakeScope(global_overrides_, TraceValues{}, changes->count, global_.get());
      replaced.push_back(std::exchange(global_, std::move(global)));
      // Models that follow some global setting follow the change (their counters restart).
      const TraceValues values = global_->values();
      for (auto& [name, model] : models_) {
        if (model.overrides.all()) continue;
        std::shared_ptr<TraceScope> scope =
            MakeScope(model.overrides, values, {}, model.scope.get());
        replaced.push_back(std::exchange(model.scope, std::move(scope)));
      }
    } else {
      auto found = models_.find(absl::string_view(model_name.data(), model_name.size()));
      TraceOverrides overrides =
          found != models_.end() ? found->second.overrides : TraceOverrides{};
      Apply(*changes, overrides);
      if (overrides.none()) {
        if (found != models_.end()) {
          replaced.push_back(std::move(found->second.scope));
          models_.erase(found);
        }
      } else {
        const TraceScope* current = found != models_.end() ? found->second.scope.get() : nullptr;
        std::shared_ptr<TraceScope> scope =
            MakeScope(overrides, global_->values(), changes->count, current);
        if (found != models_.end()) {
          replaced.push_back(std::exchange(found->second.scope, std::move(scope)));
          found->second.overrides = overrides;
        } else {
          models_.emplace(std::string(model_name), ModelSettings{overrides, std::move(scope)});
        }
      }
    }
    RefreshActiveLocked();
  }
  // What they hold is written now; traces of theirs still running are written as they
  // finish, with the settings they were sampled under.
  for (const std::shared_ptr<TraceScope>& scope : replaced) scope->Flush();
  replaced.clear();
  return Settings(model_name);
}

void Tracer::RefreshActiveLocked() {
  bool active = global_->tracing();
  for (const auto& [name, model] : models_) active = active || model.scope->tracing();
  active_.store(active, std::memory_order_relaxed);
}

void Tracer::Flush() {
  std::vector<std::shared_ptr<TraceScope>> scopes;
  {
    absl::ReaderMutexLock lock(&mu_);
    scopes.push_back(global_);
    for (const auto& [name, model] : models_) scopes.push_back(model.scope);
  }
  for (const std::shared_ptr<TraceScope>& scope : scopes) scope->Flush();
}

}  // namespace seqserve
