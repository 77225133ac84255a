// Lexer and recursive-descent (precedence climbing) parser for FHIRPath, producing the tree in
// internal.h. Function names and argument counts are checked here so that a typo fails at
// Compile() rather than on the first resource that reaches it.

#include <cctype>
#include <cstdlib>

#include "fhirpath/internal.h"

namespace kiln::fhirpath {
namespace internal {
namespace {

enum class Tok : uint8_t {
  kEnd,
  kIdent,       // name or `delimited name`
  kString,      // 'text'
  kNumber,      // 12 or 1.5
  kDateTime,    // @2012-04-15T10:00
  kTime,        // @T10:00
  kConstant,    // %name
  kSpecial,     // $this $index $total
  kPunct,       // operators and brackets
};

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // decoded text (strings, delimited identifiers) or the lexeme
  bool delimited = false;
  size_t pos = 0;
};

struct SyntaxError {
  std::string message;
  size_t pos;
};

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  std::vector<Token> Run() {
    std::vector<Token> out;
    while (true) {
      SkipSpace();
      Token t;
      t.pos = i_;
      if (i_ >= s_.size()) {
        out.push_back(t);
        return out;
      }
      char c = s_[i_];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t b = i_;
        while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) ++i_;
        t.kind = Tok::kIdent;
        t.text = std::string(s_.substr(b, i_ - b));
      } else if (c == '`') {
        t.kind = Tok::kIdent;
        t.delimited = true;
        t.text = Quoted('`');
      } else if (c == '\'') {
        t.kind = Tok::kString;
        t.text = Quoted('\'');
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t b = i_;
        while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
        if (i_ + 1 < s_.size() && s_[i_] == '.' && std::isdigit(static_cast<unsigned char>(s_[i_ + 1]))) {
          ++i_;
          while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
        }
        t.kind = Tok::kNumber;
        t.text = std::string(s_.substr(b, i_ - b));
      } else if (c == '@') {
        ++i_;
        size_t b = i_;
        if (i_ < s_.size() && s_[i_] == 'T') {
          ++i_;
          ScanTime();
          t.kind = Tok::kTime;
        } else {
          ScanDateTime();
          t.kind = Tok::kDateTime;
        }
        t.text = std::string(s_.substr(b, i_ - b));
        if (t.text.empty() || t.text == "T") throw SyntaxError{"Bad date/time literal", t.pos};
      } else if (c == '%') {
        ++i_;
        t.kind = Tok::kConstant;
        if (i_ < s_.size() && s_[i_] == '`') {
          t.text = Quoted('`');
        } else if (i_ < s_.size() && s_[i_] == '\'') {
          t.text = Quoted('\'');
        } else {
          size_t b = i_;
          while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) ++i_;
          if (b == i_) throw SyntaxError{"Expected a name after %", t.pos};
          t.text = std::string(s_.substr(b, i_ - b));
        }
      } else if (c == '$') {
        ++i_;
        size_t b = i_;
        while (i_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[i_]))) ++i_;
        t.kind = Tok::kSpecial;
        t.text = std::string(s_.substr(b, i_ - b));
        if (t.text != "this" && t.text != "index" && t.text != "total") {
          throw SyntaxError{"Unknown special variable $" + t.text, t.pos};
        }
      } else {
        static constexpr std::string_view kTwo[] = {"<=", ">=", "!=", "!~"};
        t.kind = Tok::kPunct;
        for (auto two : kTwo) {
          if (s_.substr(i_, 2) == two) t.text = std::string(two);
        }
        if (t.text.empty()) {
          if (std::string_view("+-*/&|<>=~()[]{}.,").find(c) == std::string_view::npos) {
            throw SyntaxError{std::string("Unexpected character '") + c + "'", t.pos};
          }
          t.text = std::string(1, c);
        }
        i_ += t.text.size();
      }
      out.push_back(std::move(t));
    }
  }

 private:
  void SkipSpace() {
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i_;
      } else if (s_.substr(i_, 2) == "//") {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      } else if (s_.substr(i_, 2) == "/*") {
        size_t end = s_.find("*/", i_ + 2);
        if (end == std::string_view::npos) throw SyntaxError{"Unterminated comment", i_};
        i_ = end + 2;
      } else {
        return;
      }
    }
  }

  bool Digits(size_t n) {
    if (i_ + n > s_.size()) return false;
    for (size_t k = 0; k < n; ++k) {
      if (!std::isdigit(static_cast<unsigned char>(s_[i_ + k]))) return false;
    }
    return true;
  }

  void ScanTime() {
    if (!Digits(2)) return;
    i_ += 2;
    for (int part = 0; part < 2; ++part) {
      if (i_ < s_.size() && s_[i_] == ':' && (++i_, Digits(2))) {
        i_ += 2;
      } else {
        if (i_ > 0 && s_[i_ - 1] == ':') --i_;
        return;
      }
    }
    if (i_ + 1 < s_.size() && s_[i_] == '.' && std::isdigit(static_cast<unsigned char>(s_[i_ + 1]))) {
      ++i_;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
  }

  void ScanDateTime() {
    if (!Digits(4)) return;
    i_ += 4;
    for (int part = 0; part < 2; ++part) {
      if (i_ < s_.size() && s_[i_] == '-' && (++i_, Digits(2))) {
        i_ += 2;
      } else {
        if (s_[i_ - 1] == '-') --i_;
        break;
      }
    }
    if (i_ < s_.size() && s_[i_] == 'T') {
      ++i_;
      ScanTime();
      if (i_ < s_.size() && s_[i_] == 'Z') {
        ++i_;
      } else if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-') && s_[i_ - 1] != 'T') {
        size_t save = i_++;
        if (Digits(2) && i_ + 2 < s_.size() && s_[i_ + 2] == ':' && (i_ += 3, Digits(2))) {
          i_ += 2;
        } else {
          i_ = save;
        }
      }
    }
  }

  std::string Quoted(char q) {
    size_t start = i_;
    ++i_;
    std::string out;
    while (true) {
      if (i_ >= s_.size()) throw SyntaxError{"Unterminated string", start};
      char c = s_[i_++];
      if (c == q) return out;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i_ >= s_.size()) throw SyntaxError{"Unterminated string", start};
      char e = s_[i_++];
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'f': out.push_back('\f'); break;
        case '\\': case '\'': case '"': case '`': case '/': out.push_back(e); break;
        case 'u': {
          if (i_ + 4 > s_.size()) throw SyntaxError{"Bad \\u escape", i_};
          unsigned cp = std::strtoul(std::string(s_.substr(i_, 4)).c_str(), nullptr, 16);
          i_ += 4;
          if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
          } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
          } else {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
          }
          break;
        }
        default: throw SyntaxError{std::string("Bad escape \\") + e, i_ - 2};
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

bool IsCalendarWord(std::string_view w) {
  static constexpr std::string_view kWords[] = {
      "year", "years", "month", "months", "week", "weeks", "day", "days", "hour", "hours",
      "minute", "minutes", "second", "seconds", "millisecond", "milliseconds"};
  for (auto k : kWords) {
    if (w == k) return true;
  }
  return false;
}

struct BinaryInfo {
  Op op;
  int precedence;  // higher binds tighter
};

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  std::unique_ptr<Node> ParseAll() {
    auto n = ParseExpr(0);
    if (Peek().kind != Tok::kEnd) throw SyntaxError{"Unexpected '" + Peek().text + "'", Peek().pos};
    return n;
  }

 private:
  const Token& Peek(size_t k = 0) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  Token Next() {
    Token t = t_[p_];
    if (p_ + 1 < t_.size()) ++p_;
    return t;
  }
  bool IsPunct(std::string_view s, size_t k = 0) const {
    return Peek(k).kind == Tok::kPunct && Peek(k).text == s;
  }
  void Expect(std::string_view s) {
    if (!IsPunct(s)) {
      throw SyntaxError{"Expected '" + std::string(s) + "'" +
                            (Peek().kind == Tok::kEnd ? " before the end" : " but found '" + Peek().text + "'"),
                        Peek().pos};
    }
    Next();
  }

  std::optional<BinaryInfo> PeekBinary() const {
    const Token& t = Peek();
    if (t.kind == Tok::kPunct) {
      static const std::pair<std::string_view, BinaryInfo> kOps[] = {
          {"*", {Op::kMul, 10}},  {"/", {Op::kDiv, 10}},   {"+", {Op::kAdd, 9}},
          {"-", {Op::kSub, 9}},   {"&", {Op::kConcat, 9}}, {"|", {Op::kUnion, 7}},
          {"<", {Op::kLt, 6}},    {"<=", {Op::kLe, 6}},    {">", {Op::kGt, 6}},
          {">=", {Op::kGe, 6}},   {"=", {Op::kEq, 5}},     {"!=", {Op::kNe, 5}},
          {"~", {Op::kEquiv, 5}}, {"!~", {Op::kNotEquiv, 5}}};
      for (const auto& [s, info] : kOps) {
        if (t.text == s) return info;
      }
      return std::nullopt;
    }
    if (t.kind == Tok::kIdent && !t.delimited) {
      static const std::pair<std::string_view, BinaryInfo> kWords[] = {
          {"div", {Op::kIntDiv, 10}}, {"mod", {Op::kMod, 10}},     {"is", {Op::kIs, 8}},
          {"as", {Op::kAs, 8}},       {"in", {Op::kIn, 4}},        {"contains", {Op::kContains, 4}},
          {"and", {Op::kAnd, 3}},     {"or", {Op::kOr, 2}},        {"xor", {Op::kXor, 2}},
          {"implies", {Op::kImplies, 1}}};
      for (const auto& [s, info] : kWords) {
        if (t.text == s) return info;
      }
    }
    return std::nullopt;
  }

  std::unique_ptr<Node> ParseExpr(int min_prec) {
    auto left = ParseUnary();
    while (true) {
      auto info = PeekBinary();
      if (!info || info->precedence < min_prec) return left;
      Token op = Next();
      if (info->op == Op::kIs || info->op == Op::kAs) {
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::kTypeOp;
        n->op = info->op;
        n->pos = op.pos;
        ParseTypeSpecifier(*n);
        n->args.push_back(std::move(left));
        left = std::move(n);
        continue;
      }
      auto right = ParseExpr(info->precedence + 1);  // left-associative
      auto n = std::make_unique<Node>();
      n->kind = NodeKind::kBinary;
      n->op = info->op;
      n->pos = op.pos;
      n->args.push_back(std::move(left));
      n->args.push_back(std::move(right));
      left = std::move(n);
    }
  }

  void ParseTypeSpecifier(Node& n) {
    Token a = Next();
    if (a.kind != Tok::kIdent) throw SyntaxError{"Expected a type name", a.pos};
    if (IsPunct(".") && Peek(1).kind == Tok::kIdent) {
      Next();
      n.type_ns = a.text;
      n.name = Next().text;
    } else {
      n.name = a.text;
    }
    if (!KnownType(n.type_ns, n.name)) throw SyntaxError{"Unknown type " + n.name, a.pos};
  }

  std::unique_ptr<Node> ParseUnary() {
    if (IsPunct("-") || IsPunct("+")) {
      Token op = Next();
      auto operand = ParseUnary();
      if (op.text == "+") return operand;
      auto n = std::make_unique<Node>();
      n->kind = NodeKind::kNegate;
      n->pos = op.pos;
      n->args.push_back(std::move(operand));
      return n;
    }
    return ParsePostfix(ParseTerm());
  }

  std::unique_ptr<Node> ParsePostfix(std::unique_ptr<Node> left) {
    while (true) {
      if (IsPunct(".")) {
        Next();
        left = ParseInvocation(std::move(left));
      } else if (IsPunct("[")) {
        size_t pos = Next().pos;
        auto index = ParseExpr(0);
        Expect("]");
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::kIndexer;
        n->pos = pos;
        n->args.push_back(std::move(left));
        n->args.push_back(std::move(index));
        left = std::move(n);
      } else {
        return left;
      }
    }
  }

  // name or name(args) applied to `target` (null: the focus).
  std::unique_ptr<Node> ParseInvocation(std::unique_ptr<Node> target) {
    Token name = Next();
    auto n = std::make_unique<Node>();
    n->pos = name.pos;
    if (name.kind == Tok::kSpecial && !target) {
      n->kind = name.text == "this" ? NodeKind::kThis
                : name.text == "index" ? NodeKind::kIndex : NodeKind::kTotal;
      return n;
    }
    if (name.kind != Tok::kIdent) {
      throw SyntaxError{name.kind == Tok::kEnd ? "Unexpected end of expression"
                                               : "Expected a name but found '" + name.text + "'",
                        name.pos};
    }
    n->name = name.text;
    n->target = std::move(target);
    if (!IsPunct("(") || name.delimited) {
      n->kind = NodeKind::kMember;
      return n;
    }
    Next();
    n->kind = NodeKind::kFunction;
    if (!IsPunct(")")) {
      while (true) {
        n->args.push_back(ParseExpr(0));
        if (IsPunct(",")) {
          Next();
          continue;
        }
        break;
      }
    }
    Expect(")");
    bool arity_error = false;
    n->function = LookupFunction(n->name, n->args.size(), arity_error);
    if (n->function < 0) {
      throw SyntaxError{arity_error ? "Wrong number of arguments for " + n->name + "()"
                                    : "Unknown function " + n->name + "()",
                        name.pos};
    }
    if (TakesTypeArgument(n->function)) {
      // The argument is a type specifier, not an expression to evaluate.
      const Node* a = n->args[0].get();
      if (a->kind == NodeKind::kMember && !a->target) {
        n->name.clear();
        n->type_ns.clear();
        n->literal.text = a->name;
      } else if (a->kind == NodeKind::kMember && a->target && a->target->kind == NodeKind::kMember &&
                 !a->target->target) {
        n->literal.text = a->name;
        n->type_ns = a->target->name;
      } else {
        throw SyntaxError{"Expected a type name as the argument of " + name.text + "()", a->pos};
      }
      n->name = name.text;
      if (!KnownType(n->type_ns, n->literal.text)) {
        throw SyntaxError{"Unknown type " + n->literal.text, a->pos};
      }
    }
    return n;
  }

  std::unique_ptr<Node> Literal(Item v, size_t pos) {
    auto n = std::make_unique<Node>();
    n->kind = NodeKind::kLiteral;
    n->literal = std::move(v);
    n->pos = pos;
    return n;
  }

  std::unique_ptr<Node> ParseTerm() {
    const Token& t = Peek();
    switch (t.kind) {
      case Tok::kEnd:
        throw SyntaxError{"Unexpected end of expression", t.pos};
      case Tok::kString: {
        Token s = Next();
        return Literal(Item::String(s.text), s.pos);
      }
      case Tok::kNumber: {
        Token num = Next();
        Item v;
        if (num.text.find('.') == std::string::npos) {
          errno = 0;
          long long i = std::strtoll(num.text.c_str(), nullptr, 10);
          if (errno == ERANGE) throw SyntaxError{"Integer literal out of range", num.pos};
          v = Item::Integer(i);
        } else {
          v = Item::Dec(*ParseDecimal(num.text));
        }
        // A quantity: number followed by a unit string or a calendar duration keyword.
        if (Peek().kind == Tok::kString) {
          Token unit = Next();
          Decimal d = v.kind == ValueKind::kInteger ? Decimal{double(v.integer), 0} : v.decimal;
          return Literal(Item::Quantity(d, unit.text), num.pos);
        }
        if (Peek().kind == Tok::kIdent && !Peek().delimited && IsCalendarWord(Peek().text)) {
          Token unit = Next();
          Decimal d = v.kind == ValueKind::kInteger ? Decimal{double(v.integer), 0} : v.decimal;
          return Literal(Item::Quantity(d, unit.text), num.pos);
        }
        return Literal(std::move(v), num.pos);
      }
      case Tok::kDateTime: {
        Token d = Next();
        Item v;
        bool has_time = d.text.find('T') != std::string::npos;
        auto parsed = has_time ? ParseDateTime(d.text) : ParseDate(d.text);
        if (!parsed) throw SyntaxError{"Bad date/time literal @" + d.text, d.pos};
        v.kind = has_time ? ValueKind::kDateTime : ValueKind::kDate;
        v.temporal = *parsed;
        v.text = d.text;
        if (has_time && v.text.back() == 'T') v.text.pop_back();
        return Literal(std::move(v), d.pos);
      }
      case Tok::kTime: {
        Token d = Next();
        Item v;
        auto parsed = ParseTime(d.text.substr(1));
        if (!parsed) throw SyntaxError{"Bad time literal @" + d.text, d.pos};
        v.kind = ValueKind::kTime;
        v.temporal = *parsed;
        v.text = d.text.substr(1);
        return Literal(std::move(v), d.pos);
      }
      case Tok::kConstant: {
        Token c = Next();
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::kVariable;
        n->name = c.text;
        n->pos = c.pos;
        return n;
      }
      case Tok::kSpecial:
        return ParseInvocation(nullptr);
      case Tok::kIdent:
        if (!t.delimited && (t.text == "true" || t.text == "false")) {
          Token b = Next();
          return Literal(Item::Boolean(b.text == "true"), b.pos);
        }
        return ParseInvocation(nullptr);
      case Tok::kPunct:
        if (t.text == "(") {
          Next();
          auto n = ParseExpr(0);
          Expect(")");
          return n;
        }
        if (t.text == "{") {
          size_t pos = Next().pos;
          Expect("}");
          auto n = std::make_unique<Node>();
          n->kind = NodeKind::kEmpty;
          n->pos = pos;
          return n;
        }
        throw SyntaxError{"Unexpected '" + t.text + "'", t.pos};
    }
    throw SyntaxError{"Unexpected token", t.pos};
  }

  std::vector<Token> t_;
  size_t p_ = 0;
};

}  // namespace
}  // namespace internal

Result<Expression> Compile(std::string_view text) {
  try {
    internal::Lexer lexer(text);
    internal::Parser parser(lexer.Run());
    Expression e;
    e.text_ = std::string(text);
    e.root_ = parser.ParseAll();
    return e;
  } catch (const internal::SyntaxError& err) {
    return Status::Invalid("FHIRPath syntax error: " + err.message + " at position " +
                           std::to_string(err.pos));
  } catch (const internal::EvalError& err) {
    return Status::Invalid("FHIRPath syntax error: " + err.message);
  }
}

}  // namespace kiln::fhirpath
