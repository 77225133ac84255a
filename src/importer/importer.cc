#include "importer/importer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <utility>

#include "core/ids.h"
#include "fhir/definitions.h"
#include "fhir/resource_json.h"
#include "importer/source.h"
#include "rest/bundle.h"
#include "rest/json_scan.h"
#include "rest/negotiation.h"
#include "rest/validate.h"
#include "rest/write_ops.h"

namespace kiln::importer {

// One resource to store: where it came from, and what preparing and writing it gave.
struct Importer::Item {
  int64_t line = 0;
  int64_t entry = -1;
  std::string_view text;  // points into Batch::owner
  Status status;          // a failure before the write, then the write's own result
  bool has_id = false;    // stored as PUT Type/id (update-as-create); else POST Type
  std::string type;
  std::string id;
  rest::WriteState state;
};

// A unit of work: resources of one file, prepared by one worker, submitted in turn.
struct Importer::Batch {
  uint64_t seq = 0;
  size_t file_index = 0;
  std::string file;
  std::shared_ptr<const std::string> owner;  // the text the items point into
  std::vector<Item> items;
  size_t submitted = 0;              // items handed to the store (stop-on-error may cut)
  std::atomic<size_t> pending{0};    // submitted items whose write has not finished
};

namespace {

bool IsError(const Issue& issue) {
  return issue.severity == Severity::kError || issue.severity == Severity::kFatal;
}

// Parse, check and index one resource: the steps `PUT /Type/id` and `POST /Type` take before
// their write (rest/service.cc), without the URL. The type and id checks are the router's.
Status PrepareOne(std::string_view text, const rest::ValidationPolicy& policy, std::string& type,
                  std::string& id, bool& has_id, rest::WriteState& state) {
  auto prepared = fhir::PrepareResource(text);
  if (!prepared.ok()) return prepared.take_status();
  if (!fhir::IsResourceType(prepared->resource_type))
    return Status(ErrorCode::kInvalid, "invalid",
                  "Unknown resource type '" + prepared->resource_type + "'", "resourceType");
  type = prepared->resource_type;
  has_id = prepared->has_id;
  if (has_id && !core::IsValidId(prepared->id))
    return Status(ErrorCode::kInvalid, "invalid",
                  "Invalid resource id '" + prepared->id +
                      "': an id is 1-64 characters of A-Z, a-z, 0-9, '-' and '.'",
                  type + ".id");
  if (Status s = rest::CheckWrite(text, policy, state.warnings); !s.ok()) return s;
  id = has_id ? prepared->id : core::NewResourceId();
  state.resource = std::move(prepared).value();
  auto index = rest::IndexFor(state.resource, id);
  if (!index.ok()) return index.take_status();
  state.index = std::move(index).value();
  return Status::Ok();
}

Failure FailureOf(const std::string& file, int64_t line, int64_t entry, const Status& status) {
  return Failure{file, line, entry, ReasonText(status)};
}

// "Bundle.entry[12].resource..." -> 12, or -1.
int64_t EntryIndexOf(const Status& status) {
  for (const Issue& issue : status.issues()) {
    std::string_view e = issue.expression;
    if (!e.starts_with("Bundle.entry[")) continue;
    e.remove_prefix(13);
    int64_t n = -1;
    auto [p, ec] = std::from_chars(e.data(), e.data() + e.size(), n);
    if (ec == std::errc() && p < e.data() + e.size() && *p == ']') return n;
  }
  return -1;
}

// The issues of an OperationOutcome JSON (a batch-response entry's outcome) as text.
std::string OutcomeText(std::string_view outcome) {
  std::vector<Issue> issues;
  if (auto members = rest::MembersOf(outcome)) {
    if (auto list = rest::ElementsOf(rest::Member(*members, "issue"))) {
      for (std::string_view raw : *list) {
        auto issue = rest::MembersOf(raw);
        if (!issue) continue;
        Issue i;
        i.diagnostics = rest::StringOf(rest::Member(*issue, "diagnostics")).value_or("");
        if (auto expr = rest::ElementsOf(rest::Member(*issue, "expression")); expr && !expr->empty())
          i.expression = rest::StringOf(expr->front()).value_or("");
        issues.push_back(std::move(i));
      }
    }
  }
  if (issues.empty()) return "(no OperationOutcome)";
  return ReasonText(Status(ErrorCode::kInvalid, std::move(issues)));
}

}  // namespace

std::string ReasonText(const Status& status) {
  bool any_error = false;
  for (const Issue& issue : status.issues()) any_error |= IsError(issue);
  std::string out;
  for (const Issue& issue : status.issues()) {
    if (any_error && !IsError(issue)) continue;
    if (!out.empty()) out += "; ";
    // Validation issues name their element only in the expression.
    if (!issue.expression.empty() &&
        issue.diagnostics.find(issue.expression) == std::string::npos) {
      out += issue.expression + ": ";
    }
    out += issue.diagnostics;
  }
  return out.empty() ? std::string("(no detail)") : out;
}

Importer::Importer(Store& store, ImportOptions options)
    : store_(store), options_(std::move(options)) {
  workers_ = std::make_unique<core::ThreadPool>(std::max(1, options_.workers));
}

Importer::~Importer() {
  if (workers_) Finish();
}

ImportCounts Importer::Counts() const {
  return ImportCounts{stored_.load(), failed_.load(), bytes_done_.load() + bytes_current_.load()};
}

void Importer::ImportFile(const std::string& path) {
  if (stop_) return;
  {
    std::lock_guard lock(mu_);
    files_.push_back(path);
  }
  // Which kind of file: by name, or by its first bytes.
  std::string head;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      AddFailure(Failure{path, 0, -1, "cannot open the file: " + std::string(std::strerror(errno))});
      return;
    }
    head.resize(64 * 1024);
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    AddFailure(Failure{path, 0, -1, "is a directory, not a file"});
    return;
  }
  if (DetectKind(path, head) == FileKind::kNdjson) {
    ImportNdjson(path);
  } else {
    ImportDocument(path);
  }
  bytes_done_ += bytes_current_.exchange(0);
}

void Importer::ImportNdjson(const std::string& path) {
  auto reader = NdjsonReader::Open(path);
  if (!reader.ok()) {
    AddFailure(Failure{path, 0, -1, reader.status().message()});
    return;
  }
  LineBatch lines;
  while (!stop_) {
    Result<bool> more = (*reader)->Next(lines, options_.batch_bytes);
    if (!more.ok()) {
      AddFailure(Failure{path, 0, -1, more.status().message()});
      return;
    }
    bytes_current_ = (*reader)->bytes_read();
    if (!*more) return;
    if (lines.lines.empty()) continue;
    auto batch = std::make_shared<Batch>();
    batch->file = path;
    batch->owner = std::move(lines.text);
    batch->items.resize(lines.lines.size());
    for (size_t i = 0; i < lines.lines.size(); ++i) {
      batch->items[i].line = lines.lines[i].number;
      batch->items[i].text = lines.lines[i].text;
    }
    Dispatch(std::move(batch));
  }
}

void Importer::ImportDocument(const std::string& path) {
  auto read = ReadWholeFile(path);
  if (!read.ok()) {
    AddFailure(Failure{path, 0, -1, read.status().message()});
    return;
  }
  auto text = std::make_shared<const std::string>(std::move(read).value());
  bytes_current_ = static_cast<int64_t>(text->size());
  auto members = rest::MembersOf(*text);
  if (!members) {
    AddFailure(Failure{path, 0, -1,
                       "the file is not one JSON object (not valid JSON, or several values: "
                       "name a file of one resource per line .ndjson)"});
    return;
  }
  auto single = [&] {
    auto batch = std::make_shared<Batch>();
    batch->file = path;
    batch->owner = text;
    batch->items.resize(1);
    batch->items[0].text = *text;
    Dispatch(std::move(batch));
  };
  if (rest::StringOf(rest::Member(*members, "resourceType")) != "Bundle") return single();
  std::string type = rest::StringOf(rest::Member(*members, "type")).value_or("");
  std::vector<std::string_view> entries;
  if (std::string_view raw = rest::Member(*members, "entry"); !raw.empty()) {
    auto elements = rest::ElementsOfChecked(raw);  // its values were checked by MembersOf
    if (!elements) {
      AddFailure(Failure{path, 0, -1, "Bundle.entry is not an array"});
      return;
    }
    entries = std::move(*elements);
  }
  if (type == "transaction" || type == "batch")
    return ImportExecutedBundle(path, text, entries.size());
  // A document or a message is one resource (R4 stores them as Bundles).
  if (type == "document" || type == "message") return single();
  if (type != "collection" && type != "searchset") {
    AddFailure(Failure{path, 0, -1,
                       "a Bundle of type '" + type +
                           "' cannot be imported (transaction, batch, collection, searchset, "
                           "document and message can)"});
    return;
  }
  // Collection and searchset: each entry's resource on its own, in batches.
  std::shared_ptr<Batch> batch;
  size_t batch_bytes = 0;
  for (size_t i = 0; i < entries.size() && !stop_; ++i) {
    auto entry = rest::MembersOf(entries[i]);
    std::string_view resource = entry ? rest::Member(*entry, "resource") : std::string_view();
    if (entry) {
      auto search = rest::MembersOf(rest::Member(*entry, "search"));
      if (search && rest::StringOf(rest::Member(*search, "mode")) == "outcome") {
        std::lock_guard lock(mu_);
        ++summary_.skipped_outcomes;
        continue;
      }
    }
    if (!entry || resource.empty()) {
      // Reported in file order like the others: a batch item that fails before the write.
      if (!batch) {
        batch = std::make_shared<Batch>();
        batch->file = path;
        batch->owner = text;
      }
      Item item;
      item.entry = static_cast<int64_t>(i);
      item.status = Status(ErrorCode::kInvalid, "required",
                           entry ? "The entry has no resource" : "The entry is not a JSON object",
                           "Bundle.entry[" + std::to_string(i) + "]");
      batch->items.push_back(std::move(item));
      continue;
    }
    if (!batch) {
      batch = std::make_shared<Batch>();
      batch->file = path;
      batch->owner = text;
    }
    Item item;
    item.entry = static_cast<int64_t>(i);
    item.text = resource;
    batch->items.push_back(std::move(item));
    batch_bytes += resource.size();
    if (batch_bytes >= options_.batch_bytes) {
      Dispatch(std::move(batch));
      batch.reset();
      batch_bytes = 0;
    }
  }
  if (batch && !stop_) Dispatch(std::move(batch));
}

void Importer::ImportExecutedBundle(const std::string& path,
                                    std::shared_ptr<const std::string> text, size_t entries) {
  // The executor queues its writes from this thread: everything read before must be queued
  // first, so files keep their order.
  WaitSubmitted();
  const int64_t weight = std::max<int64_t>(1, static_cast<int64_t>(entries));
  WaitForRoom(weight);
  {
    std::lock_guard lock(mu_);
    ++bundles_pending_;
  }
  size_t file_index = 0;
  {
    std::lock_guard lock(mu_);
    file_index = files_.size() - 1;
  }
  // return=minimal: the response carries statuses and locations, not the resources again. No
  // access control (no authorizer): import is an operator's tool on a stopped server's data.
  rest::Access access;
  access.tenant = options_.tenant;
  rest::ProcessBundle(
      std::string(*text), rest::ReturnPreference::kMinimal, "import", access,
      rest::LinkBase{options_.rest.base_url, {}}, options_.rest, store_, *workers_,
      [this, path, text, weight, file_index](Result<std::string> response) {
        std::vector<std::pair<std::string, int>> written;  // type, status
        std::vector<Failure> failures;
        if (!response.ok()) {
          // A transaction fails as a whole; the Status names the entry.
          const Status& s = response.status();
          int64_t entry = EntryIndexOf(s);
          failures.push_back(Failure{path, 0, entry,
                                     ReasonText(s) + " (the transaction was rolled back: none "
                                                     "of its entries were stored)"});
        } else {
          // Per entry: the request (for the type of a DELETE) and the response. Both texts are
          // well formed (the file was checked by ImportDocument, the response is Kiln's own):
          // they are only split here, not checked again (on Synthea's Bundles the strict scans
          // of this callback were a twentieth of the import's CPU).
          std::vector<std::string_view> requests, answers;
          if (auto m = rest::MembersOfChecked(*text))
            requests = rest::ElementsOfChecked(rest::Member(*m, "entry")).value_or(requests);
          if (auto m = rest::MembersOfChecked(*response))
            answers = rest::ElementsOfChecked(rest::Member(*m, "entry")).value_or(answers);
          for (size_t i = 0; i < answers.size(); ++i) {
            std::string method, url;
            if (i < requests.size()) {
              if (auto e = rest::MembersOfChecked(requests[i])) {
                if (auto r = rest::MembersOfChecked(rest::Member(*e, "request"))) {
                  method = rest::StringOf(rest::Member(*r, "method")).value_or("");
                  url = rest::StringOf(rest::Member(*r, "url")).value_or("");
                }
              }
            }
            auto a = rest::MembersOfChecked(answers[i]);
            auto r = a ? rest::MembersOfChecked(rest::Member(*a, "response")) : std::nullopt;
            std::string status_text =
                r ? rest::StringOf(rest::Member(*r, "status")).value_or("") : "";
            int code = std::atoi(status_text.c_str());
            if (code >= 400 || code == 0) {
              failures.push_back(Failure{path, 0, static_cast<int64_t>(i),
                                         status_text + ": " +
                                             OutcomeText(r ? rest::Member(*r, "outcome") : "")});
              continue;
            }
            if (method == "GET" || method == "HEAD") continue;
            // The written type: from the location, else from the request url.
            std::string type;
            std::string location = r ? rest::StringOf(rest::Member(*r, "location")).value_or("")
                                     : std::string();
            std::string_view rest_of = location;
            if (rest_of.starts_with(options_.rest.base_url + "/"))
              rest_of.remove_prefix(options_.rest.base_url.size() + 1);
            else
              rest_of = url;
            type = std::string(rest_of.substr(0, rest_of.find_first_of("/?")));
            int kind = method == "DELETE" ? 2 : code == 201 ? 0 : 1;
            if (method == "POST" && code == 200) kind = 3;  // ifNoneExist found it: no write
            written.emplace_back(type, kind);
          }
        }
        {
          std::lock_guard lock(mu_);
          for (const auto& [type, kind] : written) {
            TypeCounts& c = summary_.by_type[type];
            if (kind == 0) ++c.created;
            if (kind == 1) ++c.updated;
            if (kind == 2) ++c.deleted;
            if (kind != 3) {
              ++summary_.stored;
              ++stored_;
            }
          }
          for (Failure& f : failures) {
            failures_.emplace_back(file_index, std::move(f));
            ++failed_;
          }
          if (!failures.empty() && options_.stop_on_error) {
            stop_ = true;
            summary_.stopped_early = true;
          }
          --bundles_pending_;
          in_flight_ -= weight;
        }
        cv_.notify_all();
      });
}

void Importer::WaitForRoom(int64_t resources) {
  std::unique_lock lock(mu_);
  // A batch larger than the limit still goes in alone.
  cv_.wait(lock, [&] { return in_flight_ == 0 || in_flight_ + resources <= options_.max_in_flight; });
  in_flight_ += resources;
}

void Importer::Release(int64_t resources) {
  {
    std::lock_guard lock(mu_);
    in_flight_ -= resources;
  }
  cv_.notify_all();
}

void Importer::WaitSubmitted() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return next_submit_ == next_seq_; });
}

void Importer::Dispatch(std::shared_ptr<Batch> batch) {
  WaitForRoom(static_cast<int64_t>(batch->items.size()));
  {
    std::lock_guard lock(mu_);
    batch->seq = next_seq_++;
    batch->file_index = files_.size() - 1;
  }
  workers_->Post([this, batch] {
    Prepare(*batch);
    std::lock_guard lock(mu_);
    prepared_.emplace(batch->seq, batch);
    SubmitReady();
  });
}

void Importer::Prepare(Batch& batch) {
  const rest::ValidationPolicy& policy = options_.rest.validation;
  for (Item& item : batch.items) {
    if (!item.status.ok()) continue;  // failed while splitting the file
    item.status = PrepareOne(item.text, policy, item.type, item.id, item.has_id, item.state);
  }
}

void Importer::SubmitReady() {
  for (auto it = prepared_.find(next_submit_); it != prepared_.end();
       it = prepared_.find(next_submit_)) {
    std::shared_ptr<Batch> batch = std::move(it->second);
    prepared_.erase(it);
    ++next_submit_;
    Submit(batch);
  }
  cv_.notify_all();
}

// With mu_ held: Store::Write only queues, and the completions below never take mu_ on the
// calling thread, so the writes of consecutive batches are queued strictly in file order.
void Importer::Submit(const std::shared_ptr<Batch>& batch) {
  std::vector<Item>& items = batch->items;
  size_t n = items.size();
  if (stop_) n = 0;  // after the first failure with --stop-on-error: nothing more is stored
  for (size_t i = 0; i < n; ++i) {
    if (!items[i].status.ok() && options_.stop_on_error) {
      n = i + 1;  // report this one; nothing after it
      stop_ = true;
      summary_.stopped_early = true;
    }
  }
  batch->submitted = n;
  size_t writes = 0;
  for (size_t i = 0; i < n; ++i) writes += items[i].status.ok() ? 1 : 0;
  batch->pending = writes + 1;  // +1: released below, once every write is queued
  for (size_t i = 0; i < n; ++i) {
    Item& item = items[i];
    if (!item.status.ok()) continue;
    // Rerunnable: the closure only sets item.state from what it reads in the transaction.
    store_.WriteRerunnable(
        [&item, &tenant = options_.tenant](StoreTxn& txn) -> Status {
          if (item.has_id)
            return rest::AppendUpdate(txn, item.state, ResourceKey{tenant, item.type, item.id},
                                      std::nullopt);
          return rest::AppendCreate(txn, item.state, ResourceKey{tenant, item.type, item.id});
        },
        [this, batch, &item](Status s) {
          item.status = std::move(s);
          // Summing up (and freeing the batch) is not for the writer's or log syncer's thread.
          if (batch->pending.fetch_sub(1) == 1) workers_->Post([this, batch] { BatchDone(*batch); });
        });
  }
  if (batch->pending.fetch_sub(1) == 1) workers_->Post([this, batch] { BatchDone(*batch); });
}

void Importer::BatchDone(Batch& batch) {
  int64_t ok = 0;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < batch.submitted; ++i) {
      Item& item = batch.items[i];
      if (!item.status.ok()) {
        failures_.emplace_back(batch.file_index,
                               FailureOf(batch.file, item.line, item.entry, item.status));
        ++failed_;
        if (options_.stop_on_error) {
          stop_ = true;
          summary_.stopped_early = true;
        }
        continue;
      }
      ++ok;
      TypeCounts& c = summary_.by_type[item.type];
      if (item.state.created) {
        ++c.created;
      } else {
        ++c.updated;
      }
      if (!item.state.warnings.empty()) {
        ++summary_.stored_with_warnings;
        if (summary_.warning_examples.size() < 10) {
          summary_.warning_examples.push_back(FailureOf(
              batch.file, item.line, item.entry, Status(ErrorCode::kInvalid, item.state.warnings)));
        }
      }
    }
    summary_.stored += ok;
    in_flight_ -= static_cast<int64_t>(batch.items.size());
  }
  stored_ += ok;
  cv_.notify_all();
}

void Importer::AddFailure(Failure failure) {
  {
    std::lock_guard lock(mu_);
    size_t file_index = files_.empty() ? 0 : files_.size() - 1;
    failures_.emplace_back(file_index, std::move(failure));
    if (options_.stop_on_error) {
      stop_ = true;
      summary_.stopped_early = true;
    }
  }
  ++failed_;
}

ImportSummary Importer::Finish() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ == 0 && bundles_pending_ == 0; });
  }
  workers_->Shutdown();
  workers_.reset();
  std::lock_guard lock(mu_);
  // File order, then line / entry order within a file.
  std::stable_sort(failures_.begin(), failures_.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    if (a.second.line != b.second.line) return a.second.line < b.second.line;
    return a.second.entry < b.second.entry;
  });
  summary_.failures.clear();
  for (auto& [index, f] : failures_) summary_.failures.push_back(std::move(f));
  failures_.clear();
  return std::move(summary_);
}

}  // namespace kiln::importer
