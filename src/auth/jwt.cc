#include "auth/jwt.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>

#include "auth/base64url.h"
#include "auth/json_strict.h"
#include "auth/scopes.h"

namespace kiln::auth {
namespace {

Result<boost::json::object> JsonObjectPart(std::string_view part, const char* what) {
  auto bytes = DecodeBase64Url(part);
  if (!bytes) return Unauthenticated(std::string("The token's ") + what + " is not base64url");
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*bytes, ec);
  if (ec || !v.is_object())
    return Unauthenticated(std::string("The token's ") + what + " is not a JSON object");
  if (HasDuplicateMembers(*bytes))
    return Unauthenticated(std::string("The token's ") + what + " repeats a member name");
  return std::move(v.as_object());
}

// A NumericDate claim (RFC 7519 section 2): seconds since the epoch, integer or not.
enum class DateClaim { kAbsent, kBad, kOk };
DateClaim ReadDate(const boost::json::object& o, const char* name, int64_t& out) {
  const boost::json::value* v = o.if_contains(name);
  if (v == nullptr) return DateClaim::kAbsent;
  if (v->is_int64()) {
    out = v->as_int64();
  } else if (v->is_uint64()) {
    if (v->as_uint64() > static_cast<uint64_t>(INT64_MAX / 2)) return DateClaim::kBad;
    out = static_cast<int64_t>(v->as_uint64());
  } else if (v->is_double()) {
    double d = v->as_double();
    if (!std::isfinite(d) || d < -1e15 || d > 1e15) return DateClaim::kBad;
    out = static_cast<int64_t>(std::floor(d));
  } else {
    return DateClaim::kBad;
  }
  if (out < 0 || out > 253402300799) return DateClaim::kBad;  // after year 9999: nonsense
  return DateClaim::kOk;
}

std::string StringClaim(const boost::json::object& o, std::string_view name) {
  if (name.empty()) return {};
  const boost::json::value* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

bool IsFhirId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return false;
  return true;
}

std::string FhirUserPatient(std::string_view fhir_user) {
  // "Patient/123" or "https://host/fhir/Patient/123": the last two segments.
  size_t slash = fhir_user.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return {};
  std::string_view id = fhir_user.substr(slash + 1);
  std::string_view rest = fhir_user.substr(0, slash);
  size_t before = rest.rfind('/');
  std::string_view type = before == std::string_view::npos ? rest : rest.substr(before + 1);
  if (type != "Patient" || !IsFhirId(id)) return {};
  return std::string(id);
}

Status Unauthenticated(std::string description) {
  return Status(ErrorCode::kUnauthenticated, "login", std::move(description));
}

Result<DecodedJwt> DecodeJwt(std::string_view token) {
  if (token.empty()) return Unauthenticated("The bearer token is empty");
  if (token.size() > kMaxTokenBytes)
    return Unauthenticated("The bearer token is longer than " + std::to_string(kMaxTokenBytes) +
                           " bytes");
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return Unauthenticated("The bearer token is not a JWT (compact JWS with three parts)");
  DecodedJwt jwt;
  auto header = JsonObjectPart(token.substr(0, d1), "header");
  if (!header.ok()) return header.take_status();
  jwt.header = std::move(header).value();

  const boost::json::value* alg = jwt.header.if_contains("alg");
  if (alg == nullptr || !alg->is_string()) return Unauthenticated("The token header has no 'alg'");
  auto algorithm = AlgorithmFromName(std::string_view(alg->as_string()));
  if (!algorithm)
    return Unauthenticated("The token's algorithm '" + std::string(alg->as_string()) +
                           "' is not accepted (RS256, RS384, RS512, PS256, ES256, ES384)");
  jwt.alg = *algorithm;
  const boost::json::value* kid = jwt.header.if_contains("kid");
  if (kid == nullptr || !kid->is_string() || kid->as_string().empty())
    return Unauthenticated("The token header has no 'kid'");
  jwt.kid = std::string(kid->as_string());
  if (jwt.header.contains("crit"))
    return Unauthenticated(
        "The token header lists critical extensions ('crit') Kiln does not "
        "understand");
  if (const boost::json::value* typ = jwt.header.if_contains("typ")) {
    std::string t = typ->is_string() ? std::string(typ->as_string()) : std::string("?");
    for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (t != "jwt" && t != "at+jwt" && t != "application/at+jwt")
      return Unauthenticated("The token's type (typ) is not JWT or at+jwt");
  }
  auto payload = JsonObjectPart(token.substr(d1 + 1, d2 - d1 - 1), "payload");
  if (!payload.ok()) return payload.take_status();
  jwt.payload = std::move(payload).value();
  auto sig = DecodeBase64Url(token.substr(d2 + 1));
  if (!sig || sig->empty()) return Unauthenticated("The token's signature is not base64url");
  jwt.signature = std::move(*sig);
  jwt.signing_input = token.substr(0, d2);
  return jwt;
}

Status CheckClaims(const boost::json::object& payload, const ClaimRules& rules,
                   int64_t now_seconds) {
  const boost::json::value* iss = payload.if_contains("iss");
  if (iss == nullptr || !iss->is_string() || iss->as_string() != rules.issuer)
    return Unauthenticated("The token was not issued by the configured issuer (iss)");

  const boost::json::value* aud = payload.if_contains("aud");
  bool aud_ok = false;
  auto accepted = [&](const boost::json::value& v) {
    if (!v.is_string()) return false;
    for (const std::string& a : rules.audiences)
      if (v.as_string() == a) return true;
    return false;
  };
  if (aud != nullptr && aud->is_string()) {
    aud_ok = accepted(*aud);
  } else if (aud != nullptr && aud->is_array()) {
    for (const auto& a : aud->as_array()) aud_ok = aud_ok || accepted(a);
  }
  if (!aud_ok) return Unauthenticated("The token is not meant for this server (aud)");

  const int64_t skew = rules.clock_skew_seconds;
  int64_t exp = 0, nbf = 0, iat = 0;
  switch (ReadDate(payload, "exp", exp)) {
    case DateClaim::kAbsent:
      return Unauthenticated("The token has no expiry (exp)");
    case DateClaim::kBad:
      return Unauthenticated("The token's expiry (exp) is not a NumericDate");
    case DateClaim::kOk:
      if (now_seconds - skew >= exp) return Unauthenticated("The token has expired");
  }
  switch (ReadDate(payload, "nbf", nbf)) {
    case DateClaim::kAbsent:
      break;
    case DateClaim::kBad:
      return Unauthenticated("The token's nbf is not a NumericDate");
    case DateClaim::kOk:
      if (nbf > now_seconds + skew) return Unauthenticated("The token is not valid yet (nbf)");
  }
  switch (ReadDate(payload, "iat", iat)) {
    case DateClaim::kAbsent:
      break;
    case DateClaim::kBad:
      return Unauthenticated("The token's iat is not a NumericDate");
    case DateClaim::kOk:
      if (iat > now_seconds + skew)
        return Unauthenticated("The token claims to be issued in the future (iat)");
  }
  return Status::Ok();
}

Principal PrincipalFromClaims(const boost::json::object& payload, const ClaimNames& names,
                              std::vector<std::string>& invalid_scopes) {
  Principal p;
  p.authenticated = true;
  p.subject = StringClaim(payload, "sub");
  p.client_id = StringClaim(payload, "client_id");
  if (p.client_id.empty()) p.client_id = StringClaim(payload, "azp");
  p.issuer = StringClaim(payload, "iss");
  p.token_id = StringClaim(payload, "jti");
  p.patient = StringClaim(payload, names.patient);
  // The patient id ends up in searches (`_id=`, the compartment): anything but a FHIR id (a
  // comma would make `_id` an OR) is ignored, and patient/ scopes then grant nothing.
  if (!IsFhirId(p.patient)) p.patient.clear();
  p.fhir_user = StringClaim(payload, names.fhir_user);
  p.user_patient = FhirUserPatient(p.fhir_user);
  // A patient user with no launch context: its own record is the patient in context.
  if (p.patient.empty()) p.patient = p.user_patient;
  p.tenant = StringClaim(payload, names.tenant);
  // Verified already (CheckClaims): exp is present and readable, nbf absent or readable.
  ReadDate(payload, "exp", p.expires_at);
  ReadDate(payload, "nbf", p.not_before);
  // RFC 9068 uses a space-separated `scope` string; some servers send an array (`scp`).
  if (const auto* s = names.scope.empty() ? nullptr : payload.if_contains(names.scope)) {
    if (s->is_string()) {
      p.scope = std::string(s->as_string());
    } else if (s->is_array()) {
      for (const auto& one : s->as_array()) {
        // An element with a space would turn into several scopes once joined: skip it.
        if (!one.is_string() ||
            std::string_view(one.as_string()).find(' ') != std::string_view::npos)
          continue;
        if (!p.scope.empty()) p.scope += ' ';
        p.scope += std::string(one.as_string());
      }
    }
  }
  ParsedScopes parsed = ParseScopes(p.scope);
  p.grants = std::move(parsed.grants);
  invalid_scopes = std::move(parsed.invalid);
  if (!names.groups.empty()) {
    if (const auto* g = payload.if_contains(names.groups); g && g->is_array()) {
      for (const auto& one : g->as_array())
        if (one.is_string()) p.groups.emplace_back(one.as_string());
    } else if (g && g->is_string()) {
      p.groups.emplace_back(g->as_string());
    }
  }
  return p;
}

}  // namespace kiln::auth
