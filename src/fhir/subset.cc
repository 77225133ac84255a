#include "fhir/subset.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "fhir/definitions.h"

namespace kiln::fhir {
namespace {

// ---- A scanner over JSON text: finds where values end, without interpreting them ----

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t SkipSpace(std::string_view s, size_t i) {
  while (i < s.size() && IsSpace(s[i])) ++i;
  return i;
}

// The position just past the string that starts at s[i] ('"'), or npos if it does not end.
size_t StringEnd(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// The position just past the value that starts at s[i], or npos if it does not end. Strings are
// skipped as a whole, so brackets inside them do not count.
size_t ValueEnd(std::string_view s, size_t i) {
  if (i >= s.size()) return std::string_view::npos;
  if (s[i] == '"') return StringEnd(s, i);
  if (s[i] != '{' && s[i] != '[') {
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !IsSpace(s[i])) ++i;
    return i;
  }
  int depth = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') {
      i = StringEnd(s, i);
      if (i == std::string_view::npos) return i;
      --i;  // the loop's ++i steps past the closing quote
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

struct Member {
  std::string_view key;    // as written between the quotes (FHIR names need no escapes)
  std::string_view value;  // the value's JSON text
};

// The members of the object `s`, in order; nullopt if `s` is not a well-formed object.
std::optional<std::vector<Member>> Members(std::string_view s) {
  size_t i = SkipSpace(s, 0);
  if (i >= s.size() || s[i] != '{') return std::nullopt;
  std::vector<Member> members;
  i = SkipSpace(s, i + 1);
  if (i < s.size() && s[i] == '}') return members;
  while (i < s.size()) {
    if (s[i] != '"') return std::nullopt;
    const size_t key_end = StringEnd(s, i);
    if (key_end == std::string_view::npos) return std::nullopt;
    Member m;
    m.key = s.substr(i + 1, key_end - i - 2);
    i = SkipSpace(s, key_end);
    if (i >= s.size() || s[i] != ':') return std::nullopt;
    i = SkipSpace(s, i + 1);
    const size_t value_end = ValueEnd(s, i);
    if (value_end == std::string_view::npos) return std::nullopt;
    m.value = s.substr(i, value_end - i);
    members.push_back(m);
    i = SkipSpace(s, value_end);
    if (i < s.size() && s[i] == '}') return members;
    if (i >= s.size() || s[i] != ',') return std::nullopt;
    i = SkipSpace(s, i + 1);
  }
  return std::nullopt;
}

// The items of the array `s`; nullopt if `s` is not a well-formed array.
std::optional<std::vector<std::string_view>> Items(std::string_view s) {
  size_t i = SkipSpace(s, 0);
  if (i >= s.size() || s[i] != '[') return std::nullopt;
  std::vector<std::string_view> items;
  i = SkipSpace(s, i + 1);
  if (i < s.size() && s[i] == ']') return items;
  while (i < s.size()) {
    const size_t end = ValueEnd(s, i);
    if (end == std::string_view::npos) return std::nullopt;
    items.push_back(s.substr(i, end - i));
    i = SkipSpace(s, end);
    if (i < s.size() && s[i] == ']') return items;
    if (i >= s.size() || s[i] != ',') return std::nullopt;
    i = SkipSpace(s, i + 1);
  }
  return std::nullopt;
}

void AppendMember(std::string& out, const Member& m, std::string_view value) {
  if (out.back() != '{') out += ',';
  out += '"';
  out += m.key;
  out += "\":";
  out += value;
}

// ---- Which element a member is ----

// The element a member of the object at `parent_path` stands for: "name" is parent.name,
// "_birthDate" (a primitive's id and extensions) goes with birthDate, "valueQuantity" is
// parent.value[x]. nullptr for members the definitions do not know.
const ElementDef* MemberElement(const TypeDef& type, std::string_view parent_path,
                                std::string_view key) {
  if (key.starts_with('_')) key.remove_prefix(1);
  std::string path(parent_path);
  path += '.';
  const size_t prefix_size = path.size();
  path += key;
  if (const ElementDef* e = type.FindElement(path)) return e;
  for (const ElementDef& e : type.elements()) {
    if (!e.is_choice()) continue;
    std::string_view p = e.path();
    if (p.size() <= prefix_size || p.substr(0, prefix_size) != path.substr(0, prefix_size)) {
      continue;
    }
    std::string_view base = p.substr(prefix_size);
    if (base.find('.') != std::string_view::npos) continue;  // deeper than this object
    base.remove_suffix(3);                                   // "[x]"
    if (!key.starts_with(base) || key.size() == base.size()) continue;
    const std::string_view suffix = key.substr(base.size());
    for (const ElementType& t : e.types()) {
      const std::string_view code = t.code();
      if (code.size() == suffix.size() && !code.empty() &&
          std::toupper(static_cast<unsigned char>(code[0])) == suffix[0] &&
          code.substr(1) == suffix.substr(1)) {
        return &e;
      }
    }
  }
  return nullptr;
}

// The path that an element's own children hang off, when they are defined inside the same type
// (a backbone element, or a reuse of one like Questionnaire.item.item); "" for data types, whose
// values are kept or dropped whole.
std::string ChildrenPath(const ElementDef& e) {
  std::string_view ref = e.content_reference();
  if (!ref.empty()) return std::string(ref.substr(ref.find('#') + 1));
  if (e.types().size() == 1 &&
      (e.types()[0].code() == "BackboneElement" || e.types()[0].code() == "Element")) {
    return std::string(e.path());
  }
  return "";
}

bool Mandatory(const ElementDef* e) { return e != nullptr && e->min() > 0; }

// The base name of a choice element ("value" for value[x]), else the element's name.
std::string_view BaseName(const ElementDef& e) {
  std::string_view name = e.name();
  if (name.ends_with("[x]")) name.remove_suffix(3);
  return name;
}

class Subsetter {
 public:
  Subsetter(const TypeDef& type, const Subset& subset) : type_(type), subset_(subset) {}

  // The filtered resource from its top-level members.
  std::string Run(const std::vector<Member>& members) {
    // First decide on every member, then write: whether meta needs the tag is only known at the
    // end.
    std::vector<std::optional<std::string>> values;
    values.reserve(members.size());
    bool has_meta = false;
    for (const Member& m : members) {
      if (m.key == "resourceType" || m.key == "id" || m.key == "meta") {
        has_meta = has_meta || m.key == "meta";
        values.emplace_back(std::string(m.value));
        continue;
      }
      values.push_back(KeepTopLevel(m));
      if (!values.back()) dropped_ = true;
    }
    std::string out = "{";
    for (size_t i = 0; i < members.size(); ++i) {
      const Member& m = members[i];
      if (!values[i]) continue;
      if (m.key == "meta" && dropped_) {
        AppendMember(out, m, TaggedMeta(m.value));
      } else {
        AppendMember(out, m, *values[i]);
      }
      if (m.key == "id" && !has_meta && dropped_) {
        AppendMember(out, Member{"meta", {}}, TaggedMeta("{}"));
      }
    }
    return out + "}";
  }

 private:
  // The value to write for a top-level member (filtered inside for kSummary), or nullopt to drop
  // it.
  std::optional<std::string> KeepTopLevel(const Member& m) {
    const ElementDef* e = MemberElement(type_, type_.name(), m.key);
    switch (subset_.mode) {
      case SubsetMode::kData:
        if (m.key == "text") return std::nullopt;
        return std::string(m.value);
      case SubsetMode::kText:
        if (m.key == "text" || Mandatory(e)) return std::string(m.value);
        return std::nullopt;
      case SubsetMode::kElements:
        if (Listed(m.key, e) || Mandatory(e)) return std::string(m.value);
        return std::nullopt;
      case SubsetMode::kSummary:
        return KeepSummary(m, e);
    }
    return std::nullopt;
  }

  bool Listed(std::string_view key, const ElementDef* e) const {
    if (key.starts_with('_')) key.remove_prefix(1);
    for (const std::string& name : subset_.elements) {
      if (name == key || (e != nullptr && name == BaseName(*e))) return true;
    }
    return false;
  }

  std::optional<std::string> KeepSummary(const Member& m, const ElementDef* e) {
    if (e == nullptr || !(e->is_summary() || e->min() > 0)) return std::nullopt;
    const std::string children = ChildrenPath(*e);
    if (children.empty()) return std::string(m.value);
    // A backbone element: its own members are summary or not.
    if (std::optional<std::vector<std::string_view>> items = Items(m.value)) {
      std::string out = "[";
      for (std::string_view item : *items) {
        if (out.size() > 1) out += ',';
        out += SummaryObject(children, item);
      }
      return out + "]";
    }
    return SummaryObject(children, m.value);
  }

  std::string SummaryObject(const std::string& path, std::string_view object) {
    std::optional<std::vector<Member>> members = Members(object);
    if (!members) return std::string(object);
    std::string out = "{";
    for (const Member& m : *members) {
      std::optional<std::string> value = KeepSummary(m, MemberElement(type_, path, m.key));
      if (!value) {
        dropped_ = true;
        continue;
      }
      AppendMember(out, m, *value);
    }
    return out + "}";
  }

  // `meta` with the SUBSETTED tag added to meta.tag (unless it is there already).
  static std::string TaggedMeta(std::string_view meta) {
    std::string tag = "{\"system\":\"";
    tag += kSubsettedSystem;
    tag += "\",\"code\":\"";
    tag += kSubsettedCode;
    tag += "\"}";
    std::optional<std::vector<Member>> members = Members(meta);
    if (!members) return std::string(meta);
    std::string out = "{";
    bool tagged = false;
    for (const Member& m : *members) {
      if (m.key != "tag") {
        AppendMember(out, m, m.value);
        continue;
      }
      std::optional<std::vector<std::string_view>> items = Items(m.value);
      if (!items) {
        AppendMember(out, m, m.value);
        continue;
      }
      std::string tags = "[";
      for (std::string_view item : *items) {
        if (tags.size() > 1) tags += ',';
        tags += item;
        if (IsSubsettedTag(item)) tagged = true;
      }
      if (!tagged) {
        if (tags.size() > 1) tags += ',';
        tags += tag;
        tagged = true;
      }
      AppendMember(out, m, tags + "]");
    }
    if (!tagged) {
      if (out.size() > 1) out += ',';
      out += "\"tag\":[" + tag + "]";
    }
    return out + "}";
  }

  // `json` is the JSON string literal of `text` (no escapes needed: the texts are plain).
  static bool IsQuoted(std::string_view json, std::string_view text) {
    return json.size() == text.size() + 2 && json.front() == '"' && json.back() == '"' &&
           json.substr(1, text.size()) == text;
  }

  static bool IsSubsettedTag(std::string_view coding) {
    std::optional<std::vector<Member>> members = Members(coding);
    if (!members) return false;
    bool system = false;
    bool code = false;
    for (const Member& m : *members) {
      if (m.key == "system") system = IsQuoted(m.value, kSubsettedSystem);
      if (m.key == "code") code = IsQuoted(m.value, kSubsettedCode);
    }
    return system && code;
  }

  const TypeDef& type_;
  const Subset& subset_;
  bool dropped_ = false;
};

// The resourceType member's value, or "".
std::string_view ResourceTypeOf(const std::vector<Member>& members) {
  for (const Member& m : members) {
    if (m.key == "resourceType" && m.value.size() >= 2 && m.value.front() == '"') {
      return m.value.substr(1, m.value.size() - 2);
    }
  }
  return {};
}

}  // namespace

std::string SubsetResource(std::string_view resource_json, const Subset& subset) {
  std::optional<std::vector<Member>> members = Members(resource_json);
  if (!members) return std::string(resource_json);
  const TypeDef* type = FindType(ResourceTypeOf(*members));
  if (type == nullptr || !type->is_resource()) return std::string(resource_json);
  return Subsetter(*type, subset).Run(*members);
}

}  // namespace kiln::fhir
