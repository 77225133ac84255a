// Kiln's settings: defaults, an optional config file, KILN_* environment variables and
// command-line flags, in that order of precedence (a flag wins over everything).
//
// Every setting is described once, in the table in config.cc, which also produces `--help`.
// Loading checks every value and fails with a message that names the setting and what is wrong.
// Value types; not synchronised.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::server {

struct Config {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string data_dir = "./kiln-data";
  std::string base_url;  // empty: http://<host>:<port>/fhir
  int threads = 0;       // HTTP I/O threads; 0: one per core
  int workers = 0;       // worker threads for long requests; 0: one per core
  int64_t max_body_bytes = 16 * 1024 * 1024;
  int64_t max_header_bytes = 16 * 1024;
  int read_timeout_ms = 10000;
  int idle_timeout_ms = 60000;
  int write_timeout_ms = 30000;
  int shutdown_grace_ms = 10000;
  int max_connections = 10000;
  std::string log_level = "info";
  bool access_log = true;
  std::string audit_log;                            // path, "-" (stdout) or empty (off)
  int64_t audit_log_max_bytes = 100 * 1024 * 1024;  // rotate at this size; 0: never
  int audit_log_keep = 0;                           // rotated files kept; 0: all
  std::string sync = "full";           // SQLite synchronous mode: full (durable) or normal
  int store_cache_mib = 32;            // the SQLite writer's page cache (readers: 32 MiB each)
  std::string validation = "enforce";  // enforce, warn-only or off
  bool validate_narrative = true;
  int default_count = 20;
  int max_count = 1000;
  int conditional_delete_max = 1;
  int max_includes = 1000;
  int max_bundle_entries = 10000;
  bool allow_unauthenticated_remote = false;
  // Authentication (docs/security.md).
  std::string auth = "none";            // none, smart or groups
  std::string auth_issuer;              // smart: the authorization server's issuer URL
  std::string auth_jwks_uri;            // empty: from the issuer's discovery document
  std::string auth_audience;            // empty: the FHIR base URL
  int auth_clock_skew = 60;             // seconds of tolerance for exp, nbf, iat
  int auth_jwks_refetch_interval = 30;  // seconds between JWKS refetches on unknown kids
  int auth_fetch_timeout_ms = 5000;     // discovery and JWKS requests
  std::string auth_scope_claim = "scope";
  std::string auth_patient_claim = "patient";
  std::string auth_fhiruser_claim = "fhirUser";
  std::string auth_tenant_claim;
  std::string auth_groups_claim;
  // Rules files (docs/security.md), empty for the built-in rules: what groups may do
  // (--auth groups; "cognito:groups" is then the default groups claim), and what user/ scopes
  // grant by the kind of fhirUser (--auth smart).
  std::string auth_rules_file;
  std::string auth_user_rules_file;
  std::string smart_authorize_url;  // empty: the issuer's authorization_endpoint
  std::string smart_token_url;      // empty: the issuer's token_endpoint
  // SMART capabilities advertised in .well-known/smart-configuration; empty: Kiln's default list
  std::vector<std::string> smart_capabilities;
  std::string api_keys_file;  // x-api-key values every request must carry; empty: none
  std::string cursor_key_file;  // paging cursor key; empty: <data>/cursor.key, created if missing
  // Multi-tenancy (docs/tenants.md): where the tenant comes from (off, url, claim, url+claim),
  // and the tenants served (empty: any valid tenant id).
  std::string tenancy = "off";
  std::vector<std::string> tenants;
  bool reindex = false;      // rebuild every search index row in the background at start-up
  int reindex_batch = 500;   // resources per rebuild batch (one write each)
  int reindex_pause_ms = 0;  // pause between rebuild batches
  std::string config_file;

  // RFC 7662 introspection of opaque tokens (docs/security.md); empty URL: none.
  std::string auth_introspection_url;
  std::string auth_introspection_client_id;
  std::string auth_introspection_client_secret;  // or from --auth-introspection-client-secret-file
  int auth_introspection_cache_seconds = 60;     // bound on caching an answer (never past exp)
  bool auth_introspect_jwts = false;             // introspect JWTs too instead of verifying them
};

// Builds the configuration from `args` (the arguments after `kiln serve`), the environment and
// the config file named by --config / KILN_CONFIG. Returns kInvalid with a message naming the
// offending setting. `help` is set when --help was asked for.
Result<Config> LoadConfig(const std::vector<std::string>& args, bool& help);

// The text of `kiln serve --help`, generated from the settings table.
std::string ConfigHelp();

// The FHIR base URL for a config whose port is known.
std::string EffectiveBaseUrl(const Config& config, int bound_port);

}  // namespace kiln::server
