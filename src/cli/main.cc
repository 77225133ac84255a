// kiln: the command-line entry point. `kiln serve` runs the FHIR server until SIGINT/SIGTERM;
// `kiln import` loads files into a stopped server's store (src/importer).
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "audit/verify.h"
#include "core/log.h"
#include "fhirpath/fhirpath.h"
#include "importer/importer.h"
#include "importer/progress.h"
#include "importer/source.h"
#include "rest/tenancy.h"
#include "server/app.h"
#include "server/config.h"
#include "server/reindexer.h"
#include "store/sqlite/sqlite_store.h"
#include "validation/validator.h"

namespace {

const char* kUsage =
    "Usage: kiln <command> [flags]\n\n"
    "Commands:\n"
    "  serve     Serve the FHIR R4 REST API (kiln serve --help lists the flags)\n"
    "  import FILE... [--data DIR]\n"
    "            Load NDJSON files and Bundle files into the store in DIR, validated and\n"
    "            indexed as by the REST API (offline; kiln import --help lists the flags)\n"
    "  reindex --data DIR\n"
    "            Rebuild the search index rows of every resource in the store in DIR\n"
    "            (offline: the server must be stopped; see docs/operations.md)\n"
    "  fhirpath EXPRESSION FILE.json\n"
    "            Evaluate a FHIRPath expression against a resource (FILE '-' reads stdin)\n"
    "            and print the result as typed JSON\n"
    "  audit verify FILE...\n"
    "            Check the hash chain of an audit log (rotated files oldest first, then the\n"
    "            active one; docs/audit.md)\n"
    "  version   Print the version\n"
    "  help      Print this text\n";

int Serve(const std::vector<std::string>& args) {
  bool help = false;
  auto config = kiln::server::LoadConfig(args, help);
  if (help) {
    std::fputs(kiln::server::ConfigHelp().c_str(), stdout);
    return 0;
  }
  if (!config.ok()) {
    std::fprintf(stderr, "kiln: %s\n", config.status().message().c_str());
    return 2;
  }

  // Signals are taken by one watcher thread (sigwait), never by an async handler: block them
  // here, before any other thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // With the audit log on standard output, stdout carries audit lines only.
  FILE* banner = config->audit_log == "-" ? stderr : stdout;
  kiln::server::App app(std::move(config).value());
  if (kiln::Status s = app.Start(); !s.ok()) {
    std::fprintf(stderr, "kiln: %s\n", s.message().c_str());
    return 1;
  }
  std::fprintf(banner,
               "Kiln %s, a FHIR R4 server\n  FHIR base: %s\n  Listening: %s\n"
               "  Data:      %s (SQLite)\n  Press Ctrl-C to stop.\n",
               KILN_VERSION, app.base_url().c_str(), app.listen_url().c_str(),
               app.data_path().c_str());
  std::fflush(banner);

  std::thread watcher([&app, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    kiln::core::LogInfo("stopping", {{"signal", static_cast<long long>(sig)}});
    std::thread second([signals] {
      int again = 0;
      sigwait(&signals, &again);  // a second Ctrl-C means: do not wait any longer
      _exit(130);
    });
    second.detach();
    app.Stop();
  });
  app.Wait();
  app.Stop();  // waits for the watcher's Stop() to finish closing the database
  // Wake the watcher if the server stopped for another reason.
  pthread_kill(watcher.native_handle(), SIGTERM);
  watcher.join();
  kiln::core::LogInfo("stopped", {});
  return 0;
}

const char* kReindexUsage =
    "Usage: kiln reindex --data DIR [--batch N]\n\n"
    "Rebuilds the search index rows of every current resource in the Kiln data directory DIR,\n"
    "with a progress line on stderr and a summary on stdout. The server must not be running on\n"
    "DIR (a running server rebuilds by itself in the background when needed; see\n"
    "kiln serve --reindex).\n\n"
    "  --data DIR   the data directory (as for kiln serve)\n"
    "  --batch N    resources per write (default 500)\n";

// kiln reindex --data DIR: the offline rebuild of every search index row.
int Reindex(const std::vector<std::string>& args) {
  std::string data_dir;
  int batch = 500;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::string value;
    bool has_value = false;
    if (size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
      has_value = true;
    }
    if (arg == "--help" || arg == "-h") {
      std::fputs(kReindexUsage, stdout);
      return 0;
    }
    if (arg != "--data" && arg != "--batch") {
      std::fprintf(stderr, "kiln reindex: unexpected argument '%s'\n\n%s", args[i].c_str(),
                   kReindexUsage);
      return 2;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "kiln reindex: %s needs a value\n", arg.c_str());
        return 2;
      }
      value = args[++i];
    }
    if (arg == "--data") {
      data_dir = value;
    } else {
      char* end = nullptr;
      long n = std::strtol(value.c_str(), &end, 10);  // NOLINT(google-runtime-int)
      if (value.empty() || *end != '\0' || n < 1 || n > 100000) {
        std::fprintf(stderr, "kiln reindex: --batch '%s' is not an integer between 1 and 100000\n",
                     value.c_str());
        return 2;
      }
      batch = static_cast<int>(n);
    }
  }
  if (data_dir.empty()) {
    std::fprintf(stderr, "kiln reindex: --data DIR is required\n\n%s", kReindexUsage);
    return 2;
  }
  std::error_code ec;
  if (!std::filesystem::exists(
          std::filesystem::path(data_dir) / kiln::store::sqlite::kDatabaseFileName, ec)) {
    std::fprintf(stderr, "kiln reindex: %s holds no Kiln database (%s)\n", data_dir.c_str(),
                 kiln::store::sqlite::kDatabaseFileName);
    return 1;
  }

  // Warnings (resources that cannot be indexed) and errors only: progress has its own line.
  kiln::core::SetLogLevel(kiln::core::LogLevel::kWarn);
  kiln::store::sqlite::SqliteOptions options;
  options.data_dir = data_dir;
  // A crash mid-way loses nothing that matters: the rebuild resumes or is run again.
  options.synchronous = kiln::store::sqlite::Synchronous::kNormal;
  auto store = kiln::store::sqlite::OpenSqliteStore(options);
  if (!store.ok()) {
    std::fprintf(stderr, "kiln reindex: %s\n", store.status().message().c_str());
    return 1;
  }

  const bool tty = isatty(STDERR_FILENO) != 0;
  kiln::server::ReindexOptions reindex_options;
  reindex_options.batch_size = batch;
  reindex_options.log_progress = false;
  reindex_options.progress_interval = std::chrono::milliseconds(1000);
  reindex_options.on_progress = [tty](const kiln::server::ReindexProgress& p) {
    double percent = p.total > 0 ? 100.0 * static_cast<double>(p.done) / p.total : 100.0;
    std::fprintf(stderr, "%sreindex: %lld/%lld resources (%.0f%%), %.0f resources/s%s",
                 tty ? "\r" : "", static_cast<long long>(p.done),   // NOLINT(google-runtime-int)
                 static_cast<long long>(p.total), percent, p.rate,  // NOLINT(google-runtime-int)
                 tty && p.running ? "\x1b[K" : "\n");
    std::fflush(stderr);
  };
  kiln::server::Reindexer reindexer(**store, reindex_options);
  kiln::server::ReindexPlan plan;
  plan.needed = true;
  plan.reason = "kiln reindex";
  kiln::Status status = reindexer.Run(plan);
  (*store)->Close();
  if (!status.ok()) {
    std::fprintf(stderr, "kiln reindex: failed: %s\n", status.message().c_str());
    return 1;
  }
  kiln::server::ReindexProgress p = reindexer.Progress();
  std::printf("Rebuilt the search index of %lld resources in %.1f s (%.0f resources/s)",
              static_cast<long long>(p.done), p.seconds, p.rate);  // NOLINT(google-runtime-int)
  if (p.failed > 0) {
    std::printf("; %lld could not be indexed and kept their old rows (see the warnings)",
                static_cast<long long>(p.failed));  // NOLINT(google-runtime-int)
  }
  std::printf(".\n");
  return 0;
}

const char* kImportUsage =
    "Usage: kiln import FILE... [flags]\n\n"
    "Loads resources into the Kiln data directory (--data) with the guarantees of the REST API:\n"
    "every resource is validated and indexed for search, and versioned like a write through\n"
    "HTTP. A resource with an id is stored as PUT /Type/id (created, or a new version of an\n"
    "existing one); one without an id as POST /Type (the server assigns the id).\n\n"
    "Files:\n"
    "  *.ndjson, *.jsonl   one resource per line (blank lines are skipped)\n"
    "  *.json              one JSON document: a transaction or batch Bundle runs as it would\n"
    "                      through POST [base]; the entries' resources of a collection or\n"
    "                      searchset Bundle are stored one by one; any other resource (also a\n"
    "                      document or message Bundle) is stored as it is\n"
    "  other names         NDJSON if the first line is a complete JSON object and more follows\n\n"
    "Prints progress on stderr and a summary on stdout: resources stored per type, and every\n"
    "failure with its file, line (NDJSON) or entry index (Bundle) and reason. A failure does not\n"
    "stop the import (unless --stop-on-error); the exit status is 1 if anything failed, 2 for\n"
    "bad usage. The server must not be running on the data directory.\n\n"
    "Flags:\n"
    "  --data DIR             data directory (as for kiln serve; default ./kiln-data)\n"
    "  --validation MODE      enforce (default), warn-only or off (as for kiln serve)\n"
    "  --validate-narrative BOOL\n"
    "                         check narratives are safe XHTML (default true)\n"
    "  --sync MODE            full (default) or normal (as for kiln serve)\n"
    "  --base-url URL         the FHIR base URL Bundle request urls may start with\n"
    "  --conditional-delete-max N, --log-level LEVEL, --config FILE   as for kiln serve\n"
    "  --tenant ID            the tenant to store into (default: 'default', the one tenant of\n"
    "                         --tenancy off; see docs/tenants.md)\n"
    "  --workers N            threads that parse, validate and index (default: one per core)\n"
    "  --group-writes N       most writes per store transaction (default 5000)\n"
    "  --cache-mib N          SQLite page cache of the writer, in MiB (default 512)\n"
    "  --defer-indexes MODE   auto (default), on or off: build the search value indexes once at\n"
    "                         the end instead of row by row; auto does when no file can make\n"
    "                         the import search the store (NDJSON never does; a Bundle with\n"
    "                         conditional requests or references does) and the data directory\n"
    "                         holds less than the files (docs/import.md)\n"
    "  --stop-on-error        stop at the first failure: what precedes it is stored\n"
    "  --quiet                no progress line\n";

// Size of a regular file, or an error message.
kiln::Result<int64_t> InputSize(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return kiln::Status::Invalid(path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return kiln::Status::Invalid(path + ": not a regular file");
  if (::access(path.c_str(), R_OK) != 0)
    return kiln::Status::Invalid(path + ": " + std::strerror(errno));
  return static_cast<int64_t>(st.st_size);
}

// Whether `path` is read as NDJSON (importer/source.h decides from its name or first bytes).
bool IsNdjsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(64 * 1024, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  return kiln::importer::DetectKind(path, head) == kiln::importer::FileKind::kNdjson;
}

// Whether importing `path` might search the store: a JSON file (a Bundle run as a transaction or
// batch) with conditional requests or references, or reads (importer::MaySearchStore). Read whole,
// as the import reads it.
bool MaySearchStore(const std::string& path) {
  kiln::Result<std::string> text = kiln::importer::ReadWholeFile(path);
  return text.ok() && kiln::importer::MaySearchStore(*text);
}

// Bytes of the data directory's database and its log (0 for a new directory).
int64_t StoreBytes(const std::string& data_dir) {
  int64_t total = 0;
  for (const char* suffix : {"", "-wal"}) {
    std::error_code error;
    std::filesystem::path p = std::filesystem::path(data_dir) /
                              (std::string(kiln::store::sqlite::kDatabaseFileName) + suffix);
    uintmax_t size = std::filesystem::file_size(p, error);
    if (!error) total += static_cast<int64_t>(size);
  }
  return total;
}

void PrintFailure(const kiln::importer::Failure& f) {
  // printf, not "literal" + std::string: g++ 12 warns falsely on that (-Wrestrict).
  if (f.line > 0) {
    std::printf("  %s:%lld: %s\n", f.file.c_str(), static_cast<long long>(f.line),  // NOLINT
                f.reason.c_str());
  } else if (f.entry >= 0) {
    std::printf("  %s entry %lld: %s\n", f.file.c_str(),
                static_cast<long long>(f.entry), f.reason.c_str());  // NOLINT
  } else {
    std::printf("  %s: %s\n", f.file.c_str(), f.reason.c_str());
  }
}

// kiln import FILE...: offline bulk load (src/importer).
int Import(const std::vector<std::string>& args) {
  using kiln::importer::FormatCount;
  // Import's own flags; the serve settings that apply go through LoadConfig (so the environment
  // and --config work as for serve); the others are refused.
  static const std::vector<std::string> kServeSettings = {
      "data", "sync", "validation", "validate-narrative", "base-url", "conditional-delete-max",
      "log-level", "config"};
  std::vector<std::string> files, serve_args;
  bool quiet = false, stop_on_error = false, log_level_given = false;
  int workers = 0, group_writes = 5000, cache_mib = 512;
  std::string tenant = kiln::kDefaultTenant;
  std::string defer_indexes = "auto";
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kImportUsage, stdout);
      return 0;
    }
    if (arg.rfind("--", 0) != 0) {
      files.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    if (name == "quiet" || name == "stop-on-error") {
      if (has_value) {
        std::fprintf(stderr, "kiln import: --%s takes no value\n", name.c_str());
        return 2;
      }
      (name == "quiet" ? quiet : stop_on_error) = true;
      continue;
    }
    // The flag's value, from "--name=value" or the next argument; false (reported) if none.
    auto take_value = [&]() {
      if (has_value) return true;
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "kiln import: --%s needs a value\n", name.c_str());
        return false;
      }
      value = args[++i];
      return true;
    };
    if (name == "tenant") {
      if (!take_value()) return 2;
      if (!kiln::rest::IsValidTenantId(value)) {
        std::fprintf(stderr,
                     "kiln import: --tenant '%s' is not a tenant id (1-64 characters of A-Z, "
                     "a-z, 0-9, '-' and '.', not '.' or '..')\n",
                     value.c_str());
        return 2;
      }
      tenant = value;
      continue;
    }
    if (name == "defer-indexes") {
      if (!take_value()) return 2;
      if (value != "auto" && value != "on" && value != "off") {
        std::fprintf(stderr,
                     "kiln import: --defer-indexes '%s' is not one of auto, on, off\n",
                     value.c_str());
        return 2;
      }
      defer_indexes = value;
      continue;
    }
    if (name == "workers" || name == "group-writes" || name == "cache-mib") {
      if (!take_value()) return 2;
      char* end = nullptr;
      long n = std::strtol(value.c_str(), &end, 10);  // NOLINT(google-runtime-int)
      long hi = name == "workers" ? 256 : name == "cache-mib" ? 65536 : 100000;  // NOLINT
      if (value.empty() || *end != '\0' || n < 1 || n > hi) {
        std::fprintf(stderr, "kiln import: --%s '%s' is not an integer between 1 and %ld\n",
                     name.c_str(), value.c_str(), hi);
        return 2;
      }
      (name == "workers" ? workers : name == "cache-mib" ? cache_mib : group_writes) =
          static_cast<int>(n);
      continue;
    }
    if (std::find(kServeSettings.begin(), kServeSettings.end(), name) == kServeSettings.end()) {
      std::fprintf(stderr, "kiln import: unknown flag --%s (see kiln import --help)\n",
                   name.c_str());
      return 2;
    }
    log_level_given |= name == "log-level";
    serve_args.push_back(arg);
    if (!has_value && i + 1 < args.size()) serve_args.push_back(args[++i]);
  }
  if (files.empty()) {
    std::fprintf(stderr, "kiln import: no files given\n\n%s", kImportUsage);
    return 2;
  }
  bool help = false;
  auto config = kiln::server::LoadConfig(serve_args, help);
  if (!config.ok()) {
    std::fprintf(stderr, "kiln import: %s\n", config.status().message().c_str());
    return 2;
  }
  // Every file is checked before the store is touched: a typo does not leave half an import.
  int64_t total_bytes = 0;
  std::vector<std::string> json_files;
  for (const std::string& f : files) {
    auto size = InputSize(f);
    if (!size.ok()) {
      std::fprintf(stderr, "kiln import: cannot read %s\n", size.status().message().c_str());
      return 2;
    }
    total_bytes += *size;
    if (!IsNdjsonFile(f)) json_files.push_back(f);
  }
  // Building the value indexes at the end sorts every row of the store, old ones included; row by
  // row, each new row costs a b-tree insert. Sorting wins when the import brings more than the
  // store holds. Executed Bundles may search (conditional references, ifNoneExist, GET entries),
  // which without the value indexes scans: auto leaves imports with such files alone.
  bool defer = defer_indexes == "on";
  if (defer_indexes == "auto" && StoreBytes(config->data_dir) < total_bytes) {
    defer = std::none_of(json_files.begin(), json_files.end(),
                         [](const std::string& f) { return MaySearchStore(f); });
  }

  kiln::core::LogLevel level = kiln::core::LogLevel::kWarn;
  if (log_level_given || std::getenv("KILN_LOG_LEVEL") != nullptr)
    kiln::core::ParseLogLevel(config->log_level, level);
  kiln::core::SetLogLevel(level);

  const auto started = std::chrono::steady_clock::now();
  kiln::store::sqlite::SqliteOptions store_options;
  store_options.data_dir = config->data_dir;
  store_options.synchronous = config->sync == "full" ? kiln::store::sqlite::Synchronous::kFull
                                                     : kiln::store::sqlite::Synchronous::kNormal;
  // Bigger groups than a server's: an import has no request latency to protect, and each
  // commit then dirties each index page once for more rows.
  store_options.max_group_writes = group_writes;
  store_options.reader_connections = 2;  // conditional references and ifNoneExist only
  // Index rows land all over the value indexes: a large writer cache keeps their pages in memory
  // between groups instead of rereading them (allocated as used; readers hardly use theirs).
  store_options.cache_kib = int64_t{cache_mib} * 1024;
  store_options.defer_value_indexes = defer;
  auto store = kiln::store::sqlite::OpenSqliteStore(store_options);
  if (!store.ok()) {
    const kiln::Status& s = store.status();
    std::string hint;
    if (s.message().find("in use by another Kiln store") != std::string::npos)
      hint = "; stop the Kiln server that uses it first (kiln import writes to the database "
             "directly, with the server's guarantees, and cannot share it)";
    std::fprintf(stderr, "kiln import: cannot open the data directory %s: %s%s\n",
                 config->data_dir.c_str(), s.message().c_str(), hint.c_str());
    return 1;
  }
  // A new store records which index rules its rows follow (as kiln serve does at start-up);
  // an older one whose rows need a rebuild keeps that need: kiln serve does it afterwards.
  auto plan = kiln::server::PlanReindex(**store, false);
  if (!plan.ok()) {
    std::fprintf(stderr, "kiln import: %s\n", plan.status().message().c_str());
    (*store)->Close();
    return 1;
  }
  if (plan->needed) {
    std::fprintf(stderr,
                 "kiln import: note: the store's search index needs a rebuild (%s); kiln serve "
                 "does it in the background at start-up, or run kiln reindex\n",
                 plan->reason.c_str());
  }
  kiln::validation::WarmUp();

  kiln::importer::ImportOptions options;
  options.rest.base_url = kiln::server::EffectiveBaseUrl(*config, config->port);
  options.rest.conditional_delete_max = config->conditional_delete_max;
  options.rest.max_bundle_entries = 10000000;  // a file is not a request: no size limit
  options.rest.software_version = KILN_VERSION;
  options.rest.validation.warn_only = config->validation == "warn-only";
  options.rest.validation.options.check_narrative = config->validate_narrative;
  options.rest.validation.enabled = config->validation != "off";
  unsigned cores = std::thread::hardware_concurrency();
  options.workers = workers > 0 ? workers : static_cast<int>(cores > 0 ? cores : 2);
  options.stop_on_error = stop_on_error;
  // Enough queued to fill several groups while the workers prepare the next ones.
  options.max_in_flight = std::max<int64_t>(8000, 2LL * group_writes);
  options.tenant = tenant;

  if (!quiet) {
    std::fprintf(stderr, "kiln import: %zu file%s (%s) into %s\n", files.size(),
                 files.size() == 1 ? "" : "s", kiln::importer::FormatBytes(total_bytes).c_str(),
                 config->data_dir.c_str());
  }

  kiln::importer::Importer importer(**store, options);
  // Progress: refreshed in place every second on a terminal, a line every 5 s otherwise.
  const bool tty = isatty(STDERR_FILENO) != 0;
  std::mutex progress_mu;
  std::condition_variable progress_cv;
  bool finished = false;
  auto sample = [&] {
    kiln::importer::ImportCounts c = importer.Counts();
    kiln::importer::ProgressSample s;
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    s.stored = c.stored;
    s.failed = c.failed;
    s.bytes_read = c.bytes_read;
    s.bytes_total = total_bytes;
    return s;
  };
  kiln::importer::ProgressMeter meter;
  std::thread progress;
  if (!quiet) {
    progress = std::thread([&] {
      const auto interval = std::chrono::milliseconds(tty ? 1000 : 5000);
      std::unique_lock lock(progress_mu);
      while (!progress_cv.wait_for(lock, interval, [&] { return finished; })) {
        std::string line = meter.Line(sample());
        std::fprintf(stderr, tty ? "\r%s\x1b[K" : "%s\n", line.c_str());
        std::fflush(stderr);
      }
    });
  }
  for (const std::string& f : files) {
    importer.ImportFile(f);
    if (importer.stopped()) break;
  }
  kiln::importer::ImportSummary summary = importer.Finish();
  const double import_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // Close builds deferred indexes and folds the log into the database file: the import is done
  // when it is on disk.
  (*store)->Close();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const kiln::store::sqlite::DeferredIndexBuild index_build =
      static_cast<kiln::store::sqlite::SqliteStore&>(**store).deferred_index_build();
  if (progress.joinable()) {
    {
      std::lock_guard lock(progress_mu);
      finished = true;
    }
    progress_cv.notify_all();
    progress.join();
    if (tty) std::fputs("\r\x1b[K", stderr);
  }

  const int64_t failed = static_cast<int64_t>(summary.failures.size());
  std::printf("Imported %s resources in %.1f s (%s resources/s); %s failed.\n",
              FormatCount(summary.stored).c_str(), seconds,
              FormatCount(static_cast<int64_t>(seconds > 0 ? summary.stored / seconds : 0)).c_str(),
              FormatCount(failed).c_str());
  if (defer) {
    std::printf("  (all committed after %.1f s; building the search value indexes took %.1f s, "
                "folding the log into the database file %.1f s)\n",
                import_seconds, index_build.seconds,
                seconds - import_seconds - index_build.seconds);
  } else {
    std::printf(
        "  (all committed after %.1f s; folding the log into the database file took %.1f s)\n",
        import_seconds, seconds - import_seconds);
  }
  for (const auto& [type, c] : summary.by_type) {
    std::string detail = FormatCount(c.created) + " created, " + FormatCount(c.updated) +
                         " updated";
    if (c.deleted > 0) detail += ", " + FormatCount(c.deleted) + " deleted";
    std::printf("  %-28s %12s  (%s)\n", type.c_str(),
                FormatCount(c.created + c.updated + c.deleted).c_str(), detail.c_str());
  }
  if (summary.skipped_outcomes > 0) {
    std::printf("Skipped %s searchset entries with search.mode outcome (OperationOutcomes about "
                "the search, not data).\n",
                FormatCount(summary.skipped_outcomes).c_str());
  }
  if (summary.stored_with_warnings > 0) {
    std::printf("Stored %s resources that fail validation (--validation warn-only); the first "
                "ones:\n",
                FormatCount(summary.stored_with_warnings).c_str());
    for (const auto& w : summary.warning_examples) PrintFailure(w);
  }
  if (failed > 0) {
    std::printf("Failures (%s):\n", FormatCount(failed).c_str());
    for (const auto& f : summary.failures) PrintFailure(f);
  }
  if (summary.stopped_early) {
    std::printf("Stopped at the first failure (--stop-on-error): nothing after it was "
                "imported.\n");
  }
  if (!index_build.status.ok()) {
    // Everything above is stored; only the indexes are missing, and they stay recorded.
    std::printf("Building the search value indexes failed: %s. The resources are stored; the next "
                "kiln serve (or kiln import --defer-indexes off) builds the indexes before it "
                "opens the store.\n",
                index_build.status.message().c_str());
  }
  std::fflush(stdout);
  return failed > 0 || !index_build.status.ok() ? 1 : 0;
}

// kiln fhirpath EXPRESSION FILE.json: for users debugging search parameters and invariants.
int FhirPath(const std::vector<std::string>& args) {
  if (args.size() != 2) {
    std::fputs("Usage: kiln fhirpath EXPRESSION FILE.json   (FILE '-' reads stdin)\n", stderr);
    return 2;
  }
  std::stringstream text;
  if (args[1] == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(args[1]);
    if (!in) {
      std::fprintf(stderr, "kiln fhirpath: cannot read %s\n", args[1].c_str());
      return 1;
    }
    text << in.rdbuf();
  }
  auto result = kiln::fhirpath::EvaluateToTypedJson(args[0], text.str());
  if (!result.ok()) {
    std::fprintf(stderr, "kiln fhirpath: %s\n", result.status().message().c_str());
    return 1;
  }
  std::printf("%s\n", result->c_str());
  return 0;
}

}  // namespace

namespace {

const char* kAuditUsage =
    "Usage: kiln audit verify FILE...\n\n"
    "Checks that the audit log lines in FILE... (one chain: rotated files oldest first, then\n"
    "the active file, e.g. `kiln audit verify audit.log.* audit.log`) are unchanged: each line's\n"
    "prev is the SHA-256 of the line before it, and seq counts up by one. Prints the number of\n"
    "lines and the head hash. Exit status 0: intact; 1: broken (the first bad line is named);\n"
    "2: usage error or unreadable file.\n";

// kiln audit verify FILE...: the tamper check of the audit log's hash chain.
int Audit(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kAuditUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] != "verify" || args.size() < 2) {
    std::fprintf(stderr, "kiln audit: expected 'verify FILE...'\n\n%s", kAuditUsage);
    return 2;
  }
  std::vector<std::string> files(args.begin() + 1, args.end());
  for (const std::string& f : files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      std::fprintf(stderr, "kiln audit verify: %s is not a readable file\n", f.c_str());
      return 2;
    }
  }
  kiln::audit::VerifyReport report = kiln::audit::VerifyChain(files);
  if (!report.ok) {
    std::printf("FAILED: %s\n", report.error.c_str());
    return 1;
  }
  std::printf("OK: %llu lines, seq %llu..%llu%s\nhead %s\n",
              static_cast<unsigned long long>(report.lines),
              static_cast<unsigned long long>(report.first_seq),
              static_cast<unsigned long long>(report.last_seq),
              report.first_seq == 1 ? " (from the start of the chain)"
                                    : " (the chain's earlier lines were not given)",
              report.head.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "version" || args[0] == "--version") {
    std::printf("kiln %s (FHIR R4 4.0.1)\n", KILN_VERSION);
    return 0;
  }
  if (args[0] == "serve") return Serve({args.begin() + 1, args.end()});
  if (args[0] == "fhirpath") return FhirPath({args.begin() + 1, args.end()});
  if (args[0] == "reindex") return Reindex({args.begin() + 1, args.end()});
  if (args[0] == "import") return Import({args.begin() + 1, args.end()});
  if (args[0] == "audit") return Audit({args.begin() + 1, args.end()});
  std::fprintf(stderr, "kiln: unknown command '%s'\n\n%s", args[0].c_str(), kUsage);
  return 2;
}
