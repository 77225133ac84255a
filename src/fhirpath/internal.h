// Internals of kiln_fhirpath shared by its translation units: the syntax tree the parser builds
// and the evaluator walks, the evaluation frame, and the value helpers (System conversions,
// equality, ordering, dates, quantities). Not part of the public API.
//
// Evaluation errors are thrown as EvalError inside the library and turned into a Status by
// Evaluate(); nothing is thrown across the library boundary. The tree is immutable after
// Compile(), so concurrent evaluations share it safely.
#pragma once

#include <boost/json.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhirpath/fhirpath.h"

namespace kiln::fhirpath::internal {

namespace json = boost::json;

// An expected failure during evaluation; caught by Evaluate().
struct EvalError {
  std::string message;
};
[[noreturn]] void Fail(std::string message);

enum class NodeKind : uint8_t {
  kLiteral,   // literal: a System value
  kEmpty,     // {}
  kMember,    // target.name, or name on the focus when target is null
  kFunction,  // target.fn(args), or fn(args) on the focus
  kIndexer,   // args[0][args[1]]
  kNegate,    // -args[0]
  kBinary,    // args[0] op args[1]
  kThis,      // $this
  kIndex,     // $index
  kTotal,     // $total
  kVariable,  // %name
  kTypeOp,    // args[0] is/as Type (op kIs / kAs)
};

enum class Op : uint8_t {
  kNone,
  kMul,
  kDiv,
  kIntDiv,
  kMod,
  kAdd,
  kSub,
  kConcat,
  kIs,
  kAs,
  kUnion,
  kLt,
  kLe,
  kGt,
  kGe,
  kEq,
  kNe,
  kEquiv,
  kNotEquiv,
  kIn,
  kContains,
  kAnd,
  kOr,
  kXor,
  kImplies,
};

struct Node {
  NodeKind kind = NodeKind::kLiteral;
  Op op = Op::kNone;
  int function = -1;    // kFunction: index in the function table (functions.cc)
  std::string name;     // member, function or variable name; type name for kTypeOp/type args
  std::string type_ns;  // "FHIR", "System" or "" for type specifiers
  Item literal;         // kLiteral
  std::unique_ptr<Node> target;
  std::vector<std::unique_ptr<Node>> args;
  size_t pos = 0;  // offset in the expression text, for messages
};

// Function table (functions.cc). Returns -1 if unknown; sets `arity_error` when the name is known
// but the number of arguments is not.
int LookupFunction(std::string_view name, size_t argc, bool& arity_error);
// True for functions whose first argument is a type specifier (is, as, ofType).
bool TakesTypeArgument(int function);
// True if ns.name names a FHIR or System type (ns may be "").
bool KnownType(std::string_view ns, std::string_view name);

// Per-evaluation state shared by all frames.
struct Env {
  const EvalContext* ctx = nullptr;
  Collection resource;  // %resource, %context, %rootResource
  Temporal now;         // set from ctx->now, or from the clock by Now() on first use
  bool now_set = false;
};
// The instant now(), today() and timeOfDay() use, the same for the whole evaluation. Read from the
// clock on first use only: reading it (and converting to UTC) for every evaluation showed up in
// profiles of index extraction, which evaluates dozens of expressions per resource and none of
// them asks for the time.
const Temporal& Now(Env& env);

// The iteration variables visible to an expression.
struct Frame {
  Env* env = nullptr;
  int64_t index = -1;                 // $index, -1 outside iterations
  const Collection* total = nullptr;  // $total inside aggregate()
};

Collection Eval(const Node& node, const Collection& focus, const Frame& frame);
Collection CallFunction(const Node& node, const Collection& focus, const Frame& frame);

// --- navigation (navigation.cc) ---
// An element Item for a resource JSON object (type from resourceType); untyped if unknown.
Item ResourceItem(const json::value& resource);
// Appends the children called `name` of `parent` (choice elements: `value` finds valueQuantity).
// Returns false when the definitions say the parent's type has no such element (so that a
// path naming no element of any input type can be reported).
bool Children(const Item& parent, std::string_view name, Collection& out);
// How the children an element lookup finds are typed: by the element's definition, or (when
// is_resource) each from its own resourceType, or (empty type_name) guessed from the JSON.
struct ChildShape {
  std::string_view type_name;
  const fhir::TypeDef* def = nullptr;
  std::string_view def_path;
  bool is_resource = false;  // type from each value's resourceType
};
// One JSON member Children() reads for a name on a parent of a known type: `key` (and "_" + key),
// typed by `shape`; when only_if_present, skipped unless `key` itself is present.
struct ChildLookup {
  std::string key;
  ChildShape shape;
  bool only_if_present = false;
};
// The lookups Children(parent, name, ...) makes when parent.def is `def` and parent.def_path is
// `def_path`, in order; false when `name` is no element of that type. Resolving them once lets a
// compiled path skip the definition lookups per item (TypedPath).
bool ChildLookups(const fhir::TypeDef& def, std::string_view def_path, std::string_view name,
                  std::vector<ChildLookup>& out);
// Appends what `lookup` finds in `obj`, exactly as Children() does; `present` says the caller
// has seen lookup.key in obj (skips the only_if_present check).
void AppendChildren(const json::object& obj, const ChildLookup& lookup, Collection& out,
                    bool present = false);
// The object whose members are the children of `item` (the `_name` object for primitives), or
// nullptr.
const json::object* ChildObject(const Item& item);
// Appends every child of `parent`, in JSON order.
void AllChildren(const Item& parent, Collection& out);
// True if the element's type is `name` or derives from it (FHIR types), following bases.
bool TypeIs(std::string_view type_name, std::string_view name);

// --- values (values.cc) ---
// The System value of an element (primitives, and Quantity-like complex types); nullopt for other
// complex elements. System values are returned as they are.
std::optional<Item> ToSystem(const Item& item);
// Like ToSystem but leaves non-convertible elements as they are.
Item Normalize(const Item& item);
// Name of the item's type for `is`/`ofType` checks and the typed output.
std::string_view SystemTypeName(ValueKind kind);
bool ItemIsType(const Item& item, std::string_view ns, std::string_view name,
                bool exact_primitives);

std::optional<Temporal> ParseDate(std::string_view s);      // 2012, 2012-04, 2012-04-15
std::optional<Temporal> ParseDateTime(std::string_view s);  // date, optionally T time tz
std::optional<Temporal> ParseTime(std::string_view s);      // hh(:mm(:ss(.fff)))
std::string FormatTemporal(const Temporal& t, ValueKind kind);
std::optional<int> CompareTemporal(const Temporal& a, const Temporal& b);
// Adds amount of a calendar unit ("year" ... "millisecond") to a date, dateTime or time.
std::optional<Temporal> AddDuration(const Temporal& t, ValueKind kind, double amount,
                                    std::string_view unit);
// "years", "a" -> "year"; "wk" -> "week"; "" if not a time unit.
std::string_view CalendarUnit(std::string_view unit);

std::optional<Decimal> ParseDecimal(std::string_view s);
std::string FormatDecimal(const Decimal& d);
std::string ItemToString(const Item& item);  // fhirpath::ToString
// Quantity from text such as "1.5 'mg'" or "4 days"; nullopt if not one.
std::optional<Item> ParseQuantity(std::string_view s);
bool IsCalendarUnit(std::string_view unit);

// = : nullopt when the result is empty (e.g. dates of different precision).
std::optional<bool> Equal(const Item& a, const Item& b);
bool Equivalent(const Item& a, const Item& b);
// <, >: nullopt when not comparable at this precision; EvalError for incompatible types.
std::optional<int> Compare(const Item& a, const Item& b);
std::optional<bool> CollectionsEqual(const Collection& a, const Collection& b);
bool CollectionsEquivalent(const Collection& a, const Collection& b);

// Arithmetic (+ - * / div mod and &) on singleton operands; nullopt = empty.
std::optional<Item> Arithmetic(Op op, const Item& a, const Item& b);

// Conversions used by the to*/convertsTo* functions; nullopt when not convertible.
std::optional<Item> ConvertTo(const Item& item, ValueKind kind);

// Single System value of a collection or an error ("expects a single item").
const Item* Singleton(const Collection& c, std::string_view what);
std::optional<bool> SingletonBoolean(const Collection& c, std::string_view what);

// Resolves a reference string against the resource tree and the host's resolver.
const json::value* ResolveReference(std::string_view reference, const Env& env);
// What resolve() gives for one item (a Reference element, or a string), or nullptr.
const json::value* ResolveItem(const Item& item, const Env& env);
// Appends `item` unless `out` has an equal one (the union operator `|`).
void AppendUnique(Collection& out, const Item& item);

}  // namespace kiln::fhirpath::internal
