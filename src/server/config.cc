#include "server/config.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "auth/http_fetch.h"
#include "core/log.h"
#include "core/strings.h"
#include "rest/tenancy.h"

namespace kiln::server {
namespace {

using Setter = std::function<Status(Config&, const std::string& value, const std::string& from)>;

struct Setting {
  const char* name;  // flag --name, env KILN_NAME (upper case, '-' -> '_'), file key name
  const char* arg;   // placeholder in --help; "" for boolean switches
  const char* help;
  Setter set;
};

Status Bad(const std::string& from, const std::string& what) {
  return Status::Invalid("Invalid configuration: " + from + ": " + what);
}

Setter Int(int Config::*field, int64_t lo, int64_t hi) {
  return [=](Config& c, const std::string& v, const std::string& from) -> Status {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi)
      return Bad(from, "'" + v + "' is not an integer between " + std::to_string(lo) + " and " +
                           std::to_string(hi));
    c.*field = static_cast<int>(n);
    return Status::Ok();
  };
}

// Sizes accept a plain byte count or a K/M/G suffix (powers of 1024).
Setter Size(int64_t Config::*field, int64_t lo, int64_t hi) {
  return [=](Config& c, const std::string& v, const std::string& from) -> Status {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    std::string_view rest(p, static_cast<size_t>(v.data() + v.size() - p));
    int64_t mult = 1;
    if (rest == "K" || rest == "k" || rest == "KiB")
      mult = 1024;
    else if (rest == "M" || rest == "m" || rest == "MiB")
      mult = 1024 * 1024;
    else if (rest == "G" || rest == "g" || rest == "GiB")
      mult = 1024LL * 1024 * 1024;
    else if (!rest.empty())
      mult = 0;
    if (ec != std::errc() || mult == 0 || n * mult < lo || n * mult > hi)
      return Bad(from, "'" + v + "' is not a size between " + std::to_string(lo) + " and " +
                           std::to_string(hi) + " bytes (suffixes K, M, G allowed)");
    c.*field = n * mult;
    return Status::Ok();
  };
}

Setter Text(std::string Config::*field) {
  return [=](Config& c, const std::string& v, const std::string&) -> Status {
    c.*field = v;
    return Status::Ok();
  };
}

// An absolute http(s) URL, kept as given.
Setter Url(std::string Config::*field) {
  return [=](Config& c, const std::string& v, const std::string& from) -> Status {
    if (v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0)
      return Bad(from, "'" + v + "' must be an absolute http:// or https:// URL");
    c.*field = v;
    return Status::Ok();
  };
}

// The first line of a file (a secret kept out of flags and the environment).
Setter SecretFile(std::string Config::*field) {
  return [=](Config& c, const std::string& v, const std::string& from) -> Status {
    std::ifstream in(v);
    if (!in) return Bad(from, "cannot read the file '" + v + "'");
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) return Bad(from, "the file '" + v + "' is empty");
    c.*field = line;
    return Status::Ok();
  };
}

Setter Bool(bool Config::*field) {
  return [=](Config& c, const std::string& v, const std::string& from) -> Status {
    std::string l = core::ToLowerAscii(v);
    if (l == "true" || l == "1" || l == "yes" || l == "on") {
      c.*field = true;
    } else if (l == "false" || l == "0" || l == "no" || l == "off") {
      c.*field = false;
    } else {
      return Bad(from, "'" + v + "' is not a boolean (true/false)");
    }
    return Status::Ok();
  };
}

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> kSettings = {
      {"host", "ADDR",
       "IP address to listen on (default 127.0.0.1). A non-loopback address needs --auth smart "
       "(or --allow-unauthenticated-remote).",
       [](Config& c, const std::string& v, const std::string& from) -> Status {
         std::string h = v == "localhost" ? "127.0.0.1" : v;
         unsigned char buf[16];
         if (inet_pton(AF_INET, h.c_str(), buf) != 1 && inet_pton(AF_INET6, h.c_str(), buf) != 1)
           return Bad(from, "'" + v + "' is not an IPv4 or IPv6 address");
         c.host = h;
         return Status::Ok();
       }},
      {"port", "N", "TCP port (default 8080; 0 picks a free port and prints it).",
       Int(&Config::port, 0, 65535)},
      {"data", "DIR", "Data directory for the SQLite database (default ./kiln-data).",
       [](Config& c, const std::string& v, const std::string& from) -> Status {
         if (v.empty()) return Bad(from, "the data directory must not be empty");
         c.data_dir = v;
         return Status::Ok();
       }},
      {"base-url", "URL",
       "Public URL of the FHIR base used in links and Location headers (default "
       "http://<host>:<port>/fhir).",
       [](Config& c, const std::string& v, const std::string& from) -> Status {
         if (v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0)
           return Bad(from, "'" + v + "' must be an absolute http:// or https:// URL");
         c.base_url = v;
         while (!c.base_url.empty() && c.base_url.back() == '/') c.base_url.pop_back();
         return Status::Ok();
       }},
      {"threads", "N", "HTTP I/O threads (default: one per core).", Int(&Config::threads, 0, 256)},
      {"workers", "N", "Worker threads for long requests such as history (default: one per core).",
       Int(&Config::workers, 0, 256)},
      {"max-body", "SIZE", "Largest request body accepted, larger ones get 413 (default 16M).",
       Size(&Config::max_body_bytes, 1024, 1LL << 32)},
      {"max-header", "SIZE", "Largest request header block, larger ones get 431 (default 16K).",
       Size(&Config::max_header_bytes, 1024, 1 << 20)},
      {"read-timeout-ms", "MS",
       "Time a client has to send a whole request, headers and body (default 10000).",
       Int(&Config::read_timeout_ms, 50, 3600000)},
      {"idle-timeout-ms", "MS", "Keep-alive connections idle this long are closed (default 60000).",
       Int(&Config::idle_timeout_ms, 50, 3600000)},
      {"write-timeout-ms", "MS",
       "A response must be taken by the client within this, or the connection is closed "
       "(default 30000).",
       Int(&Config::write_timeout_ms, 50, 3600000)},
      {"shutdown-grace-ms", "MS",
       "On SIGINT/SIGTERM, how long in-flight requests may take to finish (default 10000).",
       Int(&Config::shutdown_grace_ms, 0, 600000)},
      {"max-connections", "N", "Open connections beyond this are refused (default 10000).",
       Int(&Config::max_connections, 1, 1000000)},
      {"log-level", "LEVEL", "debug, info, warn, error or off (default info).",
       [](Config& c, const std::string& v, const std::string& from) -> Status {
         core::LogLevel l;
         if (!core::ParseLogLevel(v, l))
           return Bad(from, "'" + v + "' is not one of debug, info, warn, error, off");
         c.log_level = v;
         return Status::Ok();
       }},
      {"access-log", "BOOL", "One log line per request (default true).", Bool(&Config::access_log)},
      {"audit-log", "PATH",
       "Audit log: one hash-chained JSON line per FHIR request (who, what, when, from where, "
       "outcome; docs/audit.md) appended to PATH, or to standard output with '-'. Default: off.",
       [](Config& c, const std::string& v, const std::string& from) -> Status {
         if (v.empty()) return Bad(from, "the audit log path must not be empty");
         c.audit_log = v;
         return Status::Ok();
       }},
      {"audit-log-max-size", "SIZE",
       "Rotate the audit log once it reaches this size (default 100M; 0: never). The full file "
       "is renamed PATH.<UTC time> and the chain goes on in a new PATH.",
       Size(&Config::audit_log_max_bytes, 0, 1LL << 40)},
      {"audit-log-keep", "N",
       "Rotated audit log files to keep; older ones are deleted (default 0: keep them all).",
       Int(&Config::audit_log_keep, 0, 100000)},
      {"sync", "MODE",
       "SQLite durability: full (default; an acknowledged write survives power loss) or normal "
       "(survives a crash of Kiln, not of the machine).",
       [](Config& c, const std::string& v, const std::string& from) -> Status {
         if (v != "full" && v != "normal") return Bad(from, "'" + v + "' is not full or normal");
         c.sync = v;
         return Status::Ok();
       }},
      {"validation", "MODE",
       "enforce (default): writes that break the R4 rules get 400 with every problem listed. "
       "warn-only: store them anyway and report the problems as warnings (for migrations of "
       "imperfect data). off: no validation (benchmarks only; unsafe narratives get stored).",
       [](Config& c, const std::string& v, const std::string& from) -> Status {
         if (v != "enforce" && v != "warn-only" && v != "off")
           return Bad(from, "'" + v + "' is not enforce, warn-only or off");
         c.validation = v;
         return Status::Ok();
       }},
      {"validate-narrative", "BOOL",
       "Check that narratives (text.div) are well-formed, safe XHTML (default true).",
       Bool(&Config::validate_narrative)},
      {"default-count", "N", "Page size of history bundles when _count is absent (default 20).",
       Int(&Config::default_count, 1, 10000)},
      {"max-count", "N", "Largest page size; larger _count values are capped (default 1000).",
       Int(&Config::max_count, 1, 100000)},
      {"conditional-delete-max", "N",
       "Most resources one conditional delete (DELETE [type]?criteria) may delete; more matches "
       "are a 412. 1 (the default) allows single deletes only.",
       Int(&Config::conditional_delete_max, 1, 100000)},
      {"max-includes", "N",
       "Most resources _include/_revinclude add to one search page (default 1000); a page that "
       "reaches it says so in an OperationOutcome entry.",
       Int(&Config::max_includes, 0, 100000)},
      {"max-bundle-entries", "N",
       "Most entries of a batch or transaction Bundle (POST [base]); larger Bundles get 413 "
       "(default 10000).",
       Int(&Config::max_bundle_entries, 1, 10000000)},
      {"reindex", "",
       "Rebuild the search index rows of every resource in the background after start-up, "
       "while serving (normally only done when the index rules changed; see "
       "docs/operations.md).",
       Bool(&Config::reindex)},
      {"store-cache-mib", "N",
       "Page cache of the store's writer connection in MiB, used as needed (default 32; each "
       "reader connection keeps 32). More keeps more of a large store's indexes in memory "
       "for writes.",
       Int(&Config::store_cache_mib, 1, 1048576)},
      {"reindex-batch", "N",
       "Resources per search index rebuild batch; each batch is one write (default 500).",
       Int(&Config::reindex_batch, 1, 100000)},
      {"reindex-pause-ms", "MS",
       "Pause between search index rebuild batches, to leave more of the disk to clients "
       "(default 0).",
       Int(&Config::reindex_pause_ms, 0, 60000)},
      {"allow-unauthenticated-remote", "",
       "Allow listening on a non-loopback address with --auth none (anyone who can reach it can "
       "read and change all data).",
       Bool(&Config::allow_unauthenticated_remote)},
      {"auth", "MODE",
       "none (default: no authentication; loopback only), smart (SMART on FHIR: every FHIR "
       "request needs a bearer JWT from --auth-issuer, its scopes say what it may do) or groups "
       "(the same tokens, but what they may do comes from their groups and --auth-rules; see "
       "docs/security.md).",
       [](Config& c, const std::string& v, const std::string& from) -> Status {
         if (v != "none" && v != "smart" && v != "groups")
           return Bad(from, "'" + v + "' is not none, smart or groups");
         c.auth = v;
         return Status::Ok();
       }},
      {"auth-issuer", "URL",
       "The authorization server's issuer (tokens' iss must equal it); its discovery document "
       "is read from URL/.well-known/openid-configuration (or smart-configuration).",
       Url(&Config::auth_issuer)},
      {"auth-jwks-uri", "URL",
       "Where the issuer's signing keys (JWKS) are (default: jwks_uri of its discovery "
       "document).",
       Url(&Config::auth_jwks_uri)},
      {"auth-audience", "URL", "The audience tokens must name in aud (default: the FHIR base URL).",
       Text(&Config::auth_audience)},
      {"auth-clock-skew", "SECONDS",
       "Tolerance for the tokens' exp, nbf and iat against this server's clock (default 60).",
       Int(&Config::auth_clock_skew, 0, 3600)},
      {"auth-jwks-refetch-interval", "SECONDS",
       "A token signed with an unknown key id makes Kiln refetch the JWKS at most once per this "
       "many seconds (default 30).",
       Int(&Config::auth_jwks_refetch_interval, 1, 86400)},
      {"auth-fetch-timeout-ms", "MS",
       "Time limit of each request to the issuer (discovery, JWKS) (default 5000).",
       Int(&Config::auth_fetch_timeout_ms, 100, 60000)},
      {"auth-scope-claim", "NAME", "Token claim with the granted scopes (default scope).",
       Text(&Config::auth_scope_claim)},
      {"auth-patient-claim", "NAME", "Token claim with the patient in context (default patient).",
       Text(&Config::auth_patient_claim)},
      {"auth-fhiruser-claim", "NAME",
       "Token claim with the user's FHIR resource (default fhirUser).",
       Text(&Config::auth_fhiruser_claim)},
      {"auth-tenant-claim", "NAME", "Token claim with the tenant (default: none).",
       Text(&Config::auth_tenant_claim)},
      {"auth-groups-claim", "NAME",
       "Token claim with the user's groups (default: none; with --auth groups, cognito:groups).",
       Text(&Config::auth_groups_claim)},
      {"auth-rules", "FILE",
       "--auth groups: the rules file (JSON) saying what each group may do (default: FHIR Works' "
       "rules, docs/auth-groups-rules.json).",
       Text(&Config::auth_rules_file)},
      {"auth-user-rules", "FILE",
       "--auth smart: the user-context rules file (JSON) saying what user/ scopes grant by the "
       "kind of fhirUser (default: docs/auth-user-rules.json).",
       Text(&Config::auth_user_rules_file)},
      {"auth-introspection-url", "URL",
       "RFC 7662 token introspection endpoint: opaque (non-JWT) bearer tokens are checked there "
       "(default: none; see docs/security.md). Must be https, or http on a loopback address.",
       Url(&Config::auth_introspection_url)},
      {"auth-introspection-client-id", "ID",
       "Client id Kiln authenticates as (HTTP Basic) at the introspection endpoint.",
       Text(&Config::auth_introspection_client_id)},
      {"auth-introspection-client-secret", "SECRET",
       "Client secret for the introspection endpoint. Prefer the environment variable or "
       "--auth-introspection-client-secret-file: a flag is visible in the process list.",
       Text(&Config::auth_introspection_client_secret)},
      {"auth-introspection-client-secret-file", "FILE",
       "A file holding the introspection client secret (one line; a trailing newline is "
       "ignored).",
       SecretFile(&Config::auth_introspection_client_secret)},
      {"auth-introspection-cache-seconds", "SECONDS",
       "How long an introspection answer is reused, at most (never past the token's exp; 0: "
       "never) (default 60).",
       Int(&Config::auth_introspection_cache_seconds, 0, 3600)},
      {"auth-introspect-jwts", "",
       "Introspect every bearer token, JWTs included, instead of verifying JWTs with the "
       "issuer's keys (needs --auth-introspection-url).",
       Bool(&Config::auth_introspect_jwts)},
      {"smart-authorize-url", "URL",
       "authorization_endpoint advertised in .well-known/smart-configuration (default: the "
       "issuer's).",
       Url(&Config::smart_authorize_url)},
      {"smart-token-url", "URL",
       "token_endpoint advertised in .well-known/smart-configuration (default: the issuer's).",
       Url(&Config::smart_token_url)},
      {"smart-capabilities", "LIST",
       "SMART capabilities advertised in .well-known/smart-configuration, comma-separated, as "
       "your authorization server supports them (e.g. launch-ehr,context-ehr-patient); default: "
       "launch-standalone, client-public, client-confidential-symmetric and -asymmetric, "
       "sso-openid-connect, permission-patient, -user, -v1, -v2.",
       [](Config& c, const std::string& v, const std::string& from) -> Status {
         static const std::set<std::string, std::less<>> kKnown = {"launch-ehr",
                                                                   "launch-standalone",
                                                                   "authorize-post",
                                                                   "client-public",
                                                                   "client-confidential-symmetric",
                                                                   "client-confidential-asymmetric",
                                                                   "sso-openid-connect",
                                                                   "context-banner",
                                                                   "context-style",
                                                                   "context-passthrough-banner",
                                                                   "context-passthrough-style",
                                                                   "context-ehr-patient",
                                                                   "context-ehr-encounter",
                                                                   "context-standalone-patient",
                                                                   "context-standalone-encounter",
                                                                   "permission-offline",
                                                                   "permission-online",
                                                                   "permission-patient",
                                                                   "permission-user",
                                                                   "permission-v1",
                                                                   "permission-v2"};
         std::vector<std::string> list;
         std::string_view rest = v;
         while (!rest.empty()) {
           size_t comma = rest.find(',');
           std::string_view item = core::TrimSpaces(rest.substr(0, comma));
           if (!kKnown.contains(item))
             return Bad(from, "'" + std::string(item) + "' is not a SMART App Launch capability");
           list.emplace_back(item);
           if (comma == std::string_view::npos) break;
           rest.remove_prefix(comma + 1);
         }
         if (list.empty()) return Bad(from, "the capability list is empty");
         c.smart_capabilities = std::move(list);
         return Status::Ok();
       }},
      {"api-keys-file", "FILE",
       "A file of API keys, one per line: every FHIR request (but metadata and "
       ".well-known/smart-configuration) must then carry one in an x-api-key header, besides "
       "its bearer token (default: none).",
       Text(&Config::api_keys_file)},
      {"cursor-key-file", "PATH",
       "File holding the key (64 hex digits) that seals paging links, so they survive restarts "
       "and work on every server that shares it (default: cursor.key in the data directory, "
       "created with a random key when missing; a file named here must exist).",
       Text(&Config::cursor_key_file)},
      {"tenancy", "MODE",
       "Multi-tenancy (docs/tenants.md): off (default: one tenant), url (every FHIR request "
       "goes to [base]/tenant/{id}/...), claim (the tenant is the token's --auth-tenant-claim) "
       "or url+claim (both, and they must agree).",
       [](Config& c, const std::string& v, const std::string& from) -> Status {
         if (v != "off" && v != "url" && v != "claim" && v != "url+claim")
           return Bad(from, "'" + v + "' is not off, url, claim or url+claim");
         c.tenancy = v;
         return Status::Ok();
       }},
      {"tenants", "LIST",
       "The tenants served, comma-separated (e.g. a,b); any other tenant is unknown (404 in "
       "the URL, 403 in a token). Default: any valid tenant id.",
       [](Config& c, const std::string& v, const std::string& from) -> Status {
         std::vector<std::string> tenants;
         std::string_view rest = v;
         while (!rest.empty()) {
           size_t comma = rest.find(',');
           std::string id(core::TrimSpaces(rest.substr(0, comma)));
           rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
           if (id.empty()) continue;
           if (!rest::IsValidTenantId(id))
             return Bad(from, "'" + id +
                                  "' is not a tenant id (1-64 characters of A-Z, a-z, 0-9, '-' "
                                  "and '.', not '.' or '..')");
           tenants.push_back(std::move(id));
         }
         if (tenants.empty()) return Bad(from, "no tenant given");
         c.tenants = std::move(tenants);
         return Status::Ok();
       }},
      {"config", "FILE",
       "Config file of 'name = value' lines using the flag names (e.g. port = 8080); '#' starts "
       "a comment.",
       Text(&Config::config_file)},
  };
  return kSettings;
}

const Setting* Find(std::string_view name) {
  for (const Setting& s : Settings())
    if (name == s.name) return &s;
  return nullptr;
}

std::string EnvName(std::string_view name) {
  std::string env = "KILN_";
  for (char c : name) env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
  return env;
}

bool IsLoopback(const std::string& host) { return host.rfind("127.", 0) == 0 || host == "::1"; }

Status LoadFile(Config& c, const std::string& path) {
  std::ifstream in(path);
  if (!in) return Bad("--config " + path, "cannot read the file");
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::string_view l = core::TrimSpaces(line);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.empty()) continue;
    std::string where = path + ":" + std::to_string(line_no);
    size_t eq = l.find('=');
    if (eq == std::string_view::npos) return Bad(where, "expected 'name = value'");
    std::string name(core::TrimSpaces(l.substr(0, eq)));
    std::string value(core::TrimSpaces(l.substr(eq + 1)));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    const Setting* s = Find(name);
    if (!s || name == "config") return Bad(where, "unknown setting '" + name + "'");
    if (Status st = s->set(c, value, where + " (" + name + ")"); !st.ok()) return st;
  }
  return Status::Ok();
}

}  // namespace

Result<Config> LoadConfig(const std::vector<std::string>& args, bool& help) {
  help = false;
  // Flags first parsed into (setting, value) pairs so they can be applied last.
  std::vector<std::pair<const Setting*, std::string>> flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      help = true;
      continue;
    }
    if (a.rfind("--", 0) != 0)
      return Status::Invalid("Invalid configuration: unexpected argument '" + a +
                             "' (see kiln serve --help)");
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    const Setting* s = Find(name);
    if (!s)
      return Status::Invalid("Invalid configuration: unknown flag --" + name +
                             " (see kiln serve --help)");
    if (!has_value) {
      if (*s->arg == '\0') {
        value = "true";  // a switch
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return Status::Invalid("Invalid configuration: --" + name + " needs a value (" + s->arg +
                               ")");
      }
    }
    flags.emplace_back(s, value);
  }
  if (help) return Config{};

  Config c;
  // The config file: --config wins over KILN_CONFIG.
  std::string file;
  if (const char* e = std::getenv("KILN_CONFIG")) file = e;
  for (const auto& [s, v] : flags)
    if (std::string_view(s->name) == "config") file = v;
  if (!file.empty()) {
    if (Status st = LoadFile(c, file); !st.ok()) return st;
    c.config_file = file;
  }
  for (const Setting& s : Settings()) {
    if (std::string_view(s.name) == "config") continue;
    std::string env = EnvName(s.name);
    if (const char* v = std::getenv(env.c_str())) {
      if (Status st = s.set(c, v, env); !st.ok()) return st;
    }
  }
  for (const auto& [s, v] : flags) {
    if (std::string_view(s->name) == "config") continue;
    if (Status st = s->set(c, v, std::string("--") + s->name); !st.ok()) return st;
  }

  if (c.auth == "groups" && c.auth_issuer.empty())
    return Status::Invalid(
        "Invalid configuration: --auth groups needs --auth-issuer (the authorization server's "
        "issuer URL)");
  if (c.auth == "smart" && c.auth_issuer.empty() && c.auth_introspection_url.empty())
    return Status::Invalid(
        "Invalid configuration: --auth smart needs --auth-issuer (the authorization server's "
        "issuer URL) or --auth-introspection-url (its token introspection endpoint)");
  if (c.auth == "groups" && c.auth_groups_claim.empty()) c.auth_groups_claim = "cognito:groups";
  if (!c.auth_rules_file.empty() && c.auth != "groups")
    return Status::Invalid(
        "Invalid configuration: --auth-rules applies to --auth groups only (with --auth smart, "
        "SMART scopes say what a token may do)");
  if (!c.auth_user_rules_file.empty() && c.auth != "smart")
    return Status::Invalid("Invalid configuration: --auth-user-rules applies to --auth smart only");
  if (!c.auth_introspection_url.empty() && !auth::IsFetchableUrl(c.auth_introspection_url))
    return Status::Invalid("Invalid configuration: --auth-introspection-url " +
                           c.auth_introspection_url +
                           ": must be an https URL (or http on a loopback address)");
  if (c.auth_introspect_jwts && c.auth_introspection_url.empty())
    return Status::Invalid(
        "Invalid configuration: --auth-introspect-jwts needs --auth-introspection-url");
  if (!c.auth_introspection_client_secret.empty() && c.auth_introspection_client_id.empty())
    return Status::Invalid(
        "Invalid configuration: --auth-introspection-client-secret needs "
        "--auth-introspection-client-id");
  if (c.auth == "none" && !IsLoopback(c.host) && !c.allow_unauthenticated_remote)
    return Status::Invalid(
        "Invalid configuration: --host " + c.host +
        ": with no authentication (--auth none) Kiln only listens on loopback addresses. Use "
        "--auth smart, or pass --allow-unauthenticated-remote "
        "(KILN_ALLOW_UNAUTHENTICATED_REMOTE=true) to acknowledge that anyone who can reach this "
        "address can read and change all data.");
  if ((c.tenancy == "claim" || c.tenancy == "url+claim") &&
      (c.auth == "none" || c.auth_tenant_claim.empty()))
    return Status::Invalid("Invalid configuration: --tenancy " + c.tenancy +
                           " takes the tenant from the token: it needs --auth smart and "
                           "--auth-tenant-claim (the claim's name, e.g. custom:tenantId)");
  if (c.tenancy == "off" && !c.tenants.empty())
    return Status::Invalid(
        "Invalid configuration: --tenants needs --tenancy url, claim or url+claim (with "
        "--tenancy off there is one tenant)");
  if (c.default_count > c.max_count)
    return Status::Invalid("Invalid configuration: --default-count " +
                           std::to_string(c.default_count) + " is larger than --max-count " +
                           std::to_string(c.max_count));
  return c;
}

std::string ConfigHelp() {
  std::ostringstream out;
  out << "Usage: kiln serve [flags]\n\n"
         "Serves the FHIR R4 REST API over HTTP with an embedded SQLite database.\n"
         "Each flag can also be set with a KILN_* environment variable (e.g. --max-body is\n"
         "KILN_MAX_BODY) or a line in the config file; flags win over the environment, which\n"
         "wins over the file.\n\nFlags:\n";
  for (const Setting& s : Settings()) {
    std::string left = std::string("  --") + s.name + (*s.arg ? std::string(" ") + s.arg : "");
    out << left << "\n      " << s.help << "\n      env: " << EnvName(s.name) << "\n";
  }
  return out.str();
}

std::string EffectiveBaseUrl(const Config& c, int bound_port) {
  if (!c.base_url.empty()) return c.base_url;
  std::string host = c.host.find(':') != std::string::npos ? "[" + c.host + "]" : c.host;
  return "http://" + host + ":" + std::to_string(bound_port) + "/fhir";
}

}  // namespace kiln::server
