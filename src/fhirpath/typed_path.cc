// TypedPath: simple expressions compiled against the definitions of one resource type (see
// fhirpath.h). Index extraction evaluates about thirty expressions per resource, nearly all of
// them plain paths; the general evaluator spends most of that time finding the same element
// definitions by name for every item, and copying Items between intermediate collections.
//
// A compiled path is a tree: a member step lists the JSON members it reads (one, or one per type
// of a choice element), and each of those carries the steps that follow, compiled for the type
// that member has. Evaluation walks the tree depth-first, which yields the items in the order the
// evaluator's breadth-first collections have them (each item's children in turn). Anything the
// tree cannot know before seeing the data (an untyped or contained resource value followed by
// more navigation, a function other than where(resolve() is T), as() and ofType()) makes Make()
// decline, and the caller keeps the general evaluator for that expression.

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fhir/definitions.h"
#include "fhirpath/internal.h"

namespace kiln::fhirpath {
namespace internal {

struct TypedStep {
  enum class Kind : uint8_t {
    kChildren,    // lookups (each with its own continuation); always last in its list
    kTypeFilter,  // as(T), ofType(T), `as T`: passes or drops every item reaching it
    kResolveIs,   // where(resolve() is T)
  };
  struct Lookup {
    ChildLookup lookup;
    std::vector<TypedStep> rest;  // the steps after this one, for the member's type
  };
  Kind kind = Kind::kChildren;
  std::vector<Lookup> lookups;  // kChildren
  // kChildren on a choice element by its base name (`value`: valueQuantity, valueString...):
  // every lookup is only_if_present and its key starts with `choice`; one pass over the object's
  // names finds the ones present, instead of one search per type (up to 50).
  std::string choice;
  bool pass = false;            // kTypeFilter: the items reaching it are of the type
  bool single = false;          // kTypeFilter from as(): its input must be one item at most
  std::string type_ns;          // kResolveIs
  std::string type_name;        // kResolveIs
};

struct TypedNode {
  // A union (left | right) when left is set; otherwise a path from the focus (the resource, or a
  // composite parameter's value).
  std::unique_ptr<TypedNode> left, right;
  bool selects_nothing = false;  // the path starts with another type's name
  std::vector<TypedStep> steps;
};

namespace {

// What the compiler knows of the items reaching a step: their type, and where their children are
// defined (def may be null for types without children).
using StaticType = TypedPath::Focus;

// The types of the items a path yields, while all are known.
struct Outputs {
  std::vector<StaticType> types;
  bool known = true;
  void Add(const StaticType& t) {
    for (const StaticType& x : types) {
      if (x.type_name == t.type_name && x.def == t.def && x.def_path == t.def_path) return;
    }
    types.push_back(t);
  }
};

// One operation of a path, root first.
struct PathOp {
  enum class Kind : uint8_t { kMember, kAsFunction, kOfType, kAsOperator, kWhereResolveIs };
  Kind kind;
  const Node* node;
};

bool IsResolveIs(const Node& where) {
  if (where.args.size() != 1) return false;
  const Node& is = *where.args[0];
  if (is.kind != NodeKind::kTypeOp || is.op != Op::kIs || is.args.size() != 1) return false;
  const Node& resolve = *is.args[0];
  return resolve.kind == NodeKind::kFunction && resolve.name == "resolve" && !resolve.target &&
         resolve.args.empty();
}

// The operations of a path expression, root first; false for anything else.
bool Flatten(const Node* n, std::vector<PathOp>& ops) {
  while (n != nullptr) {
    if (n->kind == NodeKind::kMember) {
      ops.push_back({PathOp::Kind::kMember, n});
      n = n->target.get();
    } else if (n->kind == NodeKind::kFunction && n->target &&
               (n->name == "as" || n->name == "ofType")) {
      ops.push_back({n->name == "as" ? PathOp::Kind::kAsFunction : PathOp::Kind::kOfType, n});
      n = n->target.get();
    } else if (n->kind == NodeKind::kFunction && n->target && n->name == "where" &&
               IsResolveIs(*n)) {
      ops.push_back({PathOp::Kind::kWhereResolveIs, n});
      n = n->target.get();
    } else if (n->kind == NodeKind::kTypeOp && n->op == Op::kAs && n->args.size() == 1) {
      ops.push_back({PathOp::Kind::kAsOperator, n});
      n = n->args[0].get();
    } else {
      return false;
    }
  }
  std::reverse(ops.begin(), ops.end());
  // The path must start from the resource (a name), and call as() at most once (one count).
  if (ops.empty() || ops[0].kind != PathOp::Kind::kMember) return false;
  return std::count_if(ops.begin(), ops.end(),
                       [](const PathOp& op) { return op.kind == PathOp::Kind::kAsFunction; }) <= 1;
}

// Compiles ops[i..] for items of type `t`; false when some step depends on the data.
bool CompileSteps(const std::vector<PathOp>& ops, size_t i, const StaticType& t,
                  std::vector<TypedStep>& steps, Outputs& outputs) {
  for (; i < ops.size(); ++i) {
    const PathOp& op = ops[i];
    TypedStep step;
    switch (op.kind) {
      case PathOp::Kind::kMember: {
        // Untyped elements are navigated by their JSON alone: leave them to the evaluator.
        if (t.def == nullptr) return false;
        std::vector<ChildLookup> lookups;
        if (!ChildLookups(*t.def, t.def_path, op.node->name, lookups)) return false;
        step.kind = TypedStep::Kind::kChildren;
        for (ChildLookup& lookup : lookups) {
          TypedStep::Lookup l{std::move(lookup), {}};
          const ChildShape& shape = l.lookup.shape;
          const bool typed = !shape.is_resource && !shape.type_name.empty();
          const StaticType child{shape.type_name, shape.def, shape.def_path};
          if (i + 1 < ops.size()) {
            // The type of what follows must not depend on the values.
            if (!typed) return false;
            if (!CompileSteps(ops, i + 1, child, l.rest, outputs)) return false;
          } else if (typed) {
            outputs.Add(child);
          } else {
            outputs.known = false;
          }
          step.lookups.push_back(std::move(l));
        }
        const bool all_choices =
            std::all_of(step.lookups.begin(), step.lookups.end(), [&](const TypedStep::Lookup& l) {
              return l.lookup.only_if_present && l.lookup.key.starts_with(op.node->name) &&
                     l.lookup.key.size() > op.node->name.size();
            });
        if (step.lookups.size() > 1 && step.lookups.size() <= 64 && all_choices) {
          step.choice = op.node->name;
        }
        steps.push_back(std::move(step));
        return true;
      }
      case PathOp::Kind::kAsFunction:
      case PathOp::Kind::kOfType:
      case PathOp::Kind::kAsOperator: {
        if (t.type_name.empty()) return false;
        const bool function = op.kind != PathOp::Kind::kAsOperator;
        Item probe;
        probe.type_name = t.type_name;
        step.kind = TypedStep::Kind::kTypeFilter;
        step.pass = ItemIsType(probe, op.node->type_ns,
                               function ? op.node->literal.text : op.node->name, true);
        step.single = op.kind == PathOp::Kind::kAsFunction;
        break;
      }
      case PathOp::Kind::kWhereResolveIs: {
        const Node& is = *op.node->args[0];
        step.kind = TypedStep::Kind::kResolveIs;
        step.type_ns = is.type_ns;
        step.type_name = is.name;
        break;
      }
    }
    const bool drops_all = step.kind == TypedStep::Kind::kTypeFilter && !step.pass;
    steps.push_back(std::move(step));
    if (drops_all) return true;
  }
  outputs.Add(t);
  return true;
}

// Compiles `n` for a focus of type `focus`.
std::unique_ptr<TypedNode> CompileNode(const Node& n, const StaticType& focus, Outputs& outputs) {
  auto out = std::make_unique<TypedNode>();
  if (n.kind == NodeKind::kBinary && n.op == Op::kUnion) {
    out->left = CompileNode(*n.args[0], focus, outputs);
    if (!out->left) return nullptr;
    out->right = CompileNode(*n.args[1], focus, outputs);
    if (!out->right) return nullptr;
    return out;
  }
  std::vector<PathOp> ops;
  if (!Flatten(&n, ops)) return nullptr;
  size_t first = 0;
  // A leading type name filters the focus (as Eval's kMember does): `Patient.name`.
  const std::string& lead = ops[0].node->name;
  if (!lead.empty() && std::isupper(static_cast<unsigned char>(lead[0])) &&
      fhir::FindType(lead) != nullptr) {
    if (!TypeIs(focus.type_name, lead)) {
      out->selects_nothing = true;
      return out;
    }
    first = 1;
  }
  if (!CompileSteps(ops, first, focus, out->steps, outputs)) return nullptr;
  return out;
}

// Bit i set when obj has step.lookups[i].key (a choice step).
uint64_t PresentChoices(const json::object& obj, const TypedStep& step) {
  uint64_t present = 0;
  for (const json::key_value_pair& member : obj) {
    const std::string_view key = member.key();
    if (key.size() <= step.choice.size() || !key.starts_with(step.choice)) continue;
    for (size_t i = 0; i < step.lookups.size(); ++i) {
      if (step.lookups[i].lookup.key == key) {
        present |= uint64_t{1} << i;
        break;
      }
    }
  }
  return present;
}

// Per-evaluation state.
struct Walk {
  const json::value& resource;
  const fhir::TypeDef& type;
  const EvalContext& context;
  const Item* focus = nullptr;  // nullptr: the resource
  std::optional<Env> env;       // for resolve(), made on first use
  size_t as_inputs = 0;         // items that reached as()

  Item Root() const {
    Item item;
    item.node = &resource;
    item.def = &type;
    item.type_name = type.name();
    item.def_path = type.name();
    return item;
  }

  bool ResolvesTo(const Item& item, const TypedStep& step) {
    if (!env) {
      env.emplace();
      env->ctx = &context;
      env->resource.push_back(Root());
    }
    const json::value* target = ResolveItem(item, *env);
    return target != nullptr &&
           ItemIsType(ResourceItem(*target), step.type_ns, step.type_name, false);
  }

  void Steps(const std::vector<TypedStep>& steps, const Item& item, Collection& out) {
    for (const TypedStep& step : steps) {
      switch (step.kind) {
        case TypedStep::Kind::kTypeFilter:
          if (step.single) ++as_inputs;
          if (!step.pass) return;
          break;
        case TypedStep::Kind::kResolveIs:
          if (!ResolvesTo(item, step)) return;
          break;
        case TypedStep::Kind::kChildren: {
          const json::object* obj = ChildObject(item);
          if (obj == nullptr) return;
          uint64_t present = 0;  // choice steps: the lookups whose key obj has
          if (!step.choice.empty()) {
            present = PresentChoices(*obj, step);
            if (present == 0) return;
          }
          for (size_t i = 0; i < step.lookups.size(); ++i) {
            const TypedStep::Lookup& l = step.lookups[i];
            const bool known = !step.choice.empty();
            if (known && (present & (uint64_t{1} << i)) == 0) continue;
            if (l.rest.empty()) {
              AppendChildren(*obj, l.lookup, out, known);
              continue;
            }
            Collection children;
            AppendChildren(*obj, l.lookup, children, known);
            for (const Item& child : children) Steps(l.rest, child, out);
          }
          return;
        }
      }
    }
    out.push_back(item);
  }

  // nullopt where the evaluator fails.
  std::optional<Collection> Run(const TypedNode& n) {
    if (n.left) {
      std::optional<Collection> a = Run(*n.left);
      if (!a) return std::nullopt;
      std::optional<Collection> b = Run(*n.right);
      if (!b) return std::nullopt;
      Collection out;
      for (const Item& i : *a) AppendUnique(out, i);
      for (const Item& i : *b) AppendUnique(out, i);
      return out;
    }
    Collection out;
    if (n.selects_nothing) return out;
    as_inputs = 0;
    if (focus != nullptr) {
      Steps(n.steps, *focus, out);
    } else {
      Steps(n.steps, Root(), out);
    }
    if (as_inputs > 1) return std::nullopt;  // as() expects a single item
    return out;
  }
};

}  // namespace
}  // namespace internal

TypedPath::TypedPath(std::unique_ptr<const internal::TypedNode> root, const fhir::TypeDef& type,
                     const Focus& focus, std::vector<Focus> outputs)
    : root_(std::move(root)), type_(type), focus_(focus), outputs_(std::move(outputs)) {}

TypedPath::~TypedPath() = default;

std::unique_ptr<const TypedPath> TypedPath::Make(const Expression& expression,
                                                 const fhir::TypeDef& type) {
  return Make(expression, type, Focus{type.name(), &type, type.name()});
}

std::unique_ptr<const TypedPath> TypedPath::Make(const Expression& expression,
                                                 const fhir::TypeDef& type, const Focus& focus) {
  internal::Outputs outputs;
  std::unique_ptr<internal::TypedNode> root =
      internal::CompileNode(expression.root(), focus, outputs);
  if (!root) return nullptr;
  if (!outputs.known) outputs.types.clear();
  return std::unique_ptr<const TypedPath>(
      new TypedPath(std::move(root), type, focus, std::move(outputs.types)));
}

bool TypedPath::Fits(const Item& item) const {
  return item.kind == ValueKind::kElement && item.def == focus_.def &&
         item.def_path == focus_.def_path && item.type_name == focus_.type_name;
}

std::optional<Collection> TypedPath::Evaluate(const boost::json::value& resource,
                                              const EvalContext& context) const {
  return EvaluateOn(nullptr, resource, context);
}

std::optional<Collection> TypedPath::EvaluateOn(const Item* focus,
                                                const boost::json::value& resource,
                                                const EvalContext& context) const {
  internal::Walk walk{resource, type_, context, focus, std::nullopt, 0};
  try {
    return walk.Run(*root_);
  } catch (const internal::EvalError&) {
    return std::nullopt;  // e.g. `|` comparing values that cannot be compared
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace kiln::fhirpath
