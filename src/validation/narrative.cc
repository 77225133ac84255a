// Narrative safety check: a single-pass, depth-bounded XML scanner that never builds a tree.
//
// Policy (documented here because the header only states the contract):
//
// * Elements are the R4 txt-1 list (the XPath in StructureDefinition-Narrative, which spells out
//   HTML 4.0 chapters 7-11 and 15 minus chapter 9.4 ins/del): a abbr acronym b big blockquote br
//   caption cite code col colgroup dd dfn div dl dt em h1-h6 hr i img li ol p pre q samp small span
//   strong sub sup table tbody td tfoot th thead tr tt ul var, plus address, bdo and kbd, which the
//   reference (Java) validator also accepts and which are inert text markup. map/area (image maps,
//   chapter 13, carrying their own href) and the chapter-15 presentational elements the R4 XPath
//   leaves out (font, center, u, s, strike) are refused. Names are case-sensitive, as in XML.
// * Attributes are the R4 txt-1 list (abbr accesskey align alt axis bgcolor border cellhalign
//   cellpadding cellspacing cellvalign char charoff charset cite class colspan compact coords dir
//   frame headers height href hreflang hspace id lang longdesc name nowrap rel rev rowspan rules
//   scope shape span src start style summary tabindex title type valign value vspace width), plus
//   xml:lang and xml:space, plus xmlns only with the XHTML namespace (required on the root). Other
//   namespace declarations and prefixes (xlink, svg, ...) are refused.
// * URL attributes (href, src, cite, longdesc) may hold relative references, fragments, http and
//   https; href also ftp, mailto and tel; img src also data: with image/png|gif|jpeg|webp. The
//   scheme is read after entity decoding with whitespace and control characters dropped and case
//   folded, so "jav&#x09;ascript:" and " JAVASCRIPT:" are caught. A colon before any '/', '?' or
//   '#' always means a scheme (RFC 3986 forbids it in a relative path's first segment), so
//   anything not recognised is refused rather than guessed at.
// * style attributes must not contain CSS escapes or comments (both can hide keywords), nor
//   expression(, javascript:, vbscript:, behavior:, -moz-binding or @import (matched with
//   whitespace removed and case folded), nor a url() whose target is not relative, http(s) or a
//   data: raster image. Layout itself (position, sizes, colours) is left alone, as R4 allows it.
// * Well-formedness: UTF-8 XML 1.0 characters only; elements, quoted attributes (no duplicates),
//   text, comments, the five predefined entities and numeric character references. HTML named
//   entities (&nbsp; ...) are undeclared in XML and none appears in the R4 examples, so they are
//   errors. DOCTYPE/ENTITY declarations, processing instructions and CDATA sections are refused:
//   no entity expansion (XXE and billion-laughs are impossible by construction) and nothing that an
//   HTML parser reads differently (an HTML parser ends "<![CDATA[" at the first '>' and "<!-->" at
//   once, turning inert XML text into live markup, so such comments are refused too).
// * Cost is linear in the input with no per-character allocation; nesting is limited to kMaxDepth
//   and the issues reported per narrative to kMaxIssues, so hostile input cannot amplify.
#include "validation/narrative.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/strings.h"

namespace kiln::validation {
namespace {

constexpr std::string_view kXhtmlNamespace = "http://www.w3.org/1999/xhtml";
// Far above the deepest official example (17) and far below anything that costs memory.
constexpr size_t kMaxDepth = 100;
// Enough to show an author what is wrong; hostile input cannot turn into a huge OperationOutcome.
constexpr size_t kMaxIssues = 25;

// Lookups compare lengths first (most candidates differ there), so the tables are kept in
// shortlex order; they are written alphabetically below and sorted at compile time.
// Compared inline: names are a few bytes long, where a call to memcmp costs more than the loop.
constexpr bool ShortLex(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return a.size() < b.size();
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
  }
  return false;
}

template <size_t N>
constexpr std::array<std::string_view, N> ShortLexSorted(std::array<std::string_view, N> names) {
  std::sort(names.begin(), names.end(), ShortLex);
  return names;
}

constexpr auto kAllowedElements = ShortLexSorted(std::to_array<std::string_view>({
    "a",       "abbr",  "acronym", "address", "b",        "bdo",   "big",   "blockquote", "br",
    "caption", "cite",  "code",    "col",     "colgroup", "dd",    "dfn",   "div",        "dl",
    "dt",      "em",    "h1",      "h2",      "h3",       "h4",    "h5",    "h6",         "hr",
    "i",       "img",   "kbd",     "li",      "ol",       "p",     "pre",   "q",          "samp",
    "small",   "span",  "strong",  "sub",     "sup",      "table", "tbody", "td",         "tfoot",
    "th",      "thead", "tr",      "tt",      "ul",       "var",
}));

constexpr auto kAllowedAttributes = ShortLexSorted(std::to_array<std::string_view>({
    "abbr",       "accesskey",   "align",       "alt",        "axis",   "bgcolor", "border",
    "cellhalign", "cellpadding", "cellspacing", "cellvalign", "char",   "charoff", "charset",
    "cite",       "class",       "colspan",     "compact",    "coords", "dir",     "frame",
    "headers",    "height",      "href",        "hreflang",   "hspace", "id",      "lang",
    "longdesc",   "name",        "nowrap",      "rel",        "rev",    "rowspan", "rules",
    "scope",      "shape",       "span",        "src",        "start",  "style",   "summary",
    "tabindex",   "title",       "type",        "valign",     "value",  "vspace",  "width",
    "xml:lang",   "xml:space",
}));

// Only used to explain a refusal: everything outside kAllowedElements is refused anyway.
constexpr auto kActiveElements = ShortLexSorted(std::to_array<std::string_view>({
    "applet", "audio", "base",      "basefont", "body",    "button",   "canvas",   "embed",
    "form",   "frame", "frameset",  "head",     "html",    "iframe",   "input",    "isindex",
    "keygen", "link",  "math",      "meta",     "noembed", "noframes", "noscript", "object",
    "option", "param", "plaintext", "portal",   "script",  "select",   "slot",     "source",
    "style",  "svg",   "template",  "textarea", "title",   "track",    "video",    "xmp",
}));

template <size_t N>
bool Contains(const std::array<std::string_view, N>& sorted, std::string_view name) {
  return std::binary_search(sorted.begin(), sorted.end(), name, ShortLex);
}

// SWAR helpers: test eight bytes at once so long runs of plain text, base64 and CSS cost about a
// cycle per eight bytes instead of one per byte.
constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighBits = 0x8080808080808080ULL;

uint64_t Load8(const char* p) {
  uint64_t word;
  std::memcpy(&word, p, sizeof word);
  return word;
}

// Non-zero when some byte of `word` equals `byte` (exact: no false positives or negatives).
uint64_t HasByte(uint64_t word, unsigned char byte) {
  const uint64_t v = word ^ (kOnes * byte);
  return (v - kOnes) & ~v & kHighBits;
}

constexpr uint64_t kLow7Bits = 0x7F7F7F7F7F7F7F7FULL;

// 0x80 in exactly the bytes of `word` that are zero (no borrows between bytes).
uint64_t ZeroBytes(uint64_t word) { return ~(((word & kLow7Bits) + kLow7Bits) | word | kLow7Bits); }

// Non-zero when some byte of `word` is not ASCII or is a control character other than tab, line
// feed and carriage return, i.e. when the bytes need a closer look.
uint64_t NeedsCloserLook(uint64_t word) {
  const uint64_t below_space = ~((word & kLow7Bits) + kOnes * 0x60) & kHighBits;
  const uint64_t whitespace = ZeroBytes(word ^ (kOnes * '\t')) | ZeroBytes(word ^ (kOnes * '\n')) |
                              ZeroBytes(word ^ (kOnes * '\r'));
  return (word & kHighBits) | (below_space & ~whitespace);
}

bool IsXmlSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// ASCII subset of XML NameStartChar/NameChar; bytes >= 0x80 are accepted as name characters so a
// non-ASCII name is read whole and then refused by the allowlist rather than misparsed.
bool IsNameStart(char c) {
  return IsAsciiAlpha(c) || c == '_' || c == ':' || static_cast<unsigned char>(c) >= 0x80;
}
bool IsNameChar(char c) { return IsNameStart(c) || IsAsciiDigit(c) || c == '-' || c == '.'; }

bool IsXmlChar(uint32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}


// Decodes the UTF-8 sequence starting at text[pos] into `cp` and advances `pos`; false when the
// bytes are not shortest-form UTF-8.
bool DecodeUtf8(std::string_view text, size_t& pos, uint32_t& cp) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  size_t length;
  uint32_t min;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, min = 0x80, cp = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, min = 0x800, cp = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, min = 0x10000, cp = lead & 0x07;
  } else {
    return false;
  }
  if (text.size() - pos < length) return false;
  for (size_t i = 1; i < length; ++i) {
    const unsigned char next = byte(pos + i);
    if ((next & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (next & 0x3F);
  }
  // Overlong forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8 (RFC 3629).
  if (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
  pos += length;
  return true;
}

enum class UrlKind { kRelative, kScheme, kMalformed };

// Reads the scheme of `url` the way the most lenient consumer would: ASCII whitespace and control
// characters anywhere before the colon are dropped (browsers strip tabs and newlines everywhere
// and leading controls), letters are folded to lower case.
UrlKind ReadScheme(std::string_view url, std::string& scheme) {
  scheme.clear();
  bool colon = false;
  for (const char ch : url) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == ':') {
      colon = true;
      break;
    }
    if (ch == '/' || ch == '?' || ch == '#') return UrlKind::kRelative;
    if (c <= 0x20 || c == 0x7F) continue;
    scheme.push_back(AsciiLower(ch));
  }
  if (!colon) return UrlKind::kRelative;
  if (scheme.empty() || !IsAsciiAlpha(scheme[0])) return UrlKind::kMalformed;
  for (const char c : scheme) {
    if (!IsAsciiAlpha(c) && !IsAsciiDigit(c) && c != '+' && c != '-' && c != '.') {
      return UrlKind::kMalformed;
    }
  }
  return UrlKind::kScheme;
}

// True when the data: URL `url` (scheme already known to be "data") declares a raster image type
// that browsers only ever decode as pixels; SVG can carry script and is refused.
bool IsDataImage(std::string_view url) {
  size_t i = url.find(':') + 1;
  std::string mime;
  for (; i < url.size() && url[i] != ';' && url[i] != ','; ++i) {
    const auto c = static_cast<unsigned char>(url[i]);
    if (c > 0x20 && c != 0x7F) mime.push_back(AsciiLower(url[i]));
  }
  return mime == "image/png" || mime == "image/gif" || mime == "image/jpeg" || mime == "image/webp";
}

enum class UrlUse { kLink, kImage, kCitation, kCss };

// Why the URL is refused for `use` (a noun phrase), or "" when it is safe. `scheme` is scratch.
std::string UrlProblem(std::string_view url, UrlUse use, std::string& scheme) {
  switch (ReadScheme(url, scheme)) {
    case UrlKind::kRelative:
      return {};
    case UrlKind::kMalformed:
      return "a URL with a malformed or obfuscated scheme";
    case UrlKind::kScheme:
      break;
  }
  if (scheme == "http" || scheme == "https") return {};
  if (use == UrlUse::kLink && (scheme == "mailto" || scheme == "tel" || scheme == "ftp")) return {};
  if (scheme == "data" && (use == UrlUse::kImage || use == UrlUse::kCss)) {
    if (IsDataImage(url)) return {};
    return "a data: URL that is not a PNG, GIF, JPEG or WebP image";
  }
  return "a URL with the scheme '" + scheme + "', which is not allowed here";
}

std::string Label(std::string_view element, std::string_view attribute) {
  return "attribute '" + std::string(attribute) + "' on '" + std::string(element) + "'";
}

class Checker {
 public:
  Checker(std::string_view xhtml, const std::string& expression, std::vector<Issue>& out)
      : in_(xhtml), expression_(expression), out_(out) {}

  void Run() {
    if (!CheckCharacters()) return;
    SkipSpace();
    if (pos_ == in_.size()) {
      Malformed("the narrative is empty; expected a <div> element");
      return;
    }
    if (!ParseRootMarkup()) return;
    while (!stopped_ && !open_.empty()) {
      if (in_.size() == pos_) {
        Malformed("element '" + std::string(open_.back()) + "' is not closed");
        return;
      }
      if (in_[pos_] == '<') {
        if (!ParseMarkup()) return;
      } else if (!ParseText()) {
        return;
      }
    }
    if (stopped_) return;
    SkipSpace();
    if (StartsWith("<!--")) {
      Malformed("comments are only allowed inside the root element");
      return;
    }
    if (pos_ < in_.size()) {
      Malformed(in_[pos_] == '<' ? "more than one root element; the narrative must be one <div>"
                                 : "text after the root element");
      return;
    }
    if (!has_content_) {
      // "invariant", not "invalid": an empty narrative breaks txt-2 but is harmless, and the REST
      // layer's warn-only mode lets it through while it still refuses unsafe markup.
      Add("invariant",
          "Narrative: the narrative has no non-whitespace content (txt-2: it needs text or an "
          "image)");
    }
  }

 private:
  // --- issues ---

  void Add(const char* code, std::string diagnostics) {
    if (stopped_) return;
    if (added_ == kMaxIssues) {
      out_.push_back(
          {Severity::kError, "too-costly",
           "Narrative: more than " + std::to_string(kMaxIssues) + " problems; checking stopped",
           expression_});
      stopped_ = true;
      return;
    }
    ++added_;
    out_.push_back({Severity::kError, code, std::move(diagnostics), expression_});
  }

  // A problem that does not stop the scan (txt-1, txt-2, safety).
  void Problem(const std::string& what, size_t at = std::string::npos) {
    Add("invalid", "Narrative: " + what + Where(at));
  }

  // The input is not well-formed XML: reported once, then the scan stops. Returns false so
  // callers can `return Malformed(...)`.
  bool Malformed(const std::string& what, size_t at = std::string::npos) {
    Add("structure", "Narrative is not well-formed XHTML: " + what + Where(at));
    stopped_ = true;
    return false;
  }

  std::string Where(size_t at) const {
    return " (at offset " + std::to_string(at == std::string::npos ? pos_ : at) + ")";
  }

  // --- characters ---

  // One pass over the raw bytes: only XML 1.0 characters in valid UTF-8. Later stages can then
  // treat every byte >= 0x80 as part of a valid character.
  bool CheckCharacters() {
    const size_t n = in_.size();
    size_t i = 0;
    while (i < n) {
      if (n - i >= 8) {
        if (!NeedsCloserLook(Load8(in_.data() + i))) {
          i += 8;
          continue;
        }
        for (const size_t end = i + 8; i < end;) {
          if (!CheckCharacter(i)) return false;
        }
      } else if (!CheckCharacter(i)) {
        return false;
      }
    }
    return true;
  }

  // Checks the character starting at in_[i] and steps over it.
  bool CheckCharacter(size_t& i) {
    const auto c = static_cast<unsigned char>(in_[i]);
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
        return Malformed("control character " + std::to_string(c) + " is not allowed in XML", i);
      }
      ++i;
      return true;
    }
    const size_t at = i;
    uint32_t cp;
    if (!DecodeUtf8(in_, i, cp)) return Malformed("invalid UTF-8", at);
    if (!IsXmlChar(cp)) return Malformed("character not allowed in XML", at);
    return true;
  }

  bool SkipSpace() {
    const size_t start = pos_;
    while (pos_ < in_.size() && IsXmlSpace(in_[pos_])) ++pos_;
    return pos_ != start;
  }

  // The first position from pos_ on holding `a`, `b` or `c`, or the end of the input.
  size_t Find3(char a, char b, char c) const {
    size_t i = pos_;
    const size_t n = in_.size();
    while (n - i >= 8) {
      const uint64_t word = Load8(in_.data() + i);
      if (HasByte(word, a) | HasByte(word, b) | HasByte(word, c)) break;
      i += 8;
    }
    while (i < n && in_[i] != a && in_[i] != b && in_[i] != c) ++i;
    return i;
  }

  bool StartsWith(std::string_view s) const { return in_.substr(pos_, s.size()) == s; }

  std::string_view ParseName() {
    const size_t start = pos_;
    if (pos_ < in_.size() && IsNameStart(in_[pos_])) {
      ++pos_;
      while (pos_ < in_.size() && IsNameChar(in_[pos_])) ++pos_;
    }
    return in_.substr(start, pos_ - start);
  }

  // At '&': decodes one entity or character reference into `cp`.
  bool ParseReference(uint32_t& cp) {
    const size_t at = pos_;
    ++pos_;
    if (pos_ < in_.size() && in_[pos_] == '#') {
      ++pos_;
      const bool hex = pos_ < in_.size() && in_[pos_] == 'x';
      if (hex) ++pos_;
      cp = 0;
      size_t digits = 0;
      for (; pos_ < in_.size() && in_[pos_] != ';'; ++pos_, ++digits) {
        const char c = in_[pos_];
        uint32_t d;
        if (IsAsciiDigit(c)) {
          d = c - '0';
        } else if (hex && AsciiLower(c) >= 'a' && AsciiLower(c) <= 'f') {
          d = AsciiLower(c) - 'a' + 10;
        } else {
          return Malformed("malformed character reference", at);
        }
        cp = cp * (hex ? 16 : 10) + d;
        if (cp > 0x10FFFF) return Malformed("character reference out of range", at);
      }
      if (pos_ == in_.size() || digits == 0) return Malformed("malformed character reference", at);
      ++pos_;
      if (!IsXmlChar(cp)) {
        return Malformed("character reference to a character not allowed in XML", at);
      }
      return true;
    }
    const std::string_view name = ParseName();
    if (name.empty() || pos_ == in_.size() || in_[pos_] != ';') {
      return Malformed("'&' must start an entity or character reference (write &amp;)", at);
    }
    ++pos_;
    if (name == "amp") {
      cp = '&';
    } else if (name == "lt") {
      cp = '<';
    } else if (name == "gt") {
      cp = '>';
    } else if (name == "quot") {
      cp = '"';
    } else if (name == "apos") {
      cp = '\'';
    } else {
      return Malformed("undefined entity '&" + std::string(name) +
                           ";' (XML defines only amp, lt, gt, quot and apos; use the character "
                           "itself or a numeric reference such as &#160;)",
                       at);
    }
    return true;
  }

  // --- content ---

  bool ParseText() {
    while (pos_ < in_.size()) {
      // Once content has been seen only '<', '&' and ']]>' matter: skip to them in bulk.
      if (has_content_) pos_ = Find3('<', '&', '>');
      if (pos_ == in_.size()) break;
      const char c = in_[pos_];
      if (c == '<') break;
      if (c == '&') {
        uint32_t cp;
        if (!ParseReference(cp)) return false;
        if (cp > 0x20) has_content_ = true;
        continue;
      }
      if (c == '>' && pos_ >= 2 && in_[pos_ - 1] == ']' && in_[pos_ - 2] == ']') {
        return Malformed("']]>' is not allowed in text");
      }
      if (!has_content_ && !IsXmlSpace(c)) has_content_ = true;
      ++pos_;
    }
    return true;
  }

  // Before the root only whitespace is allowed: the value is one <div>, nothing else.
  bool ParseRootMarkup() {
    if (in_[pos_] != '<') return Malformed("text before the root element");
    if (StartsWith("<!") || StartsWith("<?")) return ParseMarkup();
    return ParseStartTag();
  }

  // At '<' inside the root.
  bool ParseMarkup() {
    const char next = pos_ + 1 < in_.size() ? in_[pos_ + 1] : '\0';
    if (next == '/') return ParseEndTag();
    if (next == '?') return Malformed("processing instructions are not allowed");
    if (next != '!') return ParseStartTag();
    if (StartsWith("<!--")) return ParseComment();
    if (StartsWith("<![CDATA[")) {
      return Malformed("CDATA sections are not allowed (HTML parsers read them differently)");
    }
    return Malformed("DOCTYPE and other declarations are not allowed (no DTDs, no entities)");
  }

  bool ParseComment() {
    const size_t at = pos_;
    pos_ += 4;
    const size_t dashes = in_.find("--", pos_);
    if (dashes == std::string_view::npos) return Malformed("comment is not closed", at);
    if (dashes + 2 >= in_.size() || in_[dashes + 2] != '>') {
      return Malformed("'--' is not allowed inside a comment", dashes);
    }
    const std::string_view body = in_.substr(pos_, dashes - pos_);
    if (body.starts_with(">") || body.starts_with("->")) {
      // HTML ends "<!-->" and "<!--->" right there; what XML treats as comment text would become
      // live markup in a browser.
      return Malformed("a comment must not start with '>' or '->'", at);
    }
    if (open_.empty()) return Malformed("comments are only allowed inside the root element", at);
    pos_ = dashes + 3;
    return true;
  }

  bool ParseEndTag() {
    const size_t at = pos_;
    pos_ += 2;
    const std::string_view name = ParseName();
    if (name.empty()) return Malformed("malformed end tag", at);
    SkipSpace();
    if (pos_ == in_.size() || in_[pos_] != '>') return Malformed("malformed end tag", at);
    ++pos_;
    if (open_.empty() || open_.back() != name) {
      return Malformed("end tag '</" + std::string(name) + ">' does not match " +
                           (open_.empty() ? std::string("any open element")
                                          : "'<" + std::string(open_.back()) + ">'"),
                       at);
    }
    open_.pop_back();
    return true;
  }

  bool ParseStartTag() {
    const size_t at = pos_;
    ++pos_;
    const std::string_view element = ParseName();
    if (element.empty()) return Malformed("'<' must start a tag (write &lt; in text)", at);
    const bool root = !seen_root_;
    seen_root_ = true;
    if (root && element != "div") {
      Problem("the root element must be 'div', not '" + std::string(element) + "'", at);
    }
    CheckElement(element, at);

    bool xhtml_namespace = false;
    attribute_names_.clear();
    while (true) {
      const bool spaced = SkipSpace();
      if (pos_ == in_.size()) {
        return Malformed("tag '<" + std::string(element) + "' is not closed", at);
      }
      if (in_[pos_] == '>' || StartsWith("/>")) break;
      if (!spaced) return Malformed("expected whitespace, '>' or '/>' in a tag");
      const size_t attribute_at = pos_;
      const std::string_view name = ParseName();
      if (name.empty()) return Malformed("expected an attribute name");
      SkipSpace();
      if (pos_ == in_.size() || in_[pos_] != '=') {
        return Malformed("attribute '" + std::string(name) + "' has no value");
      }
      ++pos_;
      SkipSpace();
      std::string_view value;
      if (!ParseAttributeValue(name, value)) return false;
      if (std::find(attribute_names_.begin(), attribute_names_.end(), name) !=
          attribute_names_.end()) {
        return Malformed("duplicate attribute '" + std::string(name) + "'", attribute_at);
      }
      attribute_names_.push_back(name);
      if (name == "xmlns") {
        if (value == kXhtmlNamespace) {
          xhtml_namespace = true;
        } else {
          Problem("the namespace must be '" + std::string(kXhtmlNamespace) + "', not '" +
                      std::string(value) + "'",
                  attribute_at);
        }
      } else {
        CheckAttribute(element, name, value, attribute_at);
      }
      if (stopped_) return false;
    }
    if (root && !xhtml_namespace &&
        std::find(attribute_names_.begin(), attribute_names_.end(), "xmlns") ==
            attribute_names_.end()) {
      Problem("the root div must declare xmlns=\"" + std::string(kXhtmlNamespace) + "\"", at);
    }
    if (in_[pos_] == '/') {
      pos_ += 2;
      return !stopped_;
    }
    ++pos_;
    if (open_.size() == kMaxDepth) {
      Add("too-costly", "Narrative: elements are nested more than " + std::to_string(kMaxDepth) +
                            " levels deep" + Where(at));
      stopped_ = true;
      return false;
    }
    open_.push_back(element);
    return !stopped_;
  }

  // At the opening quote. `value` views the input when it holds no references, else value_.
  bool ParseAttributeValue(std::string_view name, std::string_view& value) {
    if (pos_ == in_.size() || (in_[pos_] != '"' && in_[pos_] != '\'')) {
      return Malformed("the value of attribute '" + std::string(name) + "' must be quoted");
    }
    const char quote = in_[pos_];
    const size_t start = ++pos_;
    bool decoded = false;
    while (true) {
      const size_t run = pos_;
      pos_ = Find3(quote, '<', '&');
      if (decoded) value_.append(in_.substr(run, pos_ - run));
      if (pos_ == in_.size()) {
        return Malformed("the value of attribute '" + std::string(name) + "' is not closed", start);
      }
      const char c = in_[pos_];
      if (c == quote) break;
      if (c == '<') return Malformed("'<' is not allowed in an attribute value");
      if (!decoded) value_.assign(in_.substr(start, pos_ - start));
      decoded = true;
      uint32_t cp;
      if (!ParseReference(cp)) return false;
      core::AppendUtf8(value_, cp);
    }
    value = decoded ? std::string_view(value_) : in_.substr(start, pos_ - start);
    ++pos_;
    return true;
  }

  // --- policy ---

  void CheckElement(std::string_view element, size_t at) {
    if (Contains(kAllowedElements, element)) return;
    const size_t colon = element.rfind(':');
    const std::string_view local =
        colon == std::string_view::npos ? element : element.substr(colon + 1);
    lower_.assign(local);
    for (char& c : lower_) c = AsciiLower(c);
    std::string what = "element '" + std::string(element) + "' is not allowed";
    if (Contains(kActiveElements, lower_)) {
      what +=
          ": scripts, styles, forms, frames, objects, document metadata and SVG/MathML are "
          "refused";
    } else if (colon != std::string_view::npos) {
      what += ": only XHTML elements without a namespace prefix may be used";
    } else {
      what += " (txt-1: only the basic HTML formatting elements)";
    }
    Problem(what, at);
  }

  void CheckAttribute(std::string_view element, std::string_view name, std::string_view value,
                      size_t at) {
    if (name.size() >= 2 && AsciiLower(name[0]) == 'o' && AsciiLower(name[1]) == 'n') {
      Problem(Label(element, name) + " is not allowed: event handlers are refused", at);
      return;
    }
    if (!Contains(kAllowedAttributes, name)) {
      if (name.starts_with("xmlns:")) {
        Problem(Label(element, name) + " is not allowed: only the XHTML namespace may be declared",
                at);
      } else if (name.find(':') != std::string_view::npos) {
        Problem(Label(element, name) + " is not allowed: namespaced attributes are refused", at);
      } else {
        Problem(Label(element, name) + " is not allowed (txt-1)", at);
      }
      return;
    }
    if (name == "href") {
      CheckUrl(element, name, value, UrlUse::kLink, at);
    } else if (name == "src") {
      CheckUrl(element, name, value, element == "img" ? UrlUse::kImage : UrlUse::kCitation, at);
      if (element == "img") has_content_ = true;
    } else if (name == "cite" || name == "longdesc") {
      CheckUrl(element, name, value, UrlUse::kCitation, at);
    } else if (name == "style") {
      CheckStyle(element, name, value, at);
    }
  }

  void CheckUrl(std::string_view element, std::string_view name, std::string_view url, UrlUse use,
                size_t at) {
    const std::string problem = UrlProblem(url, use, scheme_);
    if (!problem.empty()) Problem(Label(element, name) + " holds " + problem, at);
  }

  // Style attributes may format, never fetch code: see the policy at the top of this file.
  void CheckStyle(std::string_view element, std::string_view name, std::string_view css,
                  size_t at) {
    const auto refuse = [&](const std::string& why) {
      Problem(Label(element, name) + " is not allowed: " + why, at);
    };
    lower_.clear();
    for (size_t i = 0; i < css.size(); ++i) {
      const char c = css[i];
      if (c == '\\') {
        refuse("CSS escapes are refused (they can hide keywords)");
        return;
      }
      if (c == '/' && i + 1 < css.size() && css[i + 1] == '*') {
        refuse("CSS comments are refused (they can hide keywords)");
        return;
      }
      const auto u = static_cast<unsigned char>(c);
      if (u > 0x20 && u != 0x7F) lower_.push_back(AsciiLower(c));
    }
    // One pass over the folded text; each keyword is looked for where its first letter is.
    static constexpr std::string_view kForbidden[] = {
        "expression(", "javascript:", "vbscript:", "behavior:", "-moz-binding", "@import"};
    const std::string_view folded = lower_;
    for (size_t i = 0; i < folded.size(); ++i) {
      const char c = folded[i];
      if (c != 'e' && c != 'j' && c != 'v' && c != 'b' && c != '-' && c != '@' && c != 'u') {
        continue;
      }
      const std::string_view rest = folded.substr(i);
      for (const std::string_view bad : kForbidden) {
        if (bad[0] == c && rest.starts_with(bad)) {
          refuse("CSS containing '" + std::string(bad) + "' can run code");
          return;
        }
      }
      if (c == 'u' && rest.starts_with("url(")) {
        // Every url(...) target must be harmless.
        size_t end = rest.find(')');
        if (end == std::string_view::npos) end = rest.size();
        std::string_view target = rest.substr(4, end - 4);
        if (!target.empty() && (target.front() == '"' || target.front() == '\'')) {
          target.remove_prefix(1);
        }
        const std::string problem = UrlProblem(target, UrlUse::kCss, scheme_);
        if (!problem.empty()) {
          refuse("its CSS url() holds " + problem);
          return;
        }
      }
    }
  }

  std::string_view in_;
  const std::string& expression_;
  std::vector<Issue>& out_;
  size_t pos_ = 0;
  size_t added_ = 0;
  bool stopped_ = false;
  bool seen_root_ = false;
  bool has_content_ = false;
  std::vector<std::string_view> open_;             // names of the open elements, root first
  std::vector<std::string_view> attribute_names_;  // of the tag being read, for duplicates
  std::string value_;                              // decoded attribute value, reused
  std::string lower_;                              // scratch: case-folded element name or CSS
  std::string scheme_;                             // scratch: the scheme of the URL being read
};

}  // namespace

void CheckNarrative(std::string_view xhtml, const std::string& expression,
                    std::vector<Issue>& out) {
  Checker(xhtml, expression, out).Run();
}

}  // namespace kiln::validation
