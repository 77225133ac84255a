// FHIRPath (the normative N1 language, as FHIR R4 uses it) over resources held as Boost.JSON
// values, typed by the compiled-in R4 definitions (fhir/definitions.h).
//
// Use: Compile() an expression once (syntax and function-arity errors come back as a Status that
// names the position), then Evaluate() it on any number of resources. A compiled Expression is
// immutable and may be evaluated from many threads at once; each evaluation owns its own state.
//
// Results are Collections of Items. An element Item points into the caller's JSON (no copies), so
// the resource must outlive the Collection. Items computed by the expression (literals, function
// results) are System values held by value.
//
// Decimals: Boost.JSON's DOM turns JSON numbers into doubles. ParseJson() below keeps the exact
// text of every non-integer number by storing it as a JSON string; the evaluator knows from the
// definitions that the element is a decimal, so `1.50` keeps its two places (toString, precision,
// boundaries). A DOM from boost::json::parse also works: a double's decimal places are then
// reconstructed from its shortest round-trip text.
#pragma once

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"

namespace kiln::fhir {
struct TypeDef;
}

namespace kiln::fhirpath {

// What an Item is: an element of the input (kElement), or one of the System types.
enum class ValueKind : uint8_t {
  kElement,
  kBoolean,
  kInteger,
  kDecimal,
  kString,
  kDate,
  kDateTime,
  kTime,
  kQuantity,
};

// A date, dateTime or time value with the precision it was written with.
struct Temporal {
  // 1 year, 2 month, 3 day, 4 hour, 5 minute, 6 second, 7 millisecond. Times start at 4.
  uint8_t precision = 0;
  bool has_tz = false;
  int16_t tz_minutes = 0;  // offset from UTC when has_tz
  int32_t year = 0;
  int8_t month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int16_t millis = 0;
};

// A FHIRPath decimal: a double plus the number of decimal places it was written with (-1 when
// unknown, e.g. after arithmetic), which toString and precision() honour.
struct Decimal {
  double value = 0;
  int scale = -1;
};

// One member of a Collection.
struct Item {
  ValueKind kind = ValueKind::kElement;

  // kElement: the JSON value (object, or the primitive's value; nullptr when a primitive has only
  // an id/extension), the primitive's "_name" sibling object if any, the FHIR type name
  // ("HumanName", "code", "Patient", "BackboneElement"), and where its children are defined
  // (def + path within def, e.g. Patient + "Patient.contact"). def is nullptr when unknown.
  const boost::json::value* node = nullptr;
  const boost::json::value* extras = nullptr;
  std::string_view type_name;
  const fhir::TypeDef* def = nullptr;
  std::string_view def_path;

  // System values.
  bool boolean = false;
  int64_t integer = 0;
  Decimal decimal;    // kDecimal, and the value of kQuantity
  std::string text;   // kString; the unit of kQuantity; the literal text of dates and times
  Temporal temporal;  // kDate, kDateTime, kTime

  static Item Boolean(bool b);
  static Item Integer(int64_t i);
  static Item Dec(Decimal d);
  static Item String(std::string s);
  static Item Quantity(Decimal value, std::string unit);
};

using Collection = std::vector<Item>;

namespace internal {
struct Node;
struct TypedNode;
}  // namespace internal

// A compiled expression. Cheap to copy (shares the immutable tree); thread-safe to evaluate.
class Expression {
 public:
  const std::string& text() const { return text_; }
  const internal::Node& root() const { return *root_; }

 private:
  friend Result<Expression> Compile(std::string_view text);
  std::string text_;
  std::shared_ptr<const internal::Node> root_;
};

// Parses `text`. Fails with kInvalid: syntax errors ("... at position N"), unknown functions and
// wrong numbers of arguments.
Result<Expression> Compile(std::string_view text);

// Finds the resource a reference string points to ("Patient/1", a full URL), or returns nullptr.
// Called by resolve() after contained resources and the enclosing Bundle have been tried. Must be
// callable concurrently if the same EvalContext is shared across threads.
using Resolver = std::function<const boost::json::value*(std::string_view reference)>;

// Called by trace(name[, projection]).
using Tracer = std::function<void(std::string_view name, const Collection& values)>;

// What the host supplies for an evaluation. All optional.
struct EvalContext {
  // %name environment variables (without the %). %resource, %rootResource, %context, %ucum, %sct,
  // %loinc, %`vs-*` and %`ext-*` are built in.
  std::map<std::string, Collection, std::less<>> variables;
  Resolver resolver;
  Tracer tracer;
  // The instant now() returns and today() derives from, as FHIR dateTime text; empty means the
  // system clock when the evaluation first asks for it (the same instant for the whole
  // evaluation).
  std::string now;
};

// Evaluates `expression` with `resource` as the focus, %resource and %context. Fails with kInvalid
// on evaluation errors (a collection with several items where one is required, a bad regex, an
// operand of the wrong type...).
Result<Collection> Evaluate(const Expression& expression, const boost::json::value& resource,
                            const EvalContext& context = {});

// An Expression compiled for resources of one type, for the common shapes of search parameter
// expressions: paths (`Observation.code`, `Patient.name.given`), choice elements and their
// type filters (`Observation.value.as(Quantity)`, `(Observation.value as Quantity)`,
// `.ofType(T)`), reference filters (`Observation.subject.where(resolve() is Patient)`) and unions
// of these. Each path is resolved against the definitions once, here, instead of per item and
// per resource (element and type lookups by name, intermediate collections, the evaluator's
// copies), and it gives exactly the Items Evaluate() gives: Children() and ChildLookups() share
// one lookup routine, and resolve(), `is`, `as` and `|` call the evaluator's own code.
// Immutable after Make(); thread-safe to evaluate.
class TypedPath {
 public:
  // The type of a focus or of the items a path yields: the FHIR type name, and where the
  // children are defined (def + path within def, as in Item; def may be null for primitives).
  struct Focus {
    std::string_view type_name;
    const fhir::TypeDef* def = nullptr;
    std::string_view def_path;
  };

  // Compiled for a `type` resource as the focus; nullptr when `expression` has a shape this does
  // not cover (then use Evaluate()).
  static std::unique_ptr<const TypedPath> Make(const Expression& expression,
                                               const fhir::TypeDef& type);
  // Compiled for a focus of type `focus` inside a `type` resource (a composite search
  // parameter's component on each value of the composite).
  static std::unique_ptr<const TypedPath> Make(const Expression& expression,
                                               const fhir::TypeDef& type, const Focus& focus);
  ~TypedPath();

  // What Evaluate(expression, resource, context) gives, for a `resource` that is a JSON object
  // whose resourceType is the type given to Make(). nullopt when Evaluate() would fail (e.g.
  // as() on several items): the caller then calls Evaluate() for its result or message.
  std::optional<Collection> Evaluate(const boost::json::value& resource,
                                     const EvalContext& context) const;
  // The same with `focus` (which must Fit()) as the focus and `resource` as %resource: what
  // Evaluate() gives for `%v.select(expression)` with %v = focus.
  std::optional<Collection> EvaluateOn(const Item* focus, const boost::json::value& resource,
                                       const EvalContext& context) const;
  // True if `item` has the focus type this was compiled for.
  bool Fits(const Item& item) const;
  // The types of the items Evaluate() yields; empty when some are known only from the data.
  const std::vector<Focus>& outputs() const { return outputs_; }

 private:
  TypedPath(std::unique_ptr<const internal::TypedNode> root, const fhir::TypeDef& type,
            const Focus& focus, std::vector<Focus> outputs);
  std::unique_ptr<const internal::TypedNode> root_;
  const fhir::TypeDef& type_;
  Focus focus_;
  std::vector<Focus> outputs_;
};

// Prints a collection as typed JSON: [{"type":"string","value":"Chalmers"}, ...]. Elements of
// complex types print their JSON as the value; dates and times print as FHIR text; quantities as
// {"value":1.5,"unit":"mg"}.
std::string ToTypedJson(const Collection& values);

// Parses JSON keeping decimal text (see above). Fails with kInvalid when `text` is not JSON. The
// values are allocated from `storage` (default: the heap); a tree that lives for one short task
// can take a boost::json::monotonic_resource, which makes building it cheap and freeing it free.
Result<boost::json::value> ParseJson(std::string_view text, boost::json::storage_ptr storage = {});

// For the command line: compile `expression`, parse `resource_json` and return ToTypedJson of the
// result, or the first failure.
Result<std::string> EvaluateToTypedJson(std::string_view expression, std::string_view resource_json,
                                        const EvalContext& context = {});

// The string form FHIRPath's toString() gives a System value (dates keep their precision,
// quantities print as `1.5 'mg'`); for elements, the string form of their primitive value.
std::string ToString(const Item& item);

}  // namespace kiln::fhirpath
