#include "core/sequential_builder.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/module_registry.h"

namespace seqserve {
namespace {

absl::Status ErrorAt(std::string_view file, SourceLoc loc, std::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(file), ":", loc.line, ":", loc.col, ": ", std::string(message)));
}

bool IsOrderedDict(std::string_view name) {
  return name == "OrderedDict" || name == "collections.OrderedDict";
}

absl::StatusOr<std::unique_ptr<Module>> BuildModule(const SeqValue& value, std::string_view file);

// Adds a child as torch.nn.Module.add_module would, rejecting what it rejects, and a
// name used twice (PyTorch would silently replace the first module).
absl::Status AddChild(Sequential& seq, std::string name, std::unique_ptr<Module> child,
                      std::string_view file, SourceLoc loc) {
  if (name.empty()) return ErrorAt(file, loc, "Sequential: a module name can't be empty");
  if (name.find('.') != std::string::npos) {
    return ErrorAt(file, loc, absl::StrCat("Sequential: module name \"", name,
                                           "\" can't contain \".\""));
  }
  if (seq.HasChild(name)) {
    return ErrorAt(file, loc, absl::StrCat("Sequential: duplicate module name \"", name, "\""));
  }
  seq.Append(std::move(name), std::move(child));
  return absl::OkStatus();
}

// OrderedDict([("name", module), ...]) or OrderedDict(name=module, ...).
absl::Status AddOrderedDict(Sequential& seq, const SeqCall& dict, std::string_view file) {
  for (const SeqKeywordArg& kw : dict.kwargs) {
    absl::StatusOr<std::unique_ptr<Module>> child = BuildModule(kw.value, file);
    if (!child.ok()) return child.status();
    absl::Status added = AddChild(seq, kw.name, *std::move(child), file, kw.loc);
    if (!added.ok()) return added;
  }
  if (dict.args.empty()) return absl::OkStatus();
  if (dict.args.size() > 1) {
    return ErrorAt(file, dict.args[1].loc, "OrderedDict: expected at most 1 argument, a list of "
                                           "(name, module) pairs");
  }
  const SeqValue& list = dict.args[0];
  if (list.kind != SeqValue::Kind::kList && list.kind != SeqValue::Kind::kTuple) {
    return ErrorAt(file, list.loc, absl::StrCat("OrderedDict: expected a list of (name, module) "
                                                "pairs, got ", list.Describe()));
  }
  for (const SeqValue& item : list.items) {
    if ((item.kind != SeqValue::Kind::kTuple && item.kind != SeqValue::Kind::kList) ||
        item.items.size() != 2 || item.items[0].kind != SeqValue::Kind::kString) {
      return ErrorAt(file, item.loc, absl::StrCat("OrderedDict: expected a (name, module) pair "
                                                  "such as ('conv1', nn.Conv2d(1, 20, 5)), got ",
                                                  item.Describe()));
    }
    absl::StatusOr<std::unique_ptr<Module>> child = BuildModule(item.items[1], file);
    if (!child.ok()) return child.status();
    absl::Status added =
        AddChild(seq, item.items[0].string_value, *std::move(child), file, item.items[0].loc);
    if (!added.ok()) return added;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Sequential>> BuildSequentialCall(const SeqCall& call,
                                                                std::string_view file) {
  if (!call.kwargs.empty()) {
    return ErrorAt(file, call.kwargs[0].loc,
                   absl::StrCat("Sequential: unexpected keyword argument '", call.kwargs[0].name,
                                "' (Sequential takes modules, or one OrderedDict)"));
  }
  auto seq = std::make_unique<Sequential>();
  if (call.args.size() == 1 && call.args[0].kind == SeqValue::Kind::kCall &&
      call.args[0].call->receiver == nullptr && IsOrderedDict(call.args[0].call->name)) {
    absl::Status s = AddOrderedDict(*seq, *call.args[0].call, file);
    if (!s.ok()) return s;
    return seq;
  }
  for (const SeqValue& arg : call.args) {
    absl::StatusOr<std::unique_ptr<Module>> child = BuildModule(arg, file);
    if (!child.ok()) return child.status();
    absl::Status added = AddChild(*seq, std::to_string(seq->size()), *std::move(child), file,
                                  arg.loc);
    if (!added.ok()) return added;
  }
  return seq;
}

// A Sequential expression: Sequential(...) followed by any number of .append(module).
absl::StatusOr<std::unique_ptr<Sequential>> BuildSequentialValue(const SeqCall& call,
                                                                 std::string_view file) {
  if (call.receiver == nullptr) return BuildSequentialCall(call, file);
  if (call.name != "append") {
    return ErrorAt(file, call.loc, absl::StrCat("unsupported method '.", call.name,
                                                "()'; a Sequential supports only .append(module)"));
  }
  if (call.receiver->kind != SeqValue::Kind::kCall) {
    return ErrorAt(file, call.receiver->loc, ".append() must follow an nn.Sequential(...)");
  }
  const SeqCall& receiver = *call.receiver->call;
  if (receiver.receiver == nullptr && StripNnPrefix(receiver.name) != "Sequential") {
    return ErrorAt(file, receiver.loc, absl::StrCat(".append() must follow an nn.Sequential(...), "
                                                    "not ", receiver.name));
  }
  absl::StatusOr<std::unique_ptr<Sequential>> seq = BuildSequentialValue(receiver, file);
  if (!seq.ok()) return seq.status();
  if (call.args.size() != 1 || !call.kwargs.empty()) {
    return ErrorAt(file, call.loc, absl::StrCat("Sequential.append() takes exactly one module (",
                                                call.args.size() + call.kwargs.size(),
                                                " given)"));
  }
  absl::StatusOr<std::unique_ptr<Module>> child = BuildModule(call.args[0], file);
  if (!child.ok()) return child.status();
  absl::Status added = AddChild(**seq, std::to_string((*seq)->size()), *std::move(child), file,
                                call.args[0].loc);
  if (!added.ok()) return added;
  return seq;
}

absl::StatusOr<std::unique_ptr<Module>> BuildModule(const SeqValue& value, std::string_view file) {
  if (value.kind == SeqValue::Kind::kName) {
    return ErrorAt(file, value.loc, absl::StrCat("expected a module such as nn.ReLU(), got ",
                                                 value.Describe(), " (missing parentheses?)"));
  }
  if (value.kind != SeqValue::Kind::kCall) {
    return ErrorAt(file, value.loc,
                   absl::StrCat("expected a module such as nn.ReLU(), got ", value.Describe()));
  }
  const SeqCall& call = *value.call;
  if (call.receiver != nullptr) return BuildSequentialValue(call, file);
  std::string_view type = StripNnPrefix(call.name);
  if (type == "Sequential") return BuildSequentialValue(call, file);
  ModuleFactory factory = type.empty() ? nullptr : FindModuleFactory(type);
  if (factory == nullptr) {
    return ErrorAt(file, call.loc,
                   absl::StrCat("unknown module '", call.name, "'; supported: Sequential, ",
                                absl::StrJoin(ModuleTypes(), ", ")));
  }
  return factory(call, file);
}

}  // namespace

std::string_view StripNnPrefix(std::string_view name) {
  for (std::string_view prefix : {"torch.nn.", "nn."}) {
    if (name.starts_with(prefix)) {
      name.remove_prefix(prefix.size());
      break;
    }
  }
  return name.find('.') == std::string_view::npos ? name : std::string_view();
}

absl::StatusOr<std::unique_ptr<Sequential>> BuildSequential(const SeqValue& root,
                                                            std::string_view file) {
  if (root.kind == SeqValue::Kind::kCall) {
    const SeqCall& call = *root.call;
    if (call.receiver != nullptr || StripNnPrefix(call.name) == "Sequential") {
      return BuildSequentialValue(call, file);
    }
  }
  return ErrorAt(file, root.loc, absl::StrCat("the model must be an nn.Sequential(...), got ",
                                              root.Describe()));
}

}  // namespace seqserve
