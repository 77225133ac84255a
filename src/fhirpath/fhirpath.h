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

#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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
}

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
  // system clock at the start of the evaluation.
  std::string now;
};

// Evaluates `expression` with `resource` as the focus, %resource and %context. Fails with kInvalid
// on evaluation errors (a collection with several items where one is required, a bad regex, an
// operand of the wrong type...).
Result<Collection> Evaluate(const Expression& expression, const boost::json::value& resource,
                            const EvalContext& context = {});

// Prints a collection as typed JSON: [{"type":"string","value":"Chalmers"}, ...]. Elements of
// complex types print their JSON as the value; dates and times print as FHIR text; quantities as
// {"value":1.5,"unit":"mg"}.
std::string ToTypedJson(const Collection& values);

// Parses JSON keeping decimal text (see above). Fails with kInvalid when `text` is not JSON.
Result<boost::json::value> ParseJson(std::string_view text);

// For the command line: compile `expression`, parse `resource_json` and return ToTypedJson of the
// result, or the first failure.
Result<std::string> EvaluateToTypedJson(std::string_view expression, std::string_view resource_json,
                                        const EvalContext& context = {});

// The string form FHIRPath's toString() gives a System value (dates keep their precision,
// quantities print as `1.5 'mg'`); for elements, the string form of their primitive value.
std::string ToString(const Item& item);

}  // namespace kiln::fhirpath
