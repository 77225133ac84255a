// The tree walker (operators, navigation, variables) and the public entry points: Evaluate,
// ToTypedJson, ParseJson, EvaluateToTypedJson. Functions live in functions.cc.

#include <boost/json/basic_parser_impl.hpp>
#include <chrono>
#include <ctime>

#include "fhir/definitions.h"
#include "fhirpath/internal.h"

namespace kiln::fhirpath {
namespace internal {
void AppendUnique(Collection& out, const Item& item) {
  for (const Item& x : out) {
    if (Equal(x, item).value_or(false)) return;
  }
  out.push_back(item);
}

namespace {

// Children called `name` of every input item. A name that is an element of none of the input
// items' types is an error (e.g. `name.given1`), as a static check would find; a name that some
// of a mixed collection's types have (descendants()) is not.
Collection Navigate(const Collection& in, std::string_view name) {
  Collection out;
  bool known = in.empty();
  for (const Item& i : in) known |= Children(i, name, out);
  if (!known) {
    Fail("'" + std::string(name) + "' is not an element of " + std::string(in[0].def_path));
  }
  return out;
}

Collection BooleanResult(std::optional<bool> b) {
  if (!b) return {};
  return {Item::Boolean(*b)};
}

Collection EvalBinary(const Node& n, const Collection& focus, const Frame& frame) {
  Collection a = Eval(*n.args[0], focus, frame);
  // and/or/implies may skip the right side when the left side settles the result.
  switch (n.op) {
    case Op::kAnd: {
      auto x = SingletonBoolean(a, "and");
      if (x && !*x) return BooleanResult(false);
      auto y = SingletonBoolean(Eval(*n.args[1], focus, frame), "and");
      if (y && !*y) return BooleanResult(false);
      if (x && y) return BooleanResult(true);
      return {};
    }
    case Op::kOr: {
      auto x = SingletonBoolean(a, "or");
      if (x && *x) return BooleanResult(true);
      auto y = SingletonBoolean(Eval(*n.args[1], focus, frame), "or");
      if (y && *y) return BooleanResult(true);
      if (x && y) return BooleanResult(false);
      return {};
    }
    case Op::kImplies: {
      auto x = SingletonBoolean(a, "implies");
      if (x && !*x) return BooleanResult(true);
      auto y = SingletonBoolean(Eval(*n.args[1], focus, frame), "implies");
      if (y && *y) return BooleanResult(true);
      if (x && y) return BooleanResult(false);
      return {};
    }
    default:
      break;
  }
  Collection b = Eval(*n.args[1], focus, frame);
  switch (n.op) {
    case Op::kXor: {
      auto x = SingletonBoolean(a, "xor"), y = SingletonBoolean(b, "xor");
      if (!x || !y) return {};
      return BooleanResult(*x != *y);
    }
    case Op::kUnion: {
      Collection out;
      for (const Item& i : a) AppendUnique(out, i);
      for (const Item& i : b) AppendUnique(out, i);
      return out;
    }
    case Op::kEq:
      return BooleanResult(CollectionsEqual(a, b));
    case Op::kNe: {
      auto e = CollectionsEqual(a, b);
      if (!e) return {};
      return BooleanResult(!*e);
    }
    case Op::kEquiv:
      return BooleanResult(CollectionsEquivalent(a, b));
    case Op::kNotEquiv:
      return BooleanResult(!CollectionsEquivalent(a, b));
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe: {
      const Item* x = Singleton(a, "comparison");
      const Item* y = Singleton(b, "comparison");
      if (x == nullptr || y == nullptr) return {};
      auto c = Compare(*x, *y);
      if (!c) return {};
      switch (n.op) {
        case Op::kLt:
          return BooleanResult(*c < 0);
        case Op::kLe:
          return BooleanResult(*c <= 0);
        case Op::kGt:
          return BooleanResult(*c > 0);
        default:
          return BooleanResult(*c >= 0);
      }
    }
    case Op::kIn:
    case Op::kContains: {
      const Collection& element = n.op == Op::kIn ? a : b;
      const Collection& list = n.op == Op::kIn ? b : a;
      const Item* x = Singleton(element, n.op == Op::kIn ? "in" : "contains");
      if (x == nullptr) return {};
      for (const Item& i : list) {
        if (Equal(*x, i).value_or(false)) return BooleanResult(true);
      }
      return BooleanResult(false);
    }
    case Op::kConcat: {
      const Item* x = Singleton(a, "&");
      const Item* y = Singleton(b, "&");
      return {Item::String((x ? ToString(*x) : "") + (y ? ToString(*y) : ""))};
    }
    default: {
      const Item* x = Singleton(a, "arithmetic");
      const Item* y = Singleton(b, "arithmetic");
      if (x == nullptr || y == nullptr) return {};
      auto r = Arithmetic(n.op, *x, *y);
      if (!r) return {};
      return {std::move(*r)};
    }
  }
}

Collection EvalVariable(const Node& n, const Frame& frame) {
  const Env& env = *frame.env;
  std::string_view name = n.name;
  if (auto it = env.ctx->variables.find(name); it != env.ctx->variables.end()) return it->second;
  if (name == "resource" || name == "context" || name == "rootResource") return env.resource;
  if (name == "ucum") return {Item::String("http://unitsofmeasure.org")};
  if (name == "sct") return {Item::String("http://snomed.info/sct")};
  if (name == "loinc") return {Item::String("http://loinc.org")};
  if (name.substr(0, 3) == "vs-") {
    return {Item::String("http://hl7.org/fhir/ValueSet/" + std::string(name.substr(3)))};
  }
  if (name.substr(0, 4) == "ext-") {
    return {Item::String("http://hl7.org/fhir/StructureDefinition/" + std::string(name.substr(4)))};
  }
  Fail("Unknown variable %" + n.name);
}

}  // namespace

Collection Eval(const Node& n, const Collection& focus, const Frame& frame) {
  switch (n.kind) {
    case NodeKind::kLiteral:
      return {n.literal};
    case NodeKind::kEmpty:
      return {};
    case NodeKind::kThis:
      return focus;
    case NodeKind::kIndex:
      if (frame.index < 0) return {};
      return {Item::Integer(frame.index)};
    case NodeKind::kTotal:
      if (frame.total == nullptr) return {};
      return *frame.total;
    case NodeKind::kVariable:
      return EvalVariable(n, frame);
    case NodeKind::kMember: {
      Collection out;
      if (!n.target) {
        // A leading type name filters the context: `Patient.name` on a Patient.
        if (!n.name.empty() && std::isupper(static_cast<unsigned char>(n.name[0]))) {
          bool is_type = false;
          for (const Item& i : focus) {
            if (i.kind == ValueKind::kElement && !i.type_name.empty() &&
                fhir::FindType(n.name) != nullptr) {
              is_type = true;
              if (TypeIs(i.type_name, n.name)) out.push_back(i);
            }
          }
          if (is_type) return out;
        }
        return Navigate(focus, n.name);
      }
      return Navigate(Eval(*n.target, focus, frame), n.name);
    }
    case NodeKind::kFunction:
      return CallFunction(n, focus, frame);
    case NodeKind::kIndexer: {
      Collection in = Eval(*n.args[0], focus, frame);
      Collection index = Eval(*n.args[1], focus, frame);
      const Item* idx = Singleton(index, "indexer");
      if (idx == nullptr) return {};
      Item v = Normalize(*idx);
      if (v.kind != ValueKind::kInteger) Fail("The index must be an integer");
      if (v.integer < 0 || static_cast<size_t>(v.integer) >= in.size()) return {};
      return {in[v.integer]};
    }
    case NodeKind::kNegate: {
      Collection in = Eval(*n.args[0], focus, frame);
      const Item* x = Singleton(in, "unary minus");
      if (x == nullptr) return {};
      Item v = Normalize(*x);
      if (v.kind == ValueKind::kInteger) {
        v.integer = -v.integer;
      } else if (v.kind == ValueKind::kDecimal || v.kind == ValueKind::kQuantity) {
        v.decimal.value = -v.decimal.value;
      } else {
        Fail("Unary minus needs a number or a quantity");
      }
      return {v};
    }
    case NodeKind::kBinary:
      return EvalBinary(n, focus, frame);
    case NodeKind::kTypeOp: {
      Collection in = Eval(*n.args[0], focus, frame);
      if (n.op == Op::kIs) {
        const Item* x = Singleton(in, "is");
        if (x == nullptr) return {};
        return {Item::Boolean(ItemIsType(*x, n.type_ns, n.name, false))};
      }
      Collection out;
      for (const Item& i : in) {
        if (ItemIsType(i, n.type_ns, n.name, true)) out.push_back(i);
      }
      return out;
    }
  }
  return {};
}

const json::value* ResolveReference(std::string_view ref, const Env& env) {
  if (env.resource.empty() || env.resource[0].node == nullptr) return nullptr;
  const json::value& root = *env.resource[0].node;
  if (!root.is_object()) return nullptr;
  const json::object& obj = root.as_object();
  if (!ref.empty() && ref[0] == '#') {
    if (const json::value* c = obj.if_contains("contained"); c && c->is_array()) {
      for (const json::value& r : c->as_array()) {
        const json::value* id = r.is_object() ? r.as_object().if_contains("id") : nullptr;
        if (id && id->is_string() && id->as_string() == ref.substr(1)) return &r;
      }
    }
    return nullptr;
  }
  const json::value* rt = obj.if_contains("resourceType");
  if (rt && rt->is_string() && rt->as_string() == "Bundle") {
    if (const json::value* entries = obj.if_contains("entry"); entries && entries->is_array()) {
      for (const json::value& e : entries->as_array()) {
        if (!e.is_object()) continue;
        const json::value* res = e.as_object().if_contains("resource");
        if (res == nullptr || !res->is_object()) continue;
        const json::value* full = e.as_object().if_contains("fullUrl");
        if (full && full->is_string()) {
          std::string_view f = full->as_string();
          if (f == ref) return res;
          if (f.size() > ref.size() && f.substr(f.size() - ref.size()) == ref &&
              f[f.size() - ref.size() - 1] == '/') {
            return res;
          }
        }
        const json::value* t = res->as_object().if_contains("resourceType");
        const json::value* id = res->as_object().if_contains("id");
        if (t && id && t->is_string() && id->is_string()) {
          std::string_view tt = t->as_string(), ii = id->as_string();
          if (ref.size() == tt.size() + 1 + ii.size() && ref.substr(0, tt.size()) == tt &&
              ref[tt.size()] == '/' && ref.substr(tt.size() + 1) == ii) {
            return res;
          }
        }
      }
    }
  }
  if (env.ctx->resolver) return env.ctx->resolver(ref);
  return nullptr;
}

namespace {

Temporal NowTemporal() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  Temporal t;
  t.precision = 7;
  t.year = tm.tm_year + 1900;
  t.month = static_cast<int8_t>(tm.tm_mon + 1);
  t.day = static_cast<int8_t>(tm.tm_mday);
  t.hour = static_cast<int8_t>(tm.tm_hour);
  t.minute = static_cast<int8_t>(tm.tm_min);
  t.second = static_cast<int8_t>(tm.tm_sec);
  t.millis = static_cast<int16_t>(ms % 1000);
  t.has_tz = true;
  return t;
}

}  // namespace

const Temporal& Now(Env& env) {
  if (!env.now_set) {
    env.now = NowTemporal();
    env.now_set = true;
  }
  return env.now;
}

namespace {

void AppendTyped(std::string& out, const Item& item) {
  const Item* v = &item;
  std::optional<Item> sys;
  std::string_view type;
  if (item.kind == ValueKind::kElement) {
    type = item.type_name;
    sys = ToSystem(item);
    if (sys && sys->kind != ValueKind::kQuantity) v = &*sys;
  } else {
    static constexpr std::string_view kNames[] = {
        "", "boolean", "integer", "decimal", "string", "date", "dateTime", "time", "Quantity"};
    type = kNames[static_cast<int>(item.kind)];
  }
  out += "{\"type\":";
  out += json::serialize(json::string(type));
  out += ",\"value\":";
  switch (v->kind) {
    case ValueKind::kElement:
      out += v->node ? json::serialize(*v->node) : "null";
      break;
    case ValueKind::kBoolean:
      out += v->boolean ? "true" : "false";
      break;
    case ValueKind::kInteger:
      out += std::to_string(v->integer);
      break;
    case ValueKind::kDecimal:
      out += FormatDecimal(v->decimal);
      break;
    case ValueKind::kQuantity:
      out += "{\"value\":" + FormatDecimal(v->decimal) +
             ",\"unit\":" + json::serialize(json::string(v->text)) + "}";
      break;
    default:
      out += json::serialize(json::string(ToString(*v)));
      break;
  }
  out += "}";
}

// SAX handler building a DOM in which non-integer numbers are kept as their source text.
class KeepDecimalsHandler {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  json::value_stack stack;
  json::storage_ptr storage;  // where the values go
  std::string number;

  bool on_document_begin(json::error_code&) {
    stack.reset(storage);
    return true;
  }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t n, json::error_code&) {
    stack.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    stack.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    stack.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    stack.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number.append(s.data(), s.size());
    return true;
  }
  bool on_int64(int64_t i, json::string_view, json::error_code&) {
    number.clear();
    stack.push_int64(i);
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, json::error_code&) {
    number.clear();
    stack.push_uint64(u);
    return true;
  }
  bool on_double(double, json::string_view s, json::error_code&) {
    number.append(s.data(), s.size());
    stack.push_string(number);
    number.clear();
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    stack.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    stack.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

}  // namespace
}  // namespace internal

Result<Collection> Evaluate(const Expression& expression, const boost::json::value& resource,
                            const EvalContext& context) {
  internal::Env env;
  env.ctx = &context;
  env.resource.push_back(internal::ResourceItem(resource));
  if (!context.now.empty()) {
    if (auto t = internal::ParseDateTime(context.now)) {
      env.now = *t;
      env.now_set = true;
    }
  }
  internal::Frame frame;
  frame.env = &env;
  try {
    return internal::Eval(expression.root(), env.resource, frame);
  } catch (const internal::EvalError& e) {
    return Status::Invalid("FHIRPath evaluation error: " + e.message);
  } catch (const std::exception& e) {
    return Status::Invalid(std::string("FHIRPath evaluation error: ") + e.what());
  }
}

std::string ToTypedJson(const Collection& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    internal::AppendTyped(out, values[i]);
  }
  out += "]";
  return out;
}

Result<boost::json::value> ParseJson(std::string_view text, boost::json::storage_ptr storage) {
  boost::json::parse_options options;
  boost::json::basic_parser<internal::KeepDecimalsHandler> parser(options);
  parser.handler().storage = std::move(storage);
  boost::json::error_code ec;
  parser.write_some(false, text.data(), text.size(), ec);
  if (ec) return Status::Invalid("The resource is not valid JSON: " + ec.message());
  return parser.handler().stack.release();
}

Result<std::string> EvaluateToTypedJson(std::string_view expression, std::string_view resource_json,
                                        const EvalContext& context) {
  auto compiled = Compile(expression);
  if (!compiled.ok()) return compiled.take_status();
  auto resource = ParseJson(resource_json);
  if (!resource.ok()) return resource.take_status();
  auto result = Evaluate(*compiled, *resource, context);
  if (!result.ok()) return result.take_status();
  return ToTypedJson(*result);
}

}  // namespace kiln::fhirpath
