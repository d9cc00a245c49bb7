#include "core/sequential_builder.h"

#include <optional>
#include <utility>
#include <vector>

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

using Children = std::vector<std::pair<std::string, std::unique_ptr<Module>>>;

// "nn.ReLU" for a receiver written as a call, else the module's type: for "... must follow
// an nn.Sequential(...), not nn.ReLU".
std::string Describe(const SeqCall& receiver, const Module& module) {
  if (receiver.receiver == nullptr) return receiver.name;
  return absl::StrCat("nn.", std::string(module.type()));
}

// Appends as Sequential.append does: named by the current length. PyTorch would silently
// replace a child that already has that name (possible after slicing); that is an error here.
absl::Status AppendPositional(Sequential& seq, std::unique_ptr<Module> child, const char* what,
                              std::string_view file, SourceLoc loc) {
  std::string name = std::to_string(seq.size());
  if (seq.HasChild(name)) {
    return ErrorAt(file, loc, absl::StrCat(what, ": the new module's name \"", name,
                                           "\" (the Sequential's length) is already taken by a "
                                           "child, which PyTorch would silently replace"));
  }
  seq.Append(std::move(name), std::move(child));
  return absl::OkStatus();
}

// An int argument of a method (an index), or None when `allow_none`.
absl::StatusOr<std::optional<int64_t>> IndexArg(const SeqValue& value, bool allow_none,
                                                const char* what, std::string_view file) {
  if (allow_none && value.kind == SeqValue::Kind::kNone) return std::nullopt;
  if (value.kind != SeqValue::Kind::kInt) {
    return ErrorAt(file, value.loc,
                   absl::StrCat(what, " must be an int", allow_none ? " or None" : "", ", got ",
                                value.Describe()));
  }
  return value.int_value;
}

// The positions slice(start, stop, step) selects from `n` items, as Python's slice.indices.
absl::StatusOr<std::vector<size_t>> SliceIndices(const SeqCall& slice, int64_t n,
                                                 std::string_view file) {
  std::optional<int64_t> parts[3];
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::optional<int64_t>> part =
        IndexArg(slice.args[i], /*allow_none=*/true, "slice indices", file);
    if (!part.ok()) return part.status();
    parts[i] = *part;
  }
  const int64_t step = parts[2].value_or(1);
  if (step == 0) return ErrorAt(file, slice.args[2].loc, "ValueError: slice step cannot be zero");
  auto adjust = [&](std::optional<int64_t> v, int64_t if_none) {
    if (!v) return if_none;
    if (*v < 0) return *v >= -n ? *v + n : (step < 0 ? int64_t{-1} : int64_t{0});
    return *v < n ? *v : (step < 0 ? n - 1 : n);
  };
  const int64_t start = adjust(parts[0], step < 0 ? n - 1 : 0);
  const int64_t stop = adjust(parts[1], step < 0 ? -1 : n);
  std::vector<size_t> indices;
  // |step| may be as large as 2^63: compare the distance left with it before stepping.
  const uint64_t magnitude = step > 0 ? static_cast<uint64_t>(step) : 0 - static_cast<uint64_t>(step);
  for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
    indices.push_back(static_cast<size_t>(i));
    const uint64_t left = static_cast<uint64_t>(step > 0 ? stop - i : i - stop);
    if (left <= magnitude) break;
    i += step;
  }
  return indices;
}

absl::StatusOr<std::unique_ptr<Module>> BuildMethodCall(const SeqCall& call, std::string_view file);

// The elements of .extend()'s argument: a list or tuple of modules, or a Sequential (whose
// children are taken as they are, as `for layer in sequential` does).
absl::StatusOr<std::vector<std::unique_ptr<Module>>> ExtendItems(const SeqValue& arg,
                                                                 std::string_view file) {
  std::vector<std::unique_ptr<Module>> items;
  if (arg.kind == SeqValue::Kind::kList || arg.kind == SeqValue::Kind::kTuple) {
    for (const SeqValue& item : arg.items) {
      absl::StatusOr<std::unique_ptr<Module>> module = BuildModule(item, file);
      if (!module.ok()) return module.status();
      items.push_back(*std::move(module));
    }
    return items;
  }
  absl::StatusOr<std::unique_ptr<Module>> module = BuildModule(arg, file);
  if (!module.ok()) return module.status();
  auto* seq = dynamic_cast<Sequential*>(module->get());
  if (seq == nullptr) {
    return ErrorAt(file, arg.loc, absl::StrCat("Sequential.extend(): expected a list of modules "
                                               "or a Sequential, got ", arg.Describe(), " ('",
                                               std::string((*module)->type()),
                                               "' object is not iterable)"));
  }
  for (auto& [name, child] : seq->TakeChildren()) items.push_back(std::move(child));
  return items;
}

// Sequential.insert(index, module), exactly as PyTorch 2.1 does it: it shifts the children
// named str(n-1) ... str(index) up by one name and stores the module as str(index). With
// other names (OrderedDict keys, a slice) PyTorch raises KeyError or silently overwrites a
// child; both are errors here.
absl::Status Insert(Sequential& seq, const SeqCall& call, std::string_view file) {
  if (call.args.size() != 2 || !call.kwargs.empty()) {
    return ErrorAt(file, call.loc,
                   absl::StrCat("Sequential.insert() takes an index and a module (",
                                call.args.size() + call.kwargs.size(), " given)"));
  }
  absl::StatusOr<std::optional<int64_t>> index =
      IndexArg(call.args[0], /*allow_none=*/false, "Sequential.insert(): the index", file);
  if (!index.ok()) return index.status();
  absl::StatusOr<std::unique_ptr<Module>> module = BuildModule(call.args[1], file);
  if (!module.ok()) return module.status();
  const int64_t n = static_cast<int64_t>(seq.size());
  int64_t i = **index;
  if (i < -n || i > n) {
    return ErrorAt(file, call.args[0].loc, absl::StrCat("IndexError: Index out of range: ", i));
  }
  if (i < 0) i += n;
  Children children = seq.TakeChildren();
  // PyTorch's loop on an ordered dict of names; values index `modules` (the new one last).
  std::vector<std::unique_ptr<Module>> modules;
  std::vector<std::pair<std::string, size_t>> slots;
  for (auto& [name, child] : children) {
    slots.emplace_back(name, modules.size());
    modules.push_back(std::move(child));
  }
  modules.push_back(*std::move(module));
  auto find = [&](const std::string& name) {
    for (size_t k = 0; k < slots.size(); ++k) {
      if (slots[k].first == name) return k;
    }
    return slots.size();
  };
  auto assign = [&](const std::string& name, size_t value) {
    const size_t k = find(name);
    if (k == slots.size()) {
      slots.emplace_back(name, value);
    } else {
      slots[k].second = value;
    }
  };
  for (int64_t k = n; k > i; --k) {
    const size_t from = find(std::to_string(k - 1));
    if (from == slots.size()) {
      return ErrorAt(file, call.loc, absl::StrCat("Sequential.insert(): PyTorch moves the child "
                                                  "named \"", k - 1, "\" up, and there is none "
                                                  "(it raises KeyError: '", k - 1, "'); insert "
                                                  "needs children named 0, 1, ..."));
    }
    assign(std::to_string(k), slots[from].second);
  }
  assign(std::to_string(i), modules.size() - 1);
  std::vector<int> uses(modules.size(), 0);
  for (const auto& [name, value] : slots) ++uses[value];
  for (size_t k = 0; k < modules.size(); ++k) {
    if (uses[k] != 1) {
      return ErrorAt(file, call.loc, "Sequential.insert(): with these child names PyTorch would "
                                     "overwrite a child (insert needs children named 0, 1, ...)");
    }
  }
  for (auto& [name, value] : slots) seq.Append(name, std::move(modules[value]));
  return absl::OkStatus();
}

// `receiver.method(...)` on a module expression: .append, .extend, .insert, indexing and
// slicing (__getitem__) and + (__add__), with PyTorch's names for the children.
absl::StatusOr<std::unique_ptr<Module>> BuildMethodCall(const SeqCall& call, std::string_view file) {
  static constexpr const char* kSupported =
      "a Sequential supports .append(module), .extend(modules), .insert(index, module), "
      "indexing, slicing and +";
  const bool known = call.name == "append" || call.name == "extend" || call.name == "insert" ||
                     call.name == "__getitem__" || call.name == "__add__";
  if (!known) {
    return ErrorAt(file, call.loc,
                   absl::StrCat("unsupported method '.", call.name, "()'; ", kSupported));
  }
  absl::StatusOr<std::unique_ptr<Module>> receiver_module = BuildModule(*call.receiver, file);
  if (!receiver_module.ok()) return receiver_module.status();
  std::unique_ptr<Module> receiver = *std::move(receiver_module);
  auto* seq = dynamic_cast<Sequential*>(receiver.get());
  const SeqCall& receiver_call = *call.receiver->call;
  if (seq == nullptr) {
    if (call.name == "__getitem__") {
      return ErrorAt(file, call.loc, absl::StrCat("TypeError: '", std::string(receiver->type()),
                                                  "' object is not subscriptable"));
    }
    if (call.name == "__add__") {
      return ErrorAt(file, call.loc, absl::StrCat("ValueError: add operator supports only "
                                                  "objects of Sequential class, but ",
                                                  std::string(receiver->type()), " is given"));
    }
    return ErrorAt(file, call.receiver->loc,
                   absl::StrCat(".", call.name, "() must follow an nn.Sequential(...), not ",
                                Describe(receiver_call, *receiver)));
  }
  if (call.name == "append") {
    if (call.args.size() != 1 || !call.kwargs.empty()) {
      return ErrorAt(file, call.loc, absl::StrCat("Sequential.append() takes exactly one module (",
                                                  call.args.size() + call.kwargs.size(),
                                                  " given)"));
    }
    absl::StatusOr<std::unique_ptr<Module>> child = BuildModule(call.args[0], file);
    if (!child.ok()) return child.status();
    absl::Status added =
        AppendPositional(*seq, *std::move(child), "Sequential.append()", file, call.args[0].loc);
    if (!added.ok()) return added;
    return receiver;
  }
  if (call.name == "extend") {
    if (call.args.size() != 1 || !call.kwargs.empty()) {
      return ErrorAt(file, call.loc,
                     absl::StrCat("Sequential.extend() takes exactly one list of modules (",
                                  call.args.size() + call.kwargs.size(), " given)"));
    }
    absl::StatusOr<std::vector<std::unique_ptr<Module>>> items = ExtendItems(call.args[0], file);
    if (!items.ok()) return items.status();
    for (std::unique_ptr<Module>& item : *items) {
      absl::Status added =
          AppendPositional(*seq, std::move(item), "Sequential.extend()", file, call.args[0].loc);
      if (!added.ok()) return added;
    }
    return receiver;
  }
  if (call.name == "insert") {
    absl::Status inserted = Insert(*seq, call, file);
    if (!inserted.ok()) return inserted;
    return receiver;
  }
  if (call.args.size() != 1 || !call.kwargs.empty()) {
    return ErrorAt(file, call.loc, absl::StrCat("'", call.name, "' takes exactly one argument"));
  }
  const SeqValue& arg = call.args[0];
  if (call.name == "__add__") {
    // Sequential() followed by .append of every child of both: numbered 0, 1, ...
    absl::StatusOr<std::unique_ptr<Module>> other_module = BuildModule(arg, file);
    if (!other_module.ok()) return other_module.status();
    auto* other = dynamic_cast<Sequential*>(other_module->get());
    if (other == nullptr) {
      return ErrorAt(file, arg.loc, absl::StrCat("ValueError: add operator supports only objects "
                                                 "of Sequential class, but ",
                                                 std::string((*other_module)->type()),
                                                 " is given"));
    }
    auto sum = std::make_unique<Sequential>();
    for (Sequential* part : {seq, other}) {
      for (auto& [name, child] : part->TakeChildren()) {
        sum->Append(std::to_string(sum->size()), std::move(child));
      }
    }
    return sum;
  }
  // __getitem__: an int gives the child itself; a slice gives a Sequential of the selected
  // children under their own names (PyTorch builds it from an OrderedDict of the items).
  Children children = seq->TakeChildren();
  const int64_t n = static_cast<int64_t>(children.size());
  if (arg.kind == SeqValue::Kind::kCall && arg.call->receiver == nullptr &&
      arg.call->name == "slice" && arg.call->args.size() == 3) {
    absl::StatusOr<std::vector<size_t>> indices = SliceIndices(*arg.call, n, file);
    if (!indices.ok()) return indices.status();
    auto sliced = std::make_unique<Sequential>();
    for (size_t k : *indices) sliced->Append(children[k].first, std::move(children[k].second));
    return sliced;
  }
  absl::StatusOr<std::optional<int64_t>> index =
      IndexArg(arg, /*allow_none=*/false, "a Sequential index", file);
  if (!index.ok()) return index.status();
  int64_t i = **index;
  if (i < -n || i >= n) {
    return ErrorAt(file, arg.loc, absl::StrCat("IndexError: index ", i, " is out of range"));
  }
  if (i < 0) i += n;
  return std::move(children[i].second);
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
  if (call.receiver != nullptr) return BuildMethodCall(call, file);
  std::string_view type = StripNnPrefix(call.name);
  if (type == "Sequential") return BuildSequentialCall(call, file);
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
    if (StripNnPrefix(call.name) == "Sequential" && call.receiver == nullptr) {
      return BuildSequentialCall(call, file);
    }
    if (call.receiver != nullptr) {
      absl::StatusOr<std::unique_ptr<Module>> module = BuildMethodCall(call, file);
      if (!module.ok()) return module.status();
      if (auto* seq = dynamic_cast<Sequential*>(module->get())) {
        module->release();
        return std::unique_ptr<Sequential>(seq);
      }
      return ErrorAt(file, root.loc,
                     absl::StrCat("the model must be an nn.Sequential(...), but this expression "
                                  "gives a ", std::string((*module)->type()),
                                  " (indexing gives the module itself; a slice such as [0:1] "
                                  "keeps a Sequential)"));
    }
  }
  return ErrorAt(file, root.loc, absl::StrCat("the model must be an nn.Sequential(...), got ",
                                              root.Describe()));
}

}  // namespace seqserve
