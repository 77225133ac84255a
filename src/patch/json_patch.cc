// JSON Patch (RFC 6902) over JSON Pointers (RFC 6901).

#include <algorithm>

#include "patch/internal.h"

namespace kiln::patch {
namespace {

using Type = JsonPatchOp::Type;

// "/a~1b/c~0d" -> {"a/b", "c~d"}; nullopt when not a JSON Pointer.
std::optional<std::vector<std::string>> ParsePointer(std::string_view text) {
  std::vector<std::string> tokens;
  if (text.empty()) return tokens;  // the whole document
  if (text[0] != '/') return std::nullopt;
  size_t i = 1;
  while (true) {
    std::string token;
    while (i < text.size() && text[i] != '/') {
      if (text[i] == '~') {
        if (i + 1 >= text.size() || (text[i + 1] != '0' && text[i + 1] != '1')) return std::nullopt;
        token.push_back(text[i + 1] == '0' ? '~' : '/');
        i += 2;
      } else {
        token.push_back(text[i++]);
      }
    }
    tokens.push_back(std::move(token));
    if (i >= text.size()) break;
    ++i;  // the '/'
  }
  return tokens;
}

// An array index token: "0", or digits without a leading zero. nullopt otherwise ("-", "01").
std::optional<size_t> ParseIndex(const std::string& token) {
  if (token.empty() || token.size() > 18) return std::nullopt;
  if (token.size() > 1 && token[0] == '0') return std::nullopt;
  size_t v = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  return v;
}

std::string Escape(std::string_view token) {
  std::string out;
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string Prefix(const std::vector<std::string>& tokens, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < tokens.size(); ++i) {
    out += '/';
    out += Escape(tokens[i]);
  }
  return out;
}

// The value at tokens[0, n), or nullptr with `why` set.
Json* Resolve(Json& root, const std::vector<std::string>& tokens, size_t n, std::string& why) {
  Json* cur = &root;
  for (size_t i = 0; i < n; ++i) {
    const std::string& t = tokens[i];
    if (cur->is_object()) {
      Json* next = cur->Find(t);
      if (next == nullptr) {
        why = "path " + Prefix(tokens, i + 1) + " does not exist";
        return nullptr;
      }
      cur = next;
    } else if (cur->is_array()) {
      std::optional<size_t> idx = ParseIndex(t);
      if (!idx) {
        why = "'" + t + "' at " + Prefix(tokens, i) + " is not an array index";
        return nullptr;
      }
      if (*idx >= cur->items().size()) {
        why = "index " + t + " is out of range at " + Prefix(tokens, i) + " (the array has " +
              std::to_string(cur->items().size()) + " items)";
        return nullptr;
      }
      cur = &cur->items()[*idx];
    } else {
      why = "path " + Prefix(tokens, i) + " is neither an object nor an array";
      return nullptr;
    }
  }
  return cur;
}

// RFC 6902 4.1: add `value` at `tokens` (replacing an object member, inserting into an array).
bool Add(Json& root, const std::vector<std::string>& tokens, Json value, std::string& why) {
  if (tokens.empty()) {
    root = std::move(value);
    return true;
  }
  Json* parent = Resolve(root, tokens, tokens.size() - 1, why);
  if (parent == nullptr) return false;
  const std::string& last = tokens.back();
  if (parent->is_object()) {
    parent->Set(last, std::move(value));
    return true;
  }
  if (parent->is_array()) {
    auto& items = parent->items();
    if (last == "-") {
      items.push_back(std::move(value));
      return true;
    }
    std::optional<size_t> idx = ParseIndex(last);
    if (!idx) {
      why = "'" + last + "' is not an array index";
      return false;
    }
    if (*idx > items.size()) {
      why = "index " + last + " is out of range (the array has " + std::to_string(items.size()) +
            " items)";
      return false;
    }
    items.insert(items.begin() + static_cast<std::ptrdiff_t>(*idx), std::move(value));
    return true;
  }
  why = "path " + Prefix(tokens, tokens.size() - 1) + " is neither an object nor an array";
  return false;
}

// RFC 6902 4.2: removes and returns the value at `tokens`.
std::optional<Json> Remove(Json& root, const std::vector<std::string>& tokens, std::string& why) {
  if (tokens.empty()) {
    why = "the whole document cannot be removed";
    return std::nullopt;
  }
  if (Resolve(root, tokens, tokens.size(), why) == nullptr) return std::nullopt;
  Json* parent = Resolve(root, tokens, tokens.size() - 1, why);
  const std::string& last = tokens.back();
  if (parent->is_object()) {
    Json removed = std::move(*parent->Find(last));
    parent->Erase(last);
    return removed;
  }
  auto& items = parent->items();
  size_t idx = *ParseIndex(last);
  Json removed = std::move(items[idx]);
  items.erase(items.begin() + static_cast<std::ptrdiff_t>(idx));
  return removed;
}

bool IsProperPrefix(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return a.size() < b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

Result<std::vector<JsonPatchOp>> ParseJsonPatchOps(const Json& document) {
  if (!document.is_array())
    return Status(ErrorCode::kInvalid, "structure",
                  "A JSON Patch document must be a JSON array of operations (RFC 6902)");
  std::vector<JsonPatchOp> ops;
  for (size_t i = 0; i < document.items().size(); ++i) {
    const Json& o = document.items()[i];
    if (!o.is_object()) return OperationInvalid(i, "an operation must be a JSON object");
    JsonPatchOp op;
    const Json* name = o.Find("op");
    if (name == nullptr || !name->is_string())
      return OperationInvalid(i, "'op' is missing or not a string");
    op.op = name->text();
    static const std::pair<std::string_view, Type> kOps[] = {
        {"add", Type::kAdd},   {"remove", Type::kRemove}, {"replace", Type::kReplace},
        {"move", Type::kMove}, {"copy", Type::kCopy},     {"test", Type::kTest}};
    auto known = std::find_if(std::begin(kOps), std::end(kOps),
                              [&](const auto& k) { return k.first == op.op; });
    if (known == std::end(kOps))
      return OperationInvalid(i, "unknown op '" + op.op +
                                     "' (RFC 6902 defines add, remove, replace, move, copy, test)");
    op.type = known->second;
    const Json* path = o.Find("path");
    if (path == nullptr || !path->is_string())
      return OperationInvalid(i, "'path' is missing or not a string");
    op.path_text = path->text();
    auto tokens = ParsePointer(op.path_text);
    if (!tokens) return OperationInvalid(i, "'" + op.path_text + "' is not a JSON Pointer");
    op.path = std::move(*tokens);
    if (op.type == Type::kMove || op.type == Type::kCopy) {
      const Json* from = o.Find("from");
      if (from == nullptr || !from->is_string())
        return OperationInvalid(i, "'from' is missing or not a string");
      op.from_text = from->text();
      auto from_tokens = ParsePointer(op.from_text);
      if (!from_tokens) return OperationInvalid(i, "'" + op.from_text + "' is not a JSON Pointer");
      op.from = std::move(*from_tokens);
    }
    if (op.type == Type::kAdd || op.type == Type::kReplace || op.type == Type::kTest) {
      const Json* value = o.Find("value");
      if (value == nullptr) return OperationInvalid(i, "'value' is missing");
      op.value = *value;
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

Status ApplyJsonPatchOps(const std::vector<JsonPatchOp>& ops, Json& target) {
  for (size_t i = 0; i < ops.size(); ++i) {
    const JsonPatchOp& op = ops[i];
    std::string why;
    bool ok = true;
    switch (op.type) {
      case Type::kAdd:
        ok = Add(target, op.path, op.value, why);
        break;
      case Type::kRemove:
        ok = Remove(target, op.path, why).has_value();
        break;
      case Type::kReplace: {
        Json* at = Resolve(target, op.path, op.path.size(), why);
        ok = at != nullptr;
        if (ok) *at = op.value;
        break;
      }
      case Type::kMove: {
        if (op.from == op.path) break;  // a no-op, provided `from` exists
        if (IsProperPrefix(op.from, op.path)) {
          why = "a value cannot be moved into one of its own children";
          ok = false;
          break;
        }
        std::optional<Json> moved = Remove(target, op.from, why);
        ok = moved.has_value() && Add(target, op.path, std::move(*moved), why);
        break;
      }
      case Type::kCopy: {
        Json* from = Resolve(target, op.from, op.from.size(), why);
        ok = from != nullptr && Add(target, op.path, Json(*from), why);
        break;
      }
      case Type::kTest: {
        Json* at = Resolve(target, op.path, op.path.size(), why);
        ok = at != nullptr;
        if (ok && !Equal(*at, op.value)) {
          ok = false;
          why = "test failed: the value is " + at->Serialize() + ", not " + op.value.Serialize();
        }
        break;
      }
    }
    if (ok && op.type == Type::kMove && op.from == op.path &&
        Resolve(target, op.from, op.from.size(), why) == nullptr)
      ok = false;
    if (!ok) return OperationFailed(i, op.op, op.path_text, why);
  }
  return Status::Ok();
}

}  // namespace kiln::patch
