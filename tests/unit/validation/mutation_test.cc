// The mutation corpus: valid official examples, each broken in one place (wrong primitive types,
// unknown elements, empty values, nulls, arrays where single, singles where arrays, impossible
// dates, malformed references, bad codes for required bindings, missing required elements,
// dangerous narratives). Every mutant must be refused with an error whose expression names the
// element that was broken.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "validation/validator.h"

namespace kiln::validation {
namespace {

namespace json = boost::json;

json::value LoadExample(const std::string& file) {
  std::ifstream in(std::string(KILN_FHIR_PACKAGE_DIR) + "/" + file);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return json::parse(buffer.str());
}

struct Mutant {
  std::string name;        // what was done, for failure messages
  json::value resource;    // the broken resource
  std::string expression;  // the element an error must name
};

// A place in the resource: the JSON value and its FHIRPath expression.
struct Place {
  std::vector<std::variant<std::string, size_t>> steps;  // keys and indexes from the root
  std::string expression;
};

json::value* Resolve(json::value& root, const Place& place) {
  json::value* v = &root;
  for (const auto& step : place.steps) {
    if (const std::string* key = std::get_if<std::string>(&step)) {
      v = &v->as_object()[*key];
    } else {
      v = &v->as_array()[std::get<size_t>(step)];
    }
  }
  return v;
}

// Every value in the resource with its expression, skipping what mutations must not touch
// (resourceType, contained/inline resources, primitive extension partners, server-managed meta).
void Walk(const json::value& v, Place place, std::vector<Place>& out, bool root = false) {
  if (!root) out.push_back(place);
  if (v.is_object()) {
    for (const auto& member : v.as_object()) {
      std::string key(member.key());
      if (key == "resourceType" || key == "contained" || key == "resource" || key == "meta" ||
          key.front() == '_' || key == "extension" || key == "modifierExtension" ||
          key == "div")
        continue;
      Place child = place;
      child.steps.push_back(key);
      child.expression += "." + key;
      Walk(member.value(), child, out);
    }
  } else if (v.is_array()) {
    const json::array& a = v.as_array();
    for (size_t i = 0; i < a.size(); ++i) {
      Place child = place;
      child.steps.push_back(i);
      child.expression += "[" + std::to_string(i) + "]";
      Walk(a[i], child, out);
    }
  }
}

bool IsArrayPlace(const Place& p) { return std::holds_alternative<size_t>(p.steps.back()); }

std::vector<Mutant> Mutate(const std::string& file) {
  json::value original = LoadExample(file);
  std::string type(original.as_object().at("resourceType").as_string());
  std::vector<Place> places;
  Walk(original, Place{{}, type}, places, /*root=*/true);
  std::vector<Mutant> out;
  auto add = [&](const std::string& what, const Place& place,
                 const std::function<void(json::value&)>& change) {
    json::value copy = original;
    change(*Resolve(copy, place));
    out.push_back({file + ": " + what + " at " + place.expression, std::move(copy),
                   place.expression});
  };
  for (const Place& p : places) {
    const json::value& v = *Resolve(original, p);
    if (v.is_bool()) {
      add("boolean as string", p, [](json::value& x) { x = "yes"; });
      add("boolean as number", p, [](json::value& x) { x = 1; });
    } else if (v.is_string()) {
      std::string s(v.as_string());
      add("string as number", p, [](json::value& x) { x = 42; });
      add("empty string", p, [](json::value& x) { x = ""; });
      add("string as object", p, [](json::value& x) { x = json::object{{"value", "x"}}; });
      if (s.size() >= 10 && s[4] == '-' && s[7] == '-' && isdigit(s[0]))
        add("impossible date", p, [s](json::value& x) { x = "2023-02-30" + s.substr(10); });
      if (p.expression.size() > 10 &&
          p.expression.compare(p.expression.size() - 10, 10, ".reference") == 0) {
        add("reference with a space", p, [](json::value& x) { x = "Patient/has space"; });
        add("reference that is not one", p, [](json::value& x) { x = "::not a reference::"; });
      }
    } else if (v.is_number()) {
      add("number as string", p, [](json::value& x) { x = "12"; });
    } else if (v.is_object()) {
      add("empty object", p, [](json::value& x) { x = json::object(); });
      add("unknown element", p, [](json::value& x) { x.as_object()["kilnUnknownElement"] = 1; });
      if (!IsArrayPlace(p))
        add("single wrapped in an array", p,
            [](json::value& x) { x = json::array{x}; });
    } else if (v.is_array()) {
      add("empty array", p, [](json::value& x) { x = json::array(); });
      if (!v.as_array().empty() && !v.as_array()[0].is_array())
        add("array replaced by its first item", p,
            [](json::value& x) { x = json::value(x.as_array()[0]); });
    }
    if (!IsArrayPlace(p) || !v.is_null())
      add("null", p, [](json::value& x) { x = nullptr; });
  }
  // Unknown element names carry their own path.
  for (Mutant& m : out) {
    if (m.name.find("unknown element") != std::string::npos)
      m.expression += ".kilnUnknownElement";
  }
  return out;
}

// Mutations that need knowledge of the element: required bindings, required elements,
// narratives.
std::vector<Mutant> Targeted() {
  std::vector<Mutant> out;
  auto with = [&](const std::string& file, const std::string& name, const std::string& expression,
                  const std::function<void(json::object&)>& change) {
    json::value v = LoadExample(file);
    change(v.as_object());
    out.push_back({file + ": " + name, std::move(v), expression});
  };
  for (const char* code : {"man", "Male", "MALE", " male", "f", "unknown2"})
    with("Patient-example.json", std::string("gender ") + code, "Patient.gender",
         [code](json::object& r) { r["gender"] = code; });
  for (const char* code : {"done", "Final", "complete", "draft"})
    with("Observation-example.json", std::string("status ") + code, "Observation.status",
         [code](json::object& r) { r["status"] = code; });
  for (const char* code : {"actives", "Active", "finished "})
    with("Encounter-example.json", std::string("status ") + code, "Encounter.status",
         [code](json::object& r) { r["status"] = code; });
  with("Observation-example.json", "missing status", "Observation.status",
       [](json::object& r) { r.erase("status"); });
  with("Observation-example.json", "missing code", "Observation.code",
       [](json::object& r) { r.erase("code"); });
  with("Encounter-example.json", "missing status", "Encounter.status",
       [](json::object& r) { r.erase("status"); });
  with("Encounter-example.json", "missing class", "Encounter.class",
       [](json::object& r) { r.erase("class"); });
  with("Patient-example.json", "link without its other end", "Patient.link[0].other",
       [](json::object& r) { r["link"] = json::array{json::object{{"type", "seealso"}}}; });
  with("Patient-example.json", "link without its type", "Patient.link[0].type",
       [](json::object& r) {
         r["link"] = json::array{json::object{{"other", json::object{{"reference", "Patient/x"}}}}};
       });
  const char* narratives[] = {
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script>x</div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><SCRIPT>alert(1)</SCRIPT>x</div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="alert(1)">x</p></div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><img src="x" onerror="alert(1)"/></div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><a href="javascript:alert(1)">x</a></div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><a href="jav&#x09;ascript:alert(1)">x</a></div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><a href=" JAVASCRIPT:alert(1)">x</a></div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><iframe src="http://evil"></iframe>x</div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><form action="http://evil"><input/></form></div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><object data="x.swf"></object>x</div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><embed src="x.swf"/>x</div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><style>body{}</style>x</div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><p style="width:expression(alert(1))">x</p></div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><p style="background:url(javascript:alert(1))">x</p></div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><a href="data:text/html,<script>alert(1)</script>">x</a></div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><svg onload="alert(1)"/>x</div>)x",
      R"x(<div>no namespace</div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><p>unclosed</div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml">a</div><div xmlns="http://www.w3.org/1999/xhtml">b</div>)x",
      R"x(<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><div xmlns="http://www.w3.org/1999/xhtml">&e;</div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml">&unknownentity;</div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml"><p a="1" a="2">x</p></div>)x",
      R"x(<div xmlns="http://www.w3.org/1999/xhtml">   </div>)x",
      R"x(not xml at all)x",
  };
  int i = 0;
  for (const char* div : narratives) {
    with("Patient-example.json", "narrative " + std::to_string(i++), "Patient.text.div",
         [div](json::object& r) { r["text"].as_object()["div"] = div; });
  }
  return out;
}

TEST(MutationCorpus, EveryMutantIsRefusedAtItsElement) {
  std::vector<Mutant> corpus;
  for (const char* file :
       {"Patient-example.json", "Observation-example.json", "Encounter-example.json",
        "Condition-example.json", "MedicationRequest-medrx0302.json", "AllergyIntolerance-example.json",
        "Immunization-example.json", "Procedure-example.json", "DiagnosticReport-f201.json",
        "Practitioner-example.json", "Organization-hl7.json"}) {
    std::vector<Mutant> m = Mutate(file);
    corpus.insert(corpus.end(), std::make_move_iterator(m.begin()),
                  std::make_move_iterator(m.end()));
  }
  std::vector<Mutant> t = Targeted();
  corpus.insert(corpus.end(), std::make_move_iterator(t.begin()), std::make_move_iterator(t.end()));
  ASSERT_GE(corpus.size(), 300u);

  int failures = 0;
  for (const Mutant& m : corpus) {
    std::vector<Issue> issues = Validate(m.resource);
    bool named = false;
    for (const Issue& issue : issues) {
      bool error = issue.severity == Severity::kError || issue.severity == Severity::kFatal;
      if (error && issue.expression == m.expression) named = true;
    }
    if (!named) {
      ++failures;
      std::string found;
      for (const Issue& issue : issues) found += "\n    " + issue.expression + ": " + issue.diagnostics;
      ADD_FAILURE() << m.name << ": no error at " << m.expression << "; got" << found;
      if (failures > 40) break;
    }
  }
  std::printf("mutation corpus: %zu mutants, %d not refused at their element\n", corpus.size(),
              failures);
}

}  // namespace
}  // namespace kiln::validation
